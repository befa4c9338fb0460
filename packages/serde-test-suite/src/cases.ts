// The conformance cases. Each one creates its own serdes through the factory, so that no case sees
// state another case left behind, and names in `skipReason` the option that rules it out.
import assert from 'node:assert/strict'
import { ErrorCodes, type Headers, KStreamsError, type Serde, type SerdeContext } from '@kstreams/core'
import { describeBytes, describeValue, hex, text } from './bytes.js'
import { defaultGarbage, type LabelledBytes } from './garbage.js'
import { checkPolicy, policies } from './policy-cases.js'

/** The options of the suite with their defaults applied. */
export interface CaseEnvironment {
  createSerde: () => Serde<unknown>
  samples: readonly unknown[]
  equals: ((actual: unknown, expected: unknown) => boolean) | undefined
  largeSample: { value: unknown } | undefined
  garbage: readonly Uint8Array[] | undefined
  acceptsAnyBytes: boolean
  zeroCopy: boolean
  serializesToNull: boolean
  expectSerdeError: boolean
}

export interface SuiteCase {
  /** The name, or a function of the options when they change what the case checks. */
  name: string | ((environment: CaseEnvironment) => string)
  /** Why the case does not apply to this serde, or undefined when it does. */
  skipReason?: (environment: CaseEnvironment) => string | undefined
  run: (environment: CaseEnvironment) => void | Promise<void>
}

/** The smallest serialized size of `largeSample`. */
export const largeValueBytes = 1024 * 1024

const targets = ['key', 'value'] as const

// Headers are present in every context, one of them null, because a serde may read them (a schema
// id, a content type) and must not trip over a header without a value.
const headers: Headers = [
  ['trace-id', text('serde-test-suite')],
  ['empty-header', null],
]

function contextFor(topic: string, target: 'key' | 'value'): SerdeContext {
  return { topic, target, headers }
}

function assertEquals(environment: CaseEnvironment, actual: unknown, expected: unknown, where: string): void {
  if (environment.equals !== undefined) {
    assert.ok(
      environment.equals(actual, expected),
      `${where}: got ${describeValue(actual)}, expected ${describeValue(expected)} (by the equals option)`,
    )
    return
  }
  try {
    assert.deepStrictEqual(actual, expected)
  } catch (error) {
    // The assertion's own message holds the diff; the prefix says which sample and which step.
    assert.fail(`${where}: ${error instanceof Error ? error.message : String(error)}`)
  }
}

/** `serialize(value)`, checking that it returned a Uint8Array, or null when the serde declares it may. */
function serializeChecked(
  environment: CaseEnvironment,
  serde: Serde<unknown>,
  value: unknown,
  context: SerdeContext,
  where: string,
): Uint8Array | null {
  const bytes: unknown = serde.serialize(value, context)
  if (bytes === null) {
    assert.ok(
      environment.serializesToNull,
      `${where}: serialize returned null, which writes a null ${context.target}` +
        `${context.target === 'value' ? ' (a tombstone)' : ''}; set serializesToNull if the serde means to`,
    )
    return null
  }
  assert.ok(
    bytes instanceof Uint8Array,
    `${where}: serialize must return a Uint8Array or null, got ${describeValue(bytes)}`,
  )
  return bytes
}

/** `deserialize(bytes)`, turning an error into a failure that says which sample and which step. */
function deserializeChecked(
  serde: Serde<unknown>,
  bytes: Uint8Array,
  context: SerdeContext,
  where: string,
): unknown {
  try {
    return serde.deserialize(bytes, context)
  } catch (error) {
    const thrown = error instanceof Error ? `${error.name}: ${error.message}` : describeValue(error)
    return assert.fail(`${where}: deserialize threw ${thrown}`)
  }
}

/** Where a sample is, for failure messages. */
function sampleName(index: number, sample: unknown): string {
  return `samples[${index}] (${describeValue(sample)})`
}

/**
 * A null written by serialize is read back as null without calling deserialize (the runtime never
 * hands null bytes to a serde), so the sample must be null for its round trip to hold.
 */
function assertNullRoundTrip(environment: CaseEnvironment, sample: unknown, where: string): void {
  assertEquals(environment, null, sample, `${where}: serialize returned null, which is read back as null`)
}

function roundTrip(
  environment: CaseEnvironment,
  writer: Serde<unknown>,
  reader: Serde<unknown>,
  topic: string,
): void {
  for (const target of targets) {
    const context = contextFor(topic, target)
    environment.samples.forEach((sample, index) => {
      const where = `${sampleName(index, sample)} as the ${target}`
      const bytes = serializeChecked(environment, writer, sample, context, where)
      if (bytes === null) {
        assertNullRoundTrip(environment, sample, where)
        return
      }
      const written = hex(bytes)
      const step = `${where}: deserialize(serialize(value))`
      assertEquals(environment, deserializeChecked(reader, bytes, context, step), sample, step)
      assert.equal(hex(bytes), written, `${where}: deserialize must not change the bytes it reads`)
    })
  }
}

/** The serialization of every sample by a new serde, for the garbage defaults. */
function serializeSamples(environment: CaseEnvironment): Array<Uint8Array | null> {
  const serde = environment.createSerde()
  const context = contextFor('serde-test-suite.samples', 'value')
  return environment.samples.map((sample, index) =>
    serializeChecked(environment, serde, sample, context, sampleName(index, sample)),
  )
}

function garbageInputs(environment: CaseEnvironment): LabelledBytes[] {
  if (environment.garbage === undefined) return defaultGarbage(serializeSamples(environment))
  return environment.garbage.map((bytes, index) => ({ label: `garbage[${index}]`, bytes }))
}

function assertRejected(environment: CaseEnvironment, input: LabelledBytes, context: SerdeContext): void {
  const where = `${input.label} (${describeBytes(input.bytes)}) as the ${context.target}`
  let thrown: unknown
  let accepted = false
  let result: unknown
  try {
    result = environment.createSerde().deserialize(input.bytes, context)
    accepted = true
  } catch (error) {
    thrown = error
  }
  if (accepted) {
    assert.fail(
      `${where} was accepted and read as ${describeValue(result)}: deserialize must throw on bytes it ` +
        'cannot read (when such bytes are valid in the format, give the garbage option)',
    )
  }
  assert.ok(
    thrown instanceof Error,
    `${where}: deserialize must throw an Error, threw ${describeValue(thrown)}`,
  )
  assert.ok(thrown.message.trim().length > 0, `${where}: the error thrown must have a message`)
  if (!environment.expectSerdeError) return
  assert.ok(
    KStreamsError.isInstance(thrown) && thrown.code === ErrorCodes.SERDE,
    `${where}: expected a SerdeError (code ${ErrorCodes.SERDE}), got ${thrown.name}: ${thrown.message}`,
  )
  assert.ok(
    thrown.message.includes(context.topic),
    `${where}: the SerdeError must name the topic "${context.topic}", got: ${thrown.message}`,
  )
}

export const cases: SuiteCase[] = [
  {
    name: ({ serializesToNull }) =>
      serializesToNull
        ? 'serialize returns a Uint8Array or null (serializesToNull) for every sample'
        : 'serialize returns a Uint8Array for every sample, never null',
    run(environment) {
      const serde = environment.createSerde()
      for (const target of targets) {
        const context = contextFor('serde-test-suite.serialize', target)
        environment.samples.forEach((sample, index) => {
          serializeChecked(
            environment,
            serde,
            sample,
            context,
            `${sampleName(index, sample)} as the ${target}`,
          )
        })
      }
    },
  },
  {
    name: 'every sample round trips through one serde, as key and as value, with headers present',
    run(environment) {
      const serde = environment.createSerde()
      roundTrip(environment, serde, serde, 'serde-test-suite.round-trip')
    },
  },
  {
    // Producers and consumers are different processes: a serde that only reads what the same
    // instance wrote (state shared between serialize and deserialize) fails here.
    name: 'bytes written by one serde are read by another serde from the same factory',
    run(environment) {
      roundTrip(
        environment,
        environment.createSerde(),
        environment.createSerde(),
        'serde-test-suite.other-instance',
      )
    },
  },
  {
    // Kafka clients hand out record values as views into the fetched batch: a serde that reads
    // `bytes.buffer` from 0, or to its end, or needs aligned offsets, reads the wrong bytes here.
    name: 'a sample is read from a view into a larger buffer (unaligned, non-zero byteOffset)',
    run(environment) {
      const writer = environment.createSerde()
      const reader = environment.createSerde()
      const before = 13
      const after = 19
      for (const target of targets) {
        const context = contextFor('serde-test-suite.view', target)
        environment.samples.forEach((sample, index) => {
          const where = `${sampleName(index, sample)} as the ${target}`
          const bytes = serializeChecked(environment, writer, sample, context, where)
          if (bytes === null) return
          const backing = new Uint8Array(before + bytes.byteLength + after).fill(0xa5)
          backing.set(bytes, before)
          const view = backing.subarray(before, before + bytes.byteLength)
          const step = `${where}: deserialize of the bytes at byteOffset ${before} of a ${backing.byteLength}-byte buffer`
          assertEquals(environment, deserializeChecked(reader, view, context, step), sample, step)
        })
      }
    },
  },
  {
    name: `a large value (${largeValueBytes} bytes or more serialized) round trips`,
    skipReason: ({ largeSample }) => (largeSample === undefined ? 'no largeSample given' : undefined),
    run(environment) {
      const sample = environment.largeSample!.value
      const context = contextFor('serde-test-suite.large', 'value')
      const bytes = serializeChecked(environment, environment.createSerde(), sample, context, 'largeSample')
      assert.ok(bytes !== null, 'largeSample: serialize returned null; a large value needs bytes')
      assert.ok(
        bytes.byteLength >= largeValueBytes,
        `largeSample must serialize to ${largeValueBytes} bytes or more, it serialized to ${bytes.byteLength}`,
      )
      const step = `largeSample (${bytes.byteLength} bytes serialized): deserialize(serialize(value))`
      assertEquals(
        environment,
        deserializeChecked(environment.createSerde(), bytes, context, step),
        sample,
        step,
      )
    },
  },
  {
    // The runtime holds the bytes of a record while it serializes the next ones (batches, caches):
    // a serde that writes every result into one internal buffer would change records already sent.
    name: 'bytes serialize returned stay unchanged while later values are serialized',
    run(environment) {
      const serde = environment.createSerde()
      const context = contextFor('serde-test-suite.reuse', 'value')
      const first: Array<Uint8Array | null> = []
      // Each snapshot is taken right after its serialize, before the next one can overwrite the bytes.
      const written: Array<string | null> = []
      environment.samples.forEach((sample, index) => {
        const bytes = serializeChecked(environment, serde, sample, context, sampleName(index, sample))
        first.push(bytes)
        written.push(bytes === null ? null : hex(bytes))
      })
      for (let index = environment.samples.length - 1; index >= 0; index -= 1) {
        serde.serialize(environment.samples[index], context)
      }
      first.forEach((bytes, index) => {
        if (bytes === null) return
        assert.equal(
          hex(bytes),
          written[index],
          `${sampleName(index, environment.samples[index])}: the bytes serialize returned changed when ` +
            'more values were serialized; serialize must not return a buffer it writes to again',
        )
      })
    },
  },
  {
    // A producer may reuse or overwrite the bytes it was given. If serialize handed out the value's
    // own memory, or a buffer it keeps, that would change the value or the next serialization.
    name: 'overwriting the bytes serialize returned changes neither the value nor a later serialization',
    skipReason: ({ zeroCopy }) =>
      zeroCopy ? 'zeroCopy is true: serialize returns the value itself, by design' : undefined,
    run(environment) {
      const serde = environment.createSerde()
      const context = contextFor('serde-test-suite.mutation', 'value')
      environment.samples.forEach((sample, index) => {
        const where = sampleName(index, sample)
        const first = serializeChecked(environment, serde, sample, context, where)
        if (first === null) return
        // Real copies: Buffer#slice would return views of the same memory.
        const copy = Uint8Array.prototype.slice.call(first)
        // Read from a copy that the test never touches, so the expectation cannot change below.
        const expected = deserializeChecked(
          serde,
          Uint8Array.prototype.slice.call(copy),
          context,
          `${where}: deserialize(serialize(value))`,
        )
        try {
          for (let position = 0; position < first.byteLength; position += 1) first[position]! ^= 0xff
          const second = serializeChecked(environment, serde, sample, context, where)
          assert.ok(second !== null, `${where}: the second serialize returned null, the first returned bytes`)
          const problem =
            `${where}: after every byte serialize returned was flipped, serialize of the same value ` +
            'read back differently; serialize must return bytes of its own, not the memory of the value ' +
            'or a buffer it keeps'
          assertEquals(environment, deserializeChecked(serde, second, context, problem), expected, problem)
        } finally {
          // When the bytes were the value's own memory, this puts the sample back for other cases.
          first.set(copy)
        }
      })
    },
  },
  {
    name: ({ expectSerdeError }) =>
      expectSerdeError
        ? 'bytes it cannot read are rejected with a SerdeError naming the topic'
        : 'bytes it cannot read are rejected with an Error that has a message',
    skipReason: ({ acceptsAnyBytes }) =>
      acceptsAnyBytes ? 'acceptsAnyBytes is true: every byte string is a valid input' : undefined,
    run(environment) {
      const inputs = garbageInputs(environment)
      assert.ok(inputs.length > 0, 'the garbage option is empty: give byte strings or set acceptsAnyBytes')
      inputs.forEach((input, index) => {
        // A topic per input, so that an error naming a topic it saw earlier does not pass.
        for (const target of targets)
          assertRejected(environment, input, contextFor(`serde-test-suite.garbage-${index}`, target))
      })
    },
  },
  {
    name: "unreadable input meets the topology's deserialization error policy: fail stops, continue counts and goes on, dead-letter keeps the original bytes",
    skipReason: ({ acceptsAnyBytes }) =>
      acceptsAnyBytes ? 'acceptsAnyBytes is true: every byte string is a valid input' : undefined,
    async run(environment) {
      // The first two inputs (a pseudo-random and a cut-short one by default) under every policy.
      const inputs = garbageInputs(environment).slice(0, 2)
      // The valid record beside and after the garbage; null for a serde that writes only nulls.
      const valid = serializeSamples(environment).find((bytes) => bytes !== null) ?? null
      for (const garbage of inputs)
        for (const policy of policies)
          for (const target of targets)
            await checkPolicy({ createSerde: environment.createSerde, policy, target, garbage, valid })
    },
  },
]
