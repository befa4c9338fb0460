// Registers the conformance cases with the caller's test runner. Options that rule a case out are
// known before any serde runs, so a case that does not apply is registered as skipped with the
// reason in its name, and shows up in the runner's report instead of passing silently.
import type { Serde } from '@kstreams/core'
import { type CaseEnvironment, cases } from './cases.js'

/** A test body as the suite hands it to the runner. */
export type SuiteTestFunction = () => Promise<void> | void

/**
 * The test function of the runner, e.g. vitest's `it`: typed by its shape so that the suite
 * depends on no runner.
 */
export interface TestRegistrar {
  (name: string, fn: SuiteTestFunction, timeout?: number): void
  skip: (name: string, fn: SuiteTestFunction) => void
}

export interface SerdeTestSuiteOptions<T> {
  /**
   * Values that must round trip. Include the edge cases of the type, since the suite only knows
   * these: the empty string, 0, -1, the smallest and largest values, empty and nested objects and
   * arrays, non-ASCII text and emoji, empty byte arrays.
   */
  samples: readonly T[]
  /** Prefix of every test name, to tell apart the serdes of one test file. @default 'serde' */
  name?: string
  /**
   * Whether `actual` (read back) equals `expected` (the sample).
   * @default assert.deepStrictEqual semantics: NaN equals NaN, 0 and -0 differ, prototypes count
   *   (a Buffer is not equal to a Uint8Array)
   */
  equals?: (actual: T, expected: T) => boolean
  /**
   * A value that serializes to 1 MiB (1_048_576 bytes) or more, for the large value case.
   * @default none: the large value case is skipped
   */
  largeSample?: T
  /**
   * Byte strings deserialize must reject. Give them when the defaults can be valid in the format:
   * text formats where a prefix is valid text (a string serde, JSON numbers), formats where a
   * truncated message is a valid shorter one (protobuf), or formats with an empty encoding.
   * @default pseudo-random bytes starting with 0xff (3, 7, 13 and 61 bytes long), every serialized
   *   sample without its last byte, and the empty byte string when no sample serializes to it
   */
  garbage?: readonly Uint8Array[]
  /**
   * Set for serdes that read any byte string (raw bytes): the garbage case is skipped.
   * @default false
   */
  acceptsAnyBytes?: boolean
  /**
   * Set for serdes that return the value's own bytes without copying (a raw bytes serde, as Kafka's
   * ByteArraySerializer does): the case that overwrites serialized bytes is skipped.
   * @default false
   */
  zeroCopy?: boolean
  /**
   * Set for serdes whose serialize may return null (writing a null key or a tombstone), such as a
   * void serde. A sample that serializes to null must itself be null, since a null is read back as
   * null without calling deserialize.
   * @default false: serialize returning null fails the test
   */
  serializesToNull?: boolean
  /**
   * Whether the errors of rejected bytes must be SerdeErrors (`KStreamsError.isInstance(error)` and
   * code `KSTREAMS_SERDE`) whose message names the topic. When false, any Error with a message passes.
   * @default true
   */
  expectSerdeError?: boolean
  /** Timeout of each test, passed to the runner. @default the runner's default */
  timeoutMs?: number
}

/**
 * Registers the conformance tests of a serde with `it`: round trips of the samples as key and as
 * value (within one serde and between two), reads from views into larger buffers, a large value,
 * bytes that stay unchanged once returned, and rejection of bytes the serde cannot read. Call it
 * at the top level of a test file; `createSerde` is called once or more per test, so every test
 * starts from a new serde.
 *
 * @example
 * import { serdes } from '@kstreams/core'
 * import { serdeTestSuite } from '@kstreams/serde-test-suite'
 * import { it } from 'vitest'
 *
 * serdeTestSuite(it, () => serdes.int32(), {
 *   name: 'int32',
 *   samples: [0, 1, -1, -(2 ** 31), 2 ** 31 - 1],
 * })
 */
export function serdeTestSuite<T>(
  it: TestRegistrar,
  createSerde: () => Serde<T>,
  options: SerdeTestSuiteOptions<T>,
): void {
  if (options.samples.length === 0)
    throw new Error('serdeTestSuite: options.samples must hold one value or more')
  const equals = options.equals
  const environment: CaseEnvironment = {
    createSerde: createSerde as () => Serde<unknown>,
    samples: options.samples,
    equals: equals === undefined ? undefined : (actual, expected) => equals(actual as T, expected as T),
    largeSample: options.largeSample === undefined ? undefined : { value: options.largeSample },
    garbage: options.garbage,
    acceptsAnyBytes: options.acceptsAnyBytes ?? false,
    zeroCopy: options.zeroCopy ?? false,
    serializesToNull: options.serializesToNull ?? false,
    expectSerdeError: options.expectSerdeError ?? true,
  }
  const prefix = options.name ?? 'serde'
  for (const suiteCase of cases) {
    const caseName = typeof suiteCase.name === 'string' ? suiteCase.name : suiteCase.name(environment)
    const name = `${prefix}: ${caseName}`
    const skipReason = suiteCase.skipReason?.(environment)
    const body = () => suiteCase.run(environment)
    if (skipReason !== undefined) it.skip(`${name} (skipped: ${skipReason})`, body)
    else if (options.timeoutMs === undefined) it(name, body)
    else it(name, body, options.timeoutMs)
  }
}
