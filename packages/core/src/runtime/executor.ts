// Runs what the input scheduler hands out, each in its own scope: an input record (deserialize,
// deliver through the processors, serialize at sinks, apply the error policies), a punctuation,
// or a store flush. It owns the task's processor instances and their contexts, which read the
// scope they are called in, never a task-wide "current record". A processor call that does not
// settle within `processingTimeoutMs` is a processing error (KSTREAMS_TIMEOUT).
import { AsyncResource } from 'node:async_hooks'
import { NO_RETRY } from '../batch-processor.js'
import { channels } from '../diagnostics.js'
import {
  isFencedError,
  KStreamsError,
  ProcessingError,
  RetryExhaustedError,
  SerdeError,
  TimeoutError,
  TopologyError,
} from '../errors.js'
import type { FetchedRecord } from '../kafka/kafka-port.js'
import type { Logger } from '../logger.js'
import type { Cancellable, Processor, ProcessorContext, PunctuationType, Punctuator } from '../processor.js'
import type { Record } from '../record.js'
import type { SerdeContext } from '../serde.js'
import type { StateStore } from '../state-store.js'
import {
  type ProcessorNode,
  type RetryPolicy,
  retryDelay,
  type SinkNode,
  type Subtopology,
  type Topology,
  type TopologyNode,
} from '../topology.js'
import { deadLetterRecord, type ErrorPolicies } from './error-policy.js'
import type { InputScheduler, PreparedRecord, ScheduledRecord } from './input-scheduler.js'
import { ProcessingTimeouts, type TimedWork } from './processing-timeouts.js'
import type { Partitioner, RecordCollector } from './record-collector.js'
import {
  currentScope,
  enterSynchronousScope,
  inAsyncScope,
  leaveSynchronousScope,
  RecordScope,
  runInScope,
  synchronousScope,
} from './record-scope.js'

export interface ExecutorOptions {
  taskId: string
  applicationId: string
  topology: Topology
  subtopology: Subtopology
  scheduler: InputScheduler
  stores: ReadonlyMap<string, StateStore>
  collector: RecordCollector
  errorPolicies: ErrorPolicies
  logger: Logger
  /** The wall clock. */
  now: () => number
  /** 0: no timeout. */
  processingTimeoutMs: number
  /**
   * Called once for each record that `run` reported asynchronous, when it is done: `failed` with
   * what stops the task (the `fail` policy), else its offset counts as completed (unless the scope
   * was given up).
   */
  onRecordSettled: (scheduled: ScheduledRecord, failed: boolean, error: unknown) => void
}

/**
 * One input record whose processing went asynchronous, from the moment `run` returns until it is
 * done: the processing-timeout watch entry and the record's single completion at once, so that an
 * asynchronous record costs one object and one \`then\` per round of pending work, not a chain of
 * promises (scope, policy, timeout, lane, task), each with its closures.
 */
class AsyncRecord implements TimedWork {
  slot = -1
  /** Set once it finished (settled, or expired): a second finish is ignored. */
  finished = false
  readonly scheduled: ScheduledRecord
  readonly scope: RecordScope
  readonly started: number
  readonly #finish: (record: AsyncRecord, failed: boolean, error: unknown) => void

  constructor(
    scheduled: ScheduledRecord,
    started: number,
    finish: (record: AsyncRecord, failed: boolean, error: unknown) => void,
  ) {
    this.scheduled = scheduled
    this.scope = scheduled.scope!
    this.started = started
    this.#finish = finish
  }

  /** The timeout watch's ending: the expired record was handled under its policy. */
  resolve(): void {
    this.#finish(this, false, undefined)
  }

  /** The timeout watch's ending: the policy (`fail`) stops the task with `error`. */
  reject(error: unknown): void {
    this.#finish(this, true, error)
  }
}

interface Schedule {
  node: RuntimeNode
  intervalMs: number
  type: PunctuationType
  punctuator: Punctuator
  next: number
  cancelled: boolean
}

/** A node instantiated for one task. */
interface RuntimeNode {
  definition: TopologyNode
  children: RuntimeNode[]
  childByName: Map<string, RuntimeNode>
  processor: Processor<unknown, unknown, unknown, unknown> | undefined
  /** The processor runs in its record's synchronous scope, without an async context frame. */
  synchronousScoped: boolean
}

function isPromise(value: unknown): value is Promise<unknown> {
  return value !== undefined && value !== null && typeof (value as Promise<unknown>).then === 'function'
}

/** A processor call without a closure (async context frames take the function and its arguments). */
function callProcess(
  processor: Processor<unknown, unknown, unknown, unknown>,
  record: Record<unknown, unknown>,
): void | Promise<void> {
  return processor.process(record)
}

/** True when the processor's continuations need no async context frame (see `synchronousScope`). */
function isSynchronousScoped(processor: Processor<unknown, unknown, unknown, unknown> | undefined): boolean {
  return (processor as { [synchronousScope]?: boolean } | undefined)?.[synchronousScope] === true
}

export class Executor {
  readonly #options: ExecutorOptions
  /** The async context the task's scopes run in: the one it was made in (see `RecordScope.context`). */
  readonly #context: AsyncResource
  readonly #nodes = new Map<string, RuntimeNode>()
  readonly #schedules: Schedule[] = []
  readonly #keyContext: SerdeContext = { topic: '', target: 'key', headers: [] }
  readonly #valueContext: SerdeContext = { topic: '', target: 'value', headers: [] }
  /** Asynchronous work of records forwarded outside any scope, awaited by the next flush. */
  #detached: Promise<void>[] = []
  #closed = false
  readonly #timeouts: ProcessingTimeouts | undefined

  constructor(options: ExecutorOptions) {
    this.#options = options
    this.#context = new AsyncResource('kstreams.task')
    this.#timeouts =
      options.processingTimeoutMs > 0
        ? new ProcessingTimeouts(options.processingTimeoutMs, (work) => this.#expired(work))
        : undefined
  }

  /** Instantiates the processors (fresh ones for this task) and calls their `init`, parents first. */
  async init(): Promise<void> {
    const { topology, subtopology, taskId } = this.#options
    for (const definition of subtopology.nodes) {
      this.#nodes.set(definition.name, {
        definition,
        children: [],
        childByName: new Map(),
        processor: undefined,
        synchronousScoped: false,
      })
    }
    for (const node of this.#nodes.values()) {
      for (const childName of topology.children.get(node.definition.name) ?? []) {
        const child = this.#nodes.get(childName)!
        node.children.push(child)
        node.childByName.set(childName, child)
      }
    }
    for (const node of this.#nodes.values()) {
      if (node.definition.kind !== 'processor') continue
      node.processor = node.definition.supplier()
      node.synchronousScoped = isSynchronousScoped(node.processor)
      const context = this.#createContext(node, node.definition)
      try {
        await node.processor.init?.(context)
      } catch (error) {
        throw new ProcessingError(`processor "${node.definition.name}" failed in init() in task ${taskId}`, {
          cause: error,
          context: { processor: node.definition.name, taskId },
        })
      }
    }
  }

  /**
   * Runs one input record through the graph in a scope of its own, in its lane. Returns true when
   * something was asynchronous: `onRecordSettled` then tells when the record is done. Throws (or
   * settles as failed) only under the `fail` policy.
   */
  run(scheduled: ScheduledRecord): boolean {
    const { fetched, lane } = scheduled
    const scheduler = this.#options.scheduler
    const scope = new RecordScope(
      'record',
      fetched,
      scheduled.prepared?.record?.timestamp ?? fetched.timestamp,
      this.#context,
    )
    scheduled.scope = scope
    lane.enter(scope)
    let asynchronous: boolean
    // The synchronous scope only: processors that need an async context frame open one themselves
    // (#deliver), so a record whose processors are all synchronous-scoped builds none.
    const previous = enterSynchronousScope(scope)
    try {
      asynchronous = this.#process(scope, scheduled.prepared)
    } catch (error) {
      lane.leave()
      throw error
    } finally {
      leaveSynchronousScope(previous)
    }
    if (!asynchronous) {
      scheduler.complete(scheduled)
      lane.leave()
      return false
    }
    // Real time, as the timeout's timer: the options' clock may be a test's fake one.
    const started = Date.now()
    scope.startedAt = started
    const record = new AsyncRecord(scheduled, started, this.#finishRecord)
    this.#timeouts?.track(record)
    this.#awaitPending(record)
    return true
  }

  /**
   * Waits for the record's pending work (and for work that started meanwhile), then applies the
   * processing policy to a failure and finishes the record.
   */
  #awaitPending(record: AsyncRecord): void {
    const scope = record.scope
    const pending = scope.takePending()
    // One pending call (the usual asynchronous processor) needs no Promise.all.
    ;(pending.length === 1 ? pending[0]! : Promise.all(pending)).then(
      () => {
        if (scope.pending.length > 0) this.#awaitPending(record)
        else this.#settled(record, undefined, false)
      },
      (error: unknown) => this.#settled(record, error, true),
    )
  }

  #settled(record: AsyncRecord, error: unknown, rejected: boolean): void {
    if (record.finished) return
    if (rejected) {
      const scope = record.scope
      scope.abandoned = true
      // The first asynchronous processor's failure arrives unwrapped (see #deliver).
      const processor = scope.asyncProcessor
      const failure = processor === undefined ? error : this.#wrapProcessingError(processor, error, scope)
      try {
        this.#applyPolicy('processing', scope, failure)
      } catch (stop) {
        this.#finishRecord(record, true, stop)
        return
      }
    }
    this.#finishRecord(record, false, undefined)
  }

  /**
   * Ends an asynchronous record once (settled, or expired under `processingTimeoutMs`). The record
   * counts as done before the lane is free: a commit's flush that takes the lane next must find it
   * in the commit point, since its store writes are in the cache it flushes.
   */
  readonly #finishRecord = (record: AsyncRecord, failed: boolean, error: unknown): void => {
    if (record.finished) return
    record.finished = true
    this.#timeouts?.untrack(record)
    const { scheduled, scope } = record
    const lane = scheduled.lane
    if (lane.running === scope) {
      if (!failed && !scope.incomplete) this.#options.scheduler.complete(scheduled)
      lane.leave()
    }
    this.#options.onRecordSettled(scheduled, failed, error)
  }

  /**
   * Gives up the records and punctuation running now (they outlived a drain budget): their later
   * forwards, sends and store writes are dropped, and the task is free for a commit's flush. Their
   * offsets stay incomplete.
   */
  abandonRunning(): void {
    const scheduler = this.#options.scheduler
    for (const running of scheduler.runningScopes()) {
      if (running.kind === 'flush') continue
      running.abandoned = true
      running.incomplete = true
      scheduler.leave(running)
    }
  }

  /**
   * Conflation skipped `superseded` (already marked done) for `newer`, a later record of its key:
   * tells the `onSuperseded` hook, if any, and the `kstreams:record:superseded` channel.
   */
  superseded(superseded: ScheduledRecord, newer: ScheduledRecord): void {
    const { fetched } = superseded
    const { taskId, logger } = this.#options
    if (channels.superseded.hasSubscribers) {
      channels.superseded.publish({
        taskId,
        topic: fetched.topic,
        partition: fetched.partition,
        offset: fetched.offset,
        newerOffset: newer.fetched.offset,
      })
    }
    const hook = this.#options.subtopology.concurrency.conflate?.onSuperseded
    if (!hook) return
    const { record, failure } = superseded.prepared ?? this.prepare(fetched)
    const where = `${fetched.topic}[${fetched.partition}]@${fetched.offset}`
    if (!record) {
      logger.warn(
        `conflation skipped the record at ${where}, which cannot be deserialized: ${String((failure?.error as Error | undefined)?.message ?? failure?.error)}`,
      )
      return
    }
    try {
      hook(record, {
        topic: newer.fetched.topic,
        partition: newer.fetched.partition,
        offset: newer.fetched.offset,
      })
    } catch (error) {
      logger.warn(
        `onSuperseded failed for the record at ${where}: ${error instanceof Error ? error.message : String(error)}`,
        {
          topic: fetched.topic,
          partition: fetched.partition,
          offset: fetched.offset,
          taskId,
        },
      )
    }
  }

  /** True when a punctuation of `type` is due at `time`. */
  punctuationDue(type: PunctuationType, time: number): boolean {
    for (const schedule of this.#schedules) {
      if (!schedule.cancelled && schedule.type === type && (schedule.next < 0 || time >= schedule.next))
        return true
    }
    return false
  }

  /**
   * Fires the due punctuations of `type` holding the whole task, in a punctuation scope. Returns
   * false when records run (the task then starts no more until they finished, and the caller
   * tries again), and a Promise only when a punctuator was asynchronous.
   */
  punctuate(type: PunctuationType, time: number): Promise<void> | undefined | false {
    const scheduler = this.#options.scheduler
    const scope = new RecordScope('punctuation', undefined, time, this.#context)
    if (!scheduler.tryAcquire(scope)) return false
    let outcome: Promise<void> | undefined
    try {
      outcome = runInScope(scope, () => this.#punctuate(scope, type, time))
    } catch (error) {
      scheduler.release(scope)
      throw error
    }
    if (outcome === undefined) {
      scheduler.release(scope)
      return undefined
    }
    return this.#bounded(outcome, scope).finally(() => scheduler.release(scope))
  }

  /**
   * Runs `work` (a store flush) holding the whole task (the records running now finish first, and
   * none starts until it is done), in a flush scope: records that flush listeners forward run
   * through the processors as records do, and are awaited.
   */
  async flush(work: () => Promise<void>): Promise<void> {
    const scheduler = this.#options.scheduler
    const scope = new RecordScope('flush', undefined, scheduler.streamTime, this.#context)
    await scheduler.acquire(scope)
    try {
      await runInScope(scope, async () => {
        await work()
        await scope.settle()
      })
      while (this.#detached.length > 0) {
        const detached = this.#detached
        this.#detached = []
        await Promise.all(detached)
      }
    } finally {
      scheduler.release(scope)
    }
  }

  /** Cancels punctuations, gives up scopes still running, and closes the processors. */
  async close(): Promise<unknown[]> {
    this.#closed = true
    for (const schedule of this.#schedules) schedule.cancelled = true
    for (const running of this.#options.scheduler.runningScopes()) running.abandoned = true
    this.#timeouts?.close()
    const failures: unknown[] = []
    for (const node of this.#nodes.values()) {
      try {
        await node.processor?.close?.()
      } catch (error) {
        failures.push(error)
      }
    }
    return failures
  }

  /**
   * Bounds a record's or punctuation's asynchronous work by `processingTimeoutMs`: one sweep timer
   * per task watches all of them (a timer and a race per record cost more than the record).
   */
  #bounded(outcome: Promise<void>, scope: RecordScope): Promise<void> {
    const timeouts = this.#timeouts
    if (timeouts === undefined) return outcome
    return new Promise<void>((resolve, reject) => {
      // Real time, as the timer's: the options' clock may be a test's fake one.
      const work: TimedWork = { scope, started: Date.now(), resolve, reject, slot: -1 }
      timeouts.track(work)
      outcome.then(
        () => {
          if (timeouts.untrack(work)) resolve()
        },
        (error: unknown) => {
          if (timeouts.untrack(work)) reject(error)
        },
      )
    })
  }

  /** Work that outlived `processingTimeoutMs`: a processing error under the record's policy. */
  #expired(work: TimedWork): void {
    const scope = work.scope
    const timeoutMs = this.#options.processingTimeoutMs
    scope.abandoned = true
    const error = new TimeoutError(
      `processing ${scope.describe()} in task ${this.#options.taskId} did not finish within processingTimeoutMs (${timeoutMs} ms)`,
      { context: { taskId: this.#options.taskId, ...scope.metadata, option: 'processingTimeoutMs' } },
    )
    if (!scope.fetched) {
      work.reject(error)
      return
    }
    try {
      this.#applyPolicy('processing', scope, error)
      work.resolve()
    } catch (failure) {
      work.reject(failure)
    }
  }

  #process(scope: RecordScope, prepared: PreparedRecord | undefined): boolean {
    const fetched = scope.fetched!
    const source = this.#options.topology.sourceByTopic.get(fetched.topic)!
    const { record, failure } = prepared ?? this.prepare(fetched)
    if (failure) {
      this.#applyPolicy(failure.stage, scope, failure.error)
      return false
    }
    if (record === undefined) return false
    scope.timestamp = record.timestamp
    this.#options.scheduler.observe(record.timestamp)
    const node = this.#nodes.get(source.name)!
    try {
      for (const child of node.children) this.#deliver(child, record, scope)
    } catch (error) {
      // Work already started for this record is abandoned; keep its late failures from going unhandled.
      for (const promise of scope.pending) promise.catch(() => {})
      scope.pending = []
      scope.abandoned = true
      this.#applyPolicy('processing', scope, error)
      return false
    }
    return scope.pending.length > 0
  }

  /**
   * Deserializes an input record and extracts its timestamp; a failure is handed back, for the
   * deserialization policy to apply when the record runs. (The input scheduler calls it to find a
   * record's ordering key; the record then runs without being deserialized again.)
   */
  prepare(fetched: FetchedRecord): PreparedRecord {
    const source = this.#options.topology.sourceByTopic.get(fetched.topic)!
    const keyContext = this.#keyContext
    const valueContext = this.#valueContext
    keyContext.topic = valueContext.topic = fetched.topic
    keyContext.headers = valueContext.headers = fetched.headers
    let key: unknown = null
    let value: unknown = null
    let target: 'key' | 'value' = 'key'
    try {
      if (fetched.key !== null) key = source.keySerde.deserialize(fetched.key, keyContext)
      target = 'value'
      if (fetched.value !== null) value = source.valueSerde.deserialize(fetched.value, valueContext)
    } catch (cause) {
      const error = new SerdeError(
        `cannot deserialize the ${target} of the record at ${fetched.topic}[${fetched.partition}]@${fetched.offset}: ${cause instanceof Error ? cause.message : String(cause)}`,
        {
          cause,
          context: {
            topic: fetched.topic,
            partition: fetched.partition,
            offset: fetched.offset,
            target,
            taskId: this.#options.taskId,
          },
        },
      )
      return { record: undefined, failure: { stage: 'deserialization', error } }
    }
    const record: Record<unknown, unknown> = {
      key,
      value,
      timestamp: fetched.timestamp,
      headers: fetched.headers,
      topic: fetched.topic,
      partition: fetched.partition,
      offset: fetched.offset,
    }
    if (source.timestampExtractor) {
      record.timestamp = source.timestampExtractor(record, this.#options.scheduler.streamTime)
    }
    return { record, failure: undefined }
  }

  #deliver(node: RuntimeNode, record: Record<unknown, unknown>, scope: RecordScope): void {
    if (scope.abandoned) return
    const definition = node.definition
    if (definition.kind === 'sink') {
      this.#sink(definition, record, scope)
      return
    }
    const retry = definition.kind === 'processor' ? definition.retry : undefined
    const observed = channels.processed.hasSubscribers
    const started = observed ? performance.now() : 0
    let result: void | Promise<void>
    try {
      const processor = node.processor!
      result =
        node.synchronousScoped || inAsyncScope(scope)
          ? processor.process(record)
          : runInScope(scope, callProcess, processor, record)
    } catch (error) {
      if (!retry) throw this.#wrapProcessingError(definition.name, error, scope)
      result = Promise.reject(error)
    }
    if (isPromise(result)) {
      const taskId = this.#options.taskId
      const inFlight = channels.inFlight.hasSubscribers
      if (!retry && !inFlight && !observed && scope.kind === 'record' && scope.asyncProcessor === undefined) {
        // The record's first asynchronous processor, unobserved: its promise is awaited as it is,
        // and a failure is attributed to it when the record settles (#settled), with no `then` here.
        scope.asyncProcessor = definition.name
        scope.addPending(result)
        return
      }
      if (inFlight) channels.inFlight.publish({ taskId, processor: definition.name, delta: 1 })
      const outcome = retry ? this.#retrying(node, retry, record, scope, result) : result
      scope.addPending(
        outcome.then(
          () => {
            if (inFlight) channels.inFlight.publish({ taskId, processor: definition.name, delta: -1 })
            if (observed) this.#publishProcessed(definition.name, started)
          },
          (error: unknown) => {
            if (inFlight) channels.inFlight.publish({ taskId, processor: definition.name, delta: -1 })
            throw this.#wrapProcessingError(definition.name, error, scope)
          },
        ),
      )
    } else if (observed) {
      this.#publishProcessed(definition.name, started)
    }
  }

  /**
   * Awaits a processor call and, while it fails and its policy allows, calls it again on the same
   * record after a backoff. While it waits the record is parked: it keeps its lane but does not
   * hold the task, so commits and other lanes go on. The last failure is a RetryExhaustedError.
   */
  async #retrying(
    node: RuntimeNode,
    policy: RetryPolicy,
    record: Record<unknown, unknown>,
    scope: RecordScope,
    first: Promise<void>,
  ): Promise<void> {
    const scheduler = this.#options.scheduler
    const name = node.definition.name
    let outcome = first
    for (let attempt = 1; ; attempt += 1) {
      try {
        await outcome
        return
      } catch (error) {
        if (scope.abandoned) return
        if (
          policy.maxAttempts === 1 ||
          !policy.retryOn(error) ||
          (error as { [NO_RETRY]?: boolean })?.[NO_RETRY]
        ) {
          throw error
        }
        if (attempt >= policy.maxAttempts) {
          throw new RetryExhaustedError(
            `processor "${name}" failed on ${scope.describe()} in all ${attempt} attempts; the last error: ${error instanceof Error ? error.message : String(error)}`,
            attempt,
            { cause: error, context: { processor: name, taskId: this.#options.taskId, ...scope.metadata } },
          )
        }
        const delayMs = retryDelay(policy, attempt, Math.random())
        if (channels.retry.hasSubscribers) {
          channels.retry.publish({
            taskId: this.#options.taskId,
            processor: name,
            ...scope.metadata!,
            key: scope.fetched?.key ?? null,
            attempt,
            delayMs,
            error,
          })
        }
        scope.attemptStartedAt = Number.POSITIVE_INFINITY
        scheduler.park(scope)
        await new Promise<void>((resolve) => setTimeout(resolve, delayMs).unref())
        if (scope.abandoned) return
        await scheduler.unpark(scope)
        if (scope.abandoned) return
        scope.attemptStartedAt = Date.now()
        scope.attempt = attempt + 1
        try {
          // A continuation of a synchronous-scoped call has no scope of its own: give it the record's.
          outcome = Promise.resolve(runInScope(scope, callProcess, node.processor!, record))
        } catch (retryError) {
          outcome = Promise.reject(retryError)
        }
      }
    }
  }

  #publishProcessed(processor: string, started: number): void {
    channels.processed.publish({
      taskId: this.#options.taskId,
      processor,
      durationMs: performance.now() - started,
    })
  }

  #sink(definition: SinkNode, record: Record<unknown, unknown>, scope: RecordScope): void {
    const topic = typeof definition.topic === 'string' ? definition.topic : definition.topic(record)
    const keyContext = this.#keyContext
    const valueContext = this.#valueContext
    keyContext.topic = valueContext.topic = topic
    keyContext.headers = valueContext.headers = record.headers
    let key: Uint8Array | null
    let value: Uint8Array | null
    try {
      key =
        record.key === null || record.key === undefined
          ? null
          : definition.keySerde.serialize(record.key, keyContext)
      value =
        record.value === null || record.value === undefined
          ? null
          : definition.valueSerde.serialize(record.value, valueContext)
    } catch (cause) {
      throw new SerdeError(`sink "${definition.name}" cannot serialize a record for topic "${topic}"`, {
        cause,
        context: { topic, processor: definition.name, taskId: this.#options.taskId },
      })
    }
    if (channels.sinkRecord.hasSubscribers) {
      channels.sinkRecord.publish({
        taskId: this.#options.taskId,
        sink: definition.name,
        topic,
        latencyMs: this.#options.now() - record.timestamp,
      })
    }
    scope.sends += 1
    this.#options.collector.send(
      { topic, key, value, timestamp: record.timestamp, headers: record.headers },
      definition.partitioner as Partitioner | undefined,
      record,
    )
  }

  #wrapProcessingError(processor: string, error: unknown, scope: RecordScope): unknown {
    if (
      KStreamsError.isInstance(error) &&
      (error.code === 'KSTREAMS_PROCESSING' ||
        error.code === 'KSTREAMS_SERDE' ||
        error.code === 'KSTREAMS_RETRY_EXHAUSTED')
    ) {
      return error
    }
    return new ProcessingError(
      `processor "${processor}" failed on ${scope.describe()}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error, context: { processor, taskId: this.#options.taskId, ...scope.metadata } },
    )
  }

  /** Applies the policy for a failed record: throws under `fail`, else logs (and dead-letters). */
  #applyPolicy(stage: 'deserialization' | 'processing', scope: RecordScope, error: unknown): void {
    const fetched = scope.fetched
    const { errorPolicies, logger, taskId } = this.#options
    const policy = stage === 'deserialization' ? errorPolicies.deserialization : errorPolicies.processing
    if (!fetched) throw error
    // A store said a newer owner has the task: no policy applies, the task is lost.
    if (isFencedError(error)) throw error
    if (channels.recordError.hasSubscribers) {
      channels.recordError.publish({
        stage,
        policy,
        error,
        taskId,
        topic: fetched.topic,
        partition: fetched.partition,
        offset: fetched.offset,
      })
    }
    if (policy === 'fail') throw error
    const fields = { topic: fetched.topic, partition: fetched.partition, offset: fetched.offset, taskId }
    if (policy === 'continue') {
      logger.warn(`${stage} error skipped (policy continue): ${(error as Error).message}`, fields)
      return
    }
    logger.warn(`${stage} error sent to ${errorPolicies.deadLetterTopic}`, fields)
    scope.sends += 1
    this.#options.collector.send(deadLetterRecord(errorPolicies.deadLetterTopic, stage, fetched, error))
  }

  /**
   * Delivers a record forwarded outside any scope (a store flush that application code started,
   * outside processing) in a scope of its own; its asynchronous work is awaited by the next flush.
   */
  #deliverDetached(children: readonly RuntimeNode[], record: Record<unknown, unknown>): void {
    const scope = new RecordScope('flush', undefined, record.timestamp, this.#context)
    runInScope(scope, () => {
      for (const child of children) this.#deliver(child, record, scope)
    })
    if (scope.pending.length > 0) this.#detached.push(scope.settle())
  }

  #createContext(node: RuntimeNode, definition: ProcessorNode): ProcessorContext<unknown, unknown> {
    const { scheduler, taskId } = this.#options
    const forward = (record: Record<unknown, unknown>): void => {
      if (this.#closed) return
      const scope = currentScope()
      if (!scope) this.#deliverDetached(node.children, record)
      else for (const child of node.children) this.#deliver(child, record, scope)
    }
    return {
      applicationId: this.#options.applicationId,
      taskId,
      get streamTime() {
        return scheduler.watermark(currentScope())
      },
      get recordMetadata() {
        return currentScope()?.metadata
      },
      children: node.children.map((child) => child.definition.name),
      forward,
      forwardTo: (childName, record) => {
        const child = node.childByName.get(childName)
        if (!child) {
          throw new TopologyError(
            `processor "${definition.name}" cannot forward to "${childName}": it is not a child (children: ${[...node.childByName.keys()].join(', ') || 'none'})`,
            { context: { processor: definition.name } },
          )
        }
        if (this.#closed) return
        const scope = currentScope()
        if (!scope) this.#deliverDetached([child], record)
        else this.#deliver(child, record, scope)
      },
      getStore: <S extends StateStore>(name: string): S => {
        if (!definition.stores.includes(name)) {
          throw new TopologyError(
            `processor "${definition.name}" asked for store "${name}", which is not attached to it (attached: ${definition.stores.join(', ') || 'none'}); list it in the processor's "stores" option`,
            { context: { processor: definition.name, store: name } },
          )
        }
        return this.#options.stores.get(name) as S
      },
      schedule: (intervalMs, type, punctuator): Cancellable => {
        if (!(intervalMs > 0)) {
          throw new TopologyError(
            `processor "${definition.name}": schedule interval must be > 0 ms, got ${intervalMs}`,
            { context: { processor: definition.name, option: 'intervalMs' } },
          )
        }
        const schedule: Schedule = {
          node,
          intervalMs,
          type,
          punctuator,
          // Stream-time punctuation fires first with the first record; wall-clock after one interval.
          next: type === 'wall-clock' ? this.#options.now() + intervalMs : scheduler.streamTime,
          cancelled: false,
        }
        this.#schedules.push(schedule)
        return {
          cancel: () => {
            schedule.cancelled = true
          },
        }
      },
      currentSystemTimeMs: () => this.#options.now(),
    }
  }

  #punctuate(scope: RecordScope, type: PunctuationType, time: number): Promise<void> | undefined {
    for (const schedule of this.#schedules) {
      if (schedule.cancelled || schedule.type !== type) continue
      if (schedule.next < 0) schedule.next = time
      if (time < schedule.next) continue
      // One call per due interval boundary, as Kafka Streams: a long gap fires once, not per missed tick.
      schedule.next = time + schedule.intervalMs
      try {
        const result = schedule.punctuator(time)
        if (isPromise(result)) {
          const name = schedule.node.definition.name
          scope.addPending(
            result.catch((error: unknown) => {
              throw this.#wrapProcessingError(name, error, scope)
            }),
          )
        }
      } catch (error) {
        throw this.#wrapProcessingError(schedule.node.definition.name, error, scope)
      }
    }
    for (let index = this.#schedules.length - 1; index >= 0; index -= 1) {
      if (this.#schedules[index]!.cancelled) this.#schedules.splice(index, 1)
    }
    return scope.pending.length > 0 ? scope.settle() : undefined
  }
}
