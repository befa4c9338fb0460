// The suite is only worth something if it fails on broken serdes. Each serde here has one realistic
// bug; the case that covers the bug must fail for that reason, and options that rule a case out
// must register it as skipped with the reason in its name.
import { type Serde, SerdeError, serdes } from '@kstreams/core'
import { describe, expect, it } from 'vitest'
import { defaultGarbage } from '../src/garbage.js'
import {
  randomGarbage,
  type SerdeTestSuiteOptions,
  type SuiteTestFunction,
  serdeTestSuite,
} from '../src/index.js'

interface RegisteredTest {
  name: string
  fn: SuiteTestFunction
  skipped: boolean
  timeout: number | undefined
}

/** Runs serdeTestSuite with a registrar that collects the tests instead of running them. */
function register<T>(createSerde: () => Serde<T>, options: SerdeTestSuiteOptions<T>): RegisteredTest[] {
  const registered: RegisteredTest[] = []
  const registrar = Object.assign(
    (name: string, fn: SuiteTestFunction, timeout?: number) => {
      registered.push({ name, fn, skipped: false, timeout })
    },
    {
      skip: (name: string, fn: SuiteTestFunction) => {
        registered.push({ name, fn, skipped: true, timeout: undefined })
      },
    },
  )
  serdeTestSuite(registrar, createSerde, options)
  return registered
}

function find(registered: RegisteredTest[], fragment: string): RegisteredTest {
  const matches = registered.filter((test) => test.name.includes(fragment))
  expect(matches.map((test) => test.name)).toHaveLength(1)
  return matches[0]!
}

/** Asserts that the case named by `fragment` fails for `createSerde`, for the reason `reason` names. */
async function expectCaseToFail<T>(
  createSerde: () => Serde<T>,
  options: SerdeTestSuiteOptions<T>,
  fragment: string,
  reason: RegExp,
): Promise<void> {
  const test = find(register(createSerde, options), fragment)
  expect(test.skipped).toBe(false)
  await expect(async () => test.fn()).rejects.toThrow(reason)
}

/** Asserts that every registered case passes (skipped ones included, when they can run). */
async function expectAllToPass<T>(createSerde: () => Serde<T>, options: SerdeTestSuiteOptions<T>) {
  for (const test of register(createSerde, options).filter((test) => !test.skipped)) {
    await expect(Promise.resolve().then(test.fn), test.name).resolves.toBeUndefined()
  }
}

const encoder = new TextEncoder()
const strictDecoder = new TextDecoder('utf-8', { fatal: true })
const words = ['', 'a', 'héllo', '😀']

/** A correct string serde, with some operations replaced. */
function stringVariant(override: Partial<Serde<string>> = {}): () => Serde<string> {
  return () => ({ ...serdes.string(), ...override })
}

describe('the suite passes a correct serde', () => {
  it('with defaults and every option', async () => {
    await expectAllToPass(() => serdes.int32(), { samples: [0, -1, 2 ** 31 - 1] })
    await expectAllToPass(stringVariant(), {
      samples: words,
      largeSample: 'é'.repeat(600_000),
      garbage: [Uint8Array.of(0xff)],
    })
    await expectAllToPass(() => serdes.void(), {
      samples: [null],
      serializesToNull: true,
      garbage: [Uint8Array.of(1)],
    })
  })
})

describe('the suite fails on a broken serde', () => {
  it('returns null for a value', async () => {
    const broken = stringVariant({ serialize: (value) => (value === '' ? null : encoder.encode(value)) })
    await expectCaseToFail(broken, { samples: words }, 'returns a Uint8Array', /serialize returned null/)
    await expectCaseToFail(broken, { samples: words }, 'one serde, as key', /serialize returned null/)
  })

  it('returns something other than a Uint8Array', async () => {
    const broken = stringVariant({ serialize: (value) => Array.from(encoder.encode(value)) as never })
    await expectCaseToFail(broken, { samples: words }, 'returns a Uint8Array', /must return a Uint8Array/)
  })

  it('loses precision (float32 for a float64)', async () => {
    const float32: Serde<number> = {
      serialize: (value) => new Uint8Array(Float32Array.of(value).buffer),
      deserialize: (bytes) => new Float32Array(bytes.slice().buffer)[0]!,
    }
    await expectCaseToFail(() => float32, { samples: [0.1] }, 'one serde, as key', /strictly deep-equal/)
  })

  it('uses the equals option instead of deepStrictEqual', async () => {
    const lowercase = stringVariant({ deserialize: (bytes) => strictDecoder.decode(bytes).toLowerCase() })
    await expectCaseToFail(lowercase, { samples: ['ABC'] }, 'one serde, as key', /strictly deep-equal/)
    await expectAllToPass(lowercase, {
      samples: ['ABC'],
      equals: (actual, expected) => actual === expected.toLowerCase(),
      garbage: [Uint8Array.of(0xff)],
      expectSerdeError: false,
    })
    await expectCaseToFail(
      lowercase,
      { samples: ['ABC'], equals: (actual, expected) => actual === expected },
      'one serde, as key',
      /by the equals option/,
    )
  })

  it('changes the bytes it reads', async () => {
    // Like a decoder that decrypts or unmasks in place.
    const broken = stringVariant({
      deserialize: (bytes) => {
        const value = strictDecoder.decode(bytes)
        bytes.fill(0)
        return value
      },
    })
    await expectCaseToFail(broken, { samples: ['abc'] }, 'one serde, as key', /must not change the bytes/)
  })

  it('reads only what the same instance wrote', async () => {
    const interning = (): Serde<string> => {
      const ids = new Map<string, number>()
      const values: string[] = []
      return {
        serialize(value) {
          let id = ids.get(value)
          if (id === undefined) {
            id = values.push(value) - 1
            ids.set(value, id)
          }
          return Uint8Array.of(id)
        },
        deserialize(bytes, context) {
          const value = values[bytes[0]!]
          if (value === undefined) throw new SerdeError(`unknown id for topic ${context.topic}`)
          return value
        },
      }
    }
    await expectCaseToFail(interning, { samples: words }, 'read by another serde', /unknown id/)
  })

  it('reads the whole underlying buffer of a view', async () => {
    const broken = stringVariant({
      deserialize: (bytes) => strictDecoder.decode(bytes.buffer as ArrayBuffer),
    })
    await expectCaseToFail(broken, { samples: words }, 'larger buffer', /byteOffset 13/)
  })

  it('needs an aligned view', async () => {
    const float64: Serde<number> = {
      serialize: (value) => new Uint8Array(Float64Array.of(value).buffer),
      deserialize: (bytes) => new Float64Array(bytes.buffer, bytes.byteOffset, 1)[0]!,
    }
    await expectCaseToFail(() => float64, { samples: [1.5] }, 'larger buffer', /multiple of 8/)
  })

  it('serializes into one internal buffer', async () => {
    const reusing = (): Serde<number> => {
      const scratch = new Uint8Array(4)
      const view = new DataView(scratch.buffer)
      return {
        serialize: (value) => {
          view.setInt32(0, value)
          return scratch
        },
        deserialize: (bytes) => new DataView(bytes.buffer, bytes.byteOffset, 4).getInt32(0),
      }
    }
    await expectCaseToFail(reusing, { samples: [1, 2] }, 'stay unchanged', /changed when more values/)
  })

  it('hands out the bytes it caches', async () => {
    const memoizing = (): Serde<string> => {
      const cache = new Map<string, Uint8Array>()
      return {
        serialize(value) {
          let bytes = cache.get(value)
          if (bytes === undefined) {
            bytes = encoder.encode(value)
            cache.set(value, bytes)
          }
          return bytes
        },
        deserialize: (bytes) => strictDecoder.decode(bytes),
      }
    }
    await expectCaseToFail(memoizing, { samples: words }, 'overwriting the bytes', /bytes of its own/)
  })

  it('returns the memory of the value', async () => {
    const passthrough = (): Serde<Uint8Array> => ({
      serialize: (value) => value,
      deserialize: (bytes) => bytes.slice(),
    })
    const options = { samples: [Uint8Array.of(1, 2, 3)], acceptsAnyBytes: true }
    await expectCaseToFail(passthrough, options, 'overwriting the bytes', /bytes of its own/)
    // The case put the sample back, so that other cases still see the value they were given.
    expect([...options.samples[0]!]).toEqual([1, 2, 3])
  })

  it('accepts bytes it cannot read', async () => {
    const lenient = stringVariant({ deserialize: (bytes) => new TextDecoder().decode(bytes) })
    await expectCaseToFail(
      lenient,
      { samples: words, garbage: [Uint8Array.of(0xff)] },
      'cannot read are rejected',
      /garbage\[0\] \(1 byte\(s\) 0xff\) as the key was accepted/,
    )
  })

  it('accepts bytes it cannot read, so a topology forwards them whatever its policy', async () => {
    const lenient = stringVariant({ deserialize: (bytes) => new TextDecoder().decode(bytes) })
    await expectCaseToFail(
      lenient,
      { samples: words, garbage: [Uint8Array.of(0xff)] },
      'deserialization error policy',
      /as the key under 'fail': the unreadable record reached the output/,
    )
  })

  it('throws something other than a SerdeError naming the topic', async () => {
    const plain = stringVariant({
      deserialize: (bytes) => {
        if (bytes[0] === 0xff) throw new Error('bad bytes')
        return strictDecoder.decode(bytes)
      },
    })
    const options = { samples: words, garbage: [Uint8Array.of(0xff)] }
    await expectCaseToFail(plain, options, 'SerdeError naming the topic', /expected a SerdeError/)
    await expectAllToPass(plain, { ...options, expectSerdeError: false })

    const noTopic = stringVariant({
      deserialize: (bytes) => {
        if (bytes[0] === 0xff) throw new SerdeError('bad bytes')
        return strictDecoder.decode(bytes)
      },
    })
    await expectCaseToFail(noTopic, options, 'SerdeError naming the topic', /must name the topic/)

    const silent = stringVariant({
      deserialize: (bytes) => {
        if (bytes[0] === 0xff) throw new Error('')
        return strictDecoder.decode(bytes)
      },
    })
    await expectCaseToFail(
      silent,
      { ...options, expectSerdeError: false },
      'rejected with an Error that has a message',
      /must have a message/,
    )

    const throwsString = stringVariant({
      deserialize: (bytes) => {
        if (bytes[0] === 0xff) throw 'bad bytes'
        return strictDecoder.decode(bytes)
      },
    })
    await expectCaseToFail(throwsString, options, 'SerdeError naming the topic', /must throw an Error/)
  })

  it('gets a largeSample that is too small', async () => {
    await expectCaseToFail(
      stringVariant(),
      { samples: words, largeSample: 'small', garbage: [Uint8Array.of(0xff)] },
      'a large value',
      /must serialize to 1048576 bytes or more, it serialized to 5/,
    )
  })

  it('gets an empty garbage option', async () => {
    await expectCaseToFail(
      stringVariant(),
      { samples: words, garbage: [] },
      'cannot read',
      /garbage option is empty/,
    )
  })
})

describe('registration', () => {
  it('names every case after the serde and passes the timeout', () => {
    const registered = register(() => serdes.int32(), { name: 'int32', samples: [1], timeoutMs: 1234 })
    expect(registered.length).toBeGreaterThanOrEqual(8)
    for (const test of registered) expect(test.name.startsWith('int32: ')).toBe(true)
    for (const test of registered.filter((test) => !test.skipped)) expect(test.timeout).toBe(1234)
    expect(register(() => serdes.int32(), { samples: [1] })[0]!.name.startsWith('serde: ')).toBe(true)
  })

  it('skips the cases options rule out, with the reason in the name', () => {
    const withoutLarge = find(
      register(() => serdes.int32(), { samples: [1] }),
      'a large value',
    )
    expect(withoutLarge.skipped).toBe(true)
    expect(withoutLarge.name).toMatch(/\(skipped: no largeSample given\)$/)

    const anyBytes = find(
      register(() => serdes.bytes(), { samples: [Uint8Array.of(1)], acceptsAnyBytes: true }),
      'cannot read',
    )
    expect(anyBytes.skipped).toBe(true)
    expect(anyBytes.name).toMatch(/\(skipped: acceptsAnyBytes is true: every byte string is a valid input\)$/)
  })

  it('refuses an empty list of samples', () => {
    expect(() => register(() => serdes.int32(), { samples: [] })).toThrow(
      /samples must hold one value or more/,
    )
  })
})

describe('the default garbage', () => {
  const hexes = (list: Uint8Array[]) => list.map((bytes) => Buffer.from(bytes).toString('hex'))

  it('is the same pseudo-random bytes on every run, each starting with 0xff, of no length divisible by 4', () => {
    const first = randomGarbage()
    expect(hexes(first)).toEqual(hexes(randomGarbage()))
    expect(first.map((bytes) => bytes.byteLength)).toEqual([3, 7, 13, 61])
    for (const bytes of first) expect(bytes[0]).toBe(0xff)
  })

  it('truncates serialized samples, leaving out prefixes that are samples, and adds empty bytes only when no sample is empty', () => {
    const serialized = [encoder.encode('ab'), encoder.encode('abc'), encoder.encode('x'), null]
    const garbage = defaultGarbage(serialized)
    const labels = garbage.map(({ label }) => label)
    expect(labels).toContain('the serialization of samples[0] without its last byte')
    // 'abc' without its last byte is 'ab', the serialization of samples[0].
    expect(labels).not.toContain('the serialization of samples[1] without its last byte')
    expect(labels).not.toContain('the serialization of samples[2] without its last byte')
    expect(labels).toContain('empty bytes')
    expect(defaultGarbage([new Uint8Array(0), encoder.encode('ab')]).map(({ label }) => label)).not.toContain(
      'empty bytes',
    )
  })
})
