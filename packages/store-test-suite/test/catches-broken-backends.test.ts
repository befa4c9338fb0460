// The suite is only worth something if it fails on broken backends. Each backend here is the memory
// backend with one realistic bug; the case that covers the bug must fail, and capabilities a backend
// declares unsupported must be registered as skipped with the reason in the name.
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type BackendCapabilities,
  type BackendRangeOptions,
  MemoryBackend,
  type StoreBackend,
  type StoreBackendFactory,
} from '@kstreams/core'
import { describe, expect, it } from 'vitest'
import { type StoreTestSuiteOptions, type SuiteTestFunction, storeTestSuite } from '../src/index.js'

interface RegisteredTest {
  name: string
  fn: SuiteTestFunction
  skipped: boolean
  timeout: number | undefined
}

/** Runs storeTestSuite with a registrar that collects the tests instead of running them. */
async function register(
  factory: StoreBackendFactory,
  options?: StoreTestSuiteOptions,
): Promise<RegisteredTest[]> {
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
  await storeTestSuite(registrar, factory, options)
  return registered
}

function find(registered: RegisteredTest[], fragment: string): RegisteredTest {
  const matches = registered.filter((test) => test.name.includes(fragment))
  expect(matches.map((test) => test.name)).toHaveLength(1)
  return matches[0]!
}

/** A memory backend with some operations replaced. */
function variant(
  name: string,
  override: (inner: MemoryBackend) => Partial<StoreBackend>,
  capabilities: Partial<BackendCapabilities> = {},
): StoreBackendFactory {
  return {
    name,
    persistent: capabilities.persistent ?? false,
    open() {
      const inner = new MemoryBackend()
      const backend: StoreBackend = {
        contractVersion: 1,
        capabilities: { ...inner.capabilities, ...capabilities },
        get: (key) => inner.get(key),
        getMany: (keys) => inner.getMany(keys),
        write: (batch) => inner.write(batch),
        range: (options) => inner.range(options),
        approximateCount: () => inner.approximateCount(),
        flush: () => inner.flush(),
        close: () => inner.close(),
      }
      return { ...backend, ...override(inner) }
    },
  }
}

/** Asserts that the case named by `fragment` fails against `factory`, for the reason `reason` names. */
async function expectCaseToFail(
  factory: StoreBackendFactory,
  fragment: string,
  reason: RegExp,
  options?: StoreTestSuiteOptions,
): Promise<void> {
  const test = find(await register(factory, options), fragment)
  expect(test.skipped).toBe(false)
  await expect(async () => test.fn()).rejects.toThrow(reason)
}

describe('the suite fails on a broken backend', () => {
  it('scans in signed byte order', async () => {
    const signed = (left: Uint8Array, right: Uint8Array) => {
      for (let index = 0; index < Math.min(left.length, right.length); index += 1) {
        const difference = ((left[index]! << 24) >> 24) - ((right[index]! << 24) >> 24)
        if (difference !== 0) return difference
      }
      return left.length - right.length
    }
    const factory = variant('signed', (inner) => ({
      range: (options) => [...inner.range(options)].sort((left, right) => signed(left.key, right.key)),
    }))
    await expectCaseToFail(factory, 'unsigned byte order', /keys sorted by Buffer.compare/)
  })

  it('includes the `to` bound', async () => {
    const factory = variant('inclusive-to', (inner) => ({
      range: (options: BackendRangeOptions = {}) =>
        inner.range(
          options.to === undefined ? options : { ...options, to: Uint8Array.from([...options.to, 0]) },
        ),
    }))
    await expectCaseToFail(factory, 'range includes from and excludes to', /both bounds present/)
  })

  it('ignores the bounds of reverse scans', async () => {
    const factory = variant('reverse-unbounded', (inner) => ({
      range: (options: BackendRangeOptions = {}) =>
        inner.range(options.reverse ? { reverse: true } : options),
    }))
    await expectCaseToFail(factory, 'bounded reverse scans', /both bounds present/)
  })

  it('drops the key 0x00 from reverse scans without a lower bound', async () => {
    const factory = variant('reverse-drops-zero', (inner) => ({
      range: (options: BackendRangeOptions = {}) =>
        options.reverse && options.from === undefined
          ? [...inner.range(options)].filter(({ key }) => !(key.length === 1 && key[0] === 0))
          : inner.range(options),
    }))
    await expectCaseToFail(
      factory,
      'reverse scans return exactly',
      /Expected values to be strictly deep-equal/,
    )
  })

  it('returns an empty value as missing', async () => {
    const factory = variant('empty-as-missing', (inner) => ({
      get: (key) => {
        const value = inner.get(key)
        return value?.length === 0 ? undefined : value
      },
    }))
    await expectCaseToFail(factory, 'an empty value is stored', /must not be undefined/)
  })

  it('truncates keys longer than the maxKeyBytes it declares', async () => {
    const factory = variant(
      'truncating',
      (inner) => ({
        write: (batch) => inner.write(batch.map(({ key, value }) => ({ key: key.subarray(0, 16), value }))),
      }),
      { maxKeyBytes: 16 },
    )
    await expectCaseToFail(
      factory,
      'longer than capabilities.maxKeyBytes',
      /a key of 17 bytes must be rejected/,
    )
  })

  it('counts one key too many', async () => {
    const factory = variant('miscounting', (inner) => ({
      approximateCount: () => inner.approximateCount() + 1,
    }))
    await expectCaseToFail(factory, 'approximateCount equals', /an empty store/)
  })

  it('reads the caller’s buffers after write() returned', async () => {
    const factory = variant('late-copy', (inner) => ({
      write: async (batch) => {
        await Promise.resolve()
        inner.write(batch)
      },
    }))
    await expectCaseToFail(factory, 'keeps its own copy', /after the caller reused its arrays/)
  })

  it('resumes a scan by position, so an insert behind the cursor repeats a key', async () => {
    const factory = variant('positional-scan', (inner) => ({
      *range(options) {
        for (let position = 0; ; position += 1) {
          const entry = [...inner.range(options)][position]
          if (entry === undefined) return
          yield entry
        }
      },
    }))
    await expectCaseToFail(factory, 'a scan while writes happen', /a key twice or out of order/)
  })

  it('applies concurrent writes out of the order they were issued', async () => {
    let issued = 0
    const factory = variant('reordering', (inner) => ({
      write(batch) {
        const copies = batch.map(({ key, value }) => ({ key: key.slice(), value: value?.slice() ?? null }))
        issued += 1
        // Every other write waits a little, so that the next one lands first.
        const delay = issued % 2 === 0 ? 0 : 3
        return new Promise<void>((resolve) =>
          setTimeout(() => {
            inner.write(copies)
            resolve()
          }, delay),
        )
      },
    }))
    await expectCaseToFail(factory, 'concurrent writes and reads', /after 300 operations issued together/)
  })

  it('declares persistence but forgets everything on close', async () => {
    const factory = variant('forgetful', () => ({}), { persistent: true })
    await expectCaseToFail(factory, 'data survives flush, close and reopen', /reopened: full scan/)
    await expectCaseToFail(factory, 'read through the backdoor', /every key read through the backdoor/, {
      backdoor: { read: async () => undefined },
    })
  })
})

describe('registration', () => {
  it('skips what a backend declares unsupported, with the reason in the name', async () => {
    const registered = await register(variant('forward-only', () => ({}), { reverseRange: false }))
    const skipped = registered.filter((test) => test.skipped).map((test) => test.name)
    expect(skipped).toEqual([
      'forward-only: reverse scans return exactly the reverse order (skipped: capabilities.reverseRange is false)',
      'forward-only: bounded reverse scans include from and exclude to (skipped: capabilities.reverseRange is false)',
      'forward-only: a reverse scan while writes happen does not fail or return a key twice (skipped: capabilities.reverseRange is false)',
      'forward-only: a key longer than capabilities.maxKeyBytes is rejected, not truncated (skipped: capabilities.maxKeyBytes is not declared)',
      'forward-only: a value longer than capabilities.maxValueBytes is rejected, not truncated (skipped: capabilities.maxValueBytes is not declared)',
      'forward-only: data survives flush, close and reopen on the same directory, deletes included (skipped: capabilities.persistent is false)',
      'forward-only: flushed data is in the storage itself (read through the backdoor) (skipped: capabilities.persistent is false)',
    ])
  })

  it('skips the backdoor case of a persistent backend when no backdoor is given', async () => {
    const registered = await register(variant('persistent', () => ({}), { persistent: true }))
    expect(find(registered, 'backdoor').name).toMatch(/\(skipped: no backdoor option given\)$/)
    expect(find(registered, 'data survives').skipped).toBe(false)
  })

  it('skips the large value case when maxValueBytes is below largeValueBytes', async () => {
    const limited = variant(
      'small-values',
      (inner) => ({
        write(batch) {
          if (batch.some(({ value }) => value !== null && value.length > 1000))
            throw new Error('value too large')
          inner.write(batch)
        },
      }),
      { maxValueBytes: 1000 },
    )
    const registered = await register(limited, { largeValueBytes: 2000 })
    expect(find(registered, 'a large value').name).toMatch(
      /\(skipped: capabilities.maxValueBytes 1000 is below largeValueBytes 2000\)$/,
    )
    await find(registered, 'a value longer than capabilities.maxValueBytes').fn()
    const accepting = variant('accepting', () => ({}), { maxValueBytes: 1000 })
    await expectCaseToFail(
      accepting,
      'a value longer than capabilities.maxValueBytes',
      /1001 bytes must be rejected/,
    )
  })

  it('fails a backend whose factory.persistent differs from its capabilities', async () => {
    const factory = { ...variant('inconsistent', () => ({})), persistent: true }
    await expectCaseToFail(factory, 'declares contract version 1', /factory.persistent/)
  })

  it('passes timeoutMs to the runner', async () => {
    const registered = await register(
      variant('timed', () => ({})),
      { timeoutMs: 12_345 },
    )
    const timeouts = new Set(registered.filter((test) => !test.skipped).map((test) => test.timeout))
    expect([...timeouts]).toEqual([12_345])
  })

  it('gives each backend a unique context on a fresh directory, closes it and removes the directory', async () => {
    const opened: Array<{ storeName: string; taskId: string; directory: string; closed: boolean }> = []
    const factory: StoreBackendFactory = {
      name: 'tracking',
      persistent: false,
      open(context) {
        const record = { ...context, closed: false }
        opened.push(record)
        const inner = new MemoryBackend()
        return Object.assign(inner, {
          close: () => {
            record.closed = true
          },
          // A failing case must still close its backends and remove its directories.
          approximateCount: () => -1,
        })
      },
    }
    const registered = await register(factory)
    await find(registered, 'put, get and overwrite').fn()
    await expect(async () => find(registered, 'approximateCount equals').fn()).rejects.toThrow()
    expect(opened.length).toBe(3)
    expect(opened.every((record) => record.closed)).toBe(true)
    expect(opened.some((record) => existsSync(record.directory))).toBe(false)
    expect(new Set(opened.map((record) => record.storeName)).size).toBe(3)
    expect(new Set(opened.map((record) => record.taskId)).size).toBe(3)
  })

  it('asks the directory option for a directory per backend and leaves those directories alone', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'kstreams-suite-directories-'))
    try {
      const given: string[] = []
      const directory = async () => {
        const path = await mkdtemp(join(parent, 'store-'))
        given.push(path)
        return path
      }
      const registered = await register(
        variant('directories', () => ({})),
        { directory },
      )
      await find(registered, 'put, get and overwrite').fn()
      expect(given).toHaveLength(2)
      expect(given.every((path) => existsSync(path))).toBe(true)
    } finally {
      await rm(parent, { recursive: true, force: true })
    }
  })
})
