import type { Record, RecordMetadata } from './record.js'
import type { StateStore } from './state-store.js'

/** A handle that stops a scheduled punctuation. */
export interface Cancellable {
  cancel(): void
}

/**
 * - `stream-time`: fires when stream time (the largest record timestamp the task has seen) passes
 *   each interval boundary; it does not fire while no records arrive.
 * - `wall-clock`: fires by the system clock (or the test driver's clock), records or not.
 */
export type PunctuationType = 'stream-time' | 'wall-clock'

export type Punctuator = (timestamp: number) => void | Promise<void>

/** What a processor can do besides receive records. One context per processor per task. */
export interface ProcessorContext<KOut = never, VOut = never> {
  readonly applicationId: string
  /** `<subtopology>_<partition>`, e.g. `0_3`. */
  readonly taskId: string
  /** The largest record timestamp this task has seen, or -1 before the first record. */
  readonly streamTime: number
  /** Where the record being processed came from; undefined inside a punctuation. */
  readonly recordMetadata: RecordMetadata | undefined
  /** Names of this processor's children, in the order they were added. */
  readonly children: readonly string[]
  /** Sends a record to every child of this processor. */
  forward(record: Record<KOut, VOut>): void
  /** Sends a record to one named child. Throws a TopologyError when `child` is not a child. */
  forwardTo(child: string, record: Record<KOut, VOut>): void
  /**
   * A store attached to this processor. Throws a TopologyError naming the processor when it is
   * not attached.
   *
   * @example const counts = context.getStore<KeyValueStore<string, number>>('counts')
   */
  getStore<S extends StateStore = StateStore>(name: string): S
  /** Calls `punctuator` every `intervalMs` of stream time or wall-clock time. */
  schedule(intervalMs: number, type: PunctuationType, punctuator: Punctuator): Cancellable
  /** The wall clock (the test driver's clock under test). */
  currentSystemTimeMs(): number
}

/**
 * Receives records one at a time and forwards results. `process` may return a Promise: the
 * record counts as done (for commits) only when it and everything it forwarded have settled.
 *
 * Members are properties, not methods, so that TypeScript checks record types strictly when a
 * processor is wired to a parent.
 *
 * @example
 * const upper: Processor<string, string, string, string> = {
 *   init(context) { this.context = context },
 *   process: (record) => context.forward({ ...record, value: record.value.toUpperCase() }),
 * }
 */
export interface Processor<KIn, VIn, KOut = never, VOut = never> {
  init?: (context: ProcessorContext<KOut, VOut>) => void | Promise<void>
  process: (record: Record<KIn, VIn>) => void | Promise<void>
  close?: () => void | Promise<void>
}

/** Creates a fresh processor; each task gets its own instance. */
export type ProcessorSupplier<KIn, VIn, KOut = never, VOut = never> = () => Processor<KIn, VIn, KOut, VOut>
