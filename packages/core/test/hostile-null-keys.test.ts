// Records without a key reaching a keyed store, under each processing error policy. A serde may
// write null as bytes (TextEncoder turns null into "null"), so without a check every keyless
// record merged into one entry that a real key "null" shares; the stores refuse null keys now.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  channels,
  DeadLetterHeaders,
  headerValue,
  type KeyValueStore,
  type ProcessorContext,
  type RecordErrorPolicy,
  StoreError,
  serdes,
  stores,
  TopologyBuilder,
} from '../src/index.js'
import { TopologyTestDriver } from '../src/testing/index.js'

const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : bytes)

function countingDriver(policy: RecordErrorPolicy) {
  const topology = new TopologyBuilder()
    .addSource('input', { topics: ['input'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64() }))
    .addProcessor('count', { parents: ['input'], stores: ['counts'] }, () => {
      let context: ProcessorContext<string, bigint>
      let counts: KeyValueStore<string, bigint>
      return {
        init: (processorContext) => {
          context = processorContext
          counts = context.getStore('counts')
        },
        process: async (record) => {
          const count = ((await counts.get(record.key)) ?? 0n) + 1n
          await counts.put(record.key, count)
          context.forward({ ...record, value: count })
        },
      }
    })
    .addSink('output', {
      topic: 'output',
      keySerde: serdes.string(),
      valueSerde: serdes.int64(),
      parents: ['count'],
    })
    .build()
  const driver = new TopologyTestDriver(topology, { errorPolicies: { processing: policy } })
  onTestFinished(() => driver.close())
  const errors: unknown[] = []
  const onError = (message: unknown) => errors.push(message)
  subscribe(channels.recordError.name, onError)
  onTestFinished(() => {
    unsubscribe(channels.recordError.name, onError)
  })
  return {
    driver,
    errors,
    input: driver.createInputTopic('input', serdes.string(), serdes.string()),
    output: driver.createOutputTopic('output', serdes.string(), serdes.int64()),
  }
}

describe('a null key into a keyed store', () => {
  it("fails the record with a StoreError naming the store under 'fail'", async () => {
    const { input, output } = countingDriver('fail')
    const error = await input
      .pipeInput(null as unknown as string, 'no key')
      .catch((failure: unknown) => failure)
    expect((error as { code?: unknown }).code).toBe('KSTREAMS_PROCESSING')
    const cause = (error as Error).cause
    expect(cause).toBeInstanceOf(StoreError)
    expect((cause as StoreError).message).toContain('store "counts"')
    expect((cause as StoreError).message).toContain('a null key cannot be stored')
    expect(output.isEmpty()).toBe(true)
  })

  it('skips and counts the record under \'continue\', and a real key "null" keeps its own count', async () => {
    const { input, output, errors, driver } = countingDriver('continue')
    await input.pipeInput(null as unknown as string, 'no key')
    await input.pipeInput('null', 'a real key')
    await input.pipeInput(null as unknown as string, 'no key again')
    await input.pipeInput('null', 'a real key again')
    expect(output.readKeyValues()).toEqual([
      ['null', 1n],
      ['null', 2n],
    ])
    expect(errors).toHaveLength(2)
    expect(errors.every((event) => (event as { stage: string }).stage === 'processing')).toBe(true)
    expect(await (await driver.getStore<KeyValueStore<string, bigint>>('counts')).get('null')).toBe(2n)
  })

  it("sends the keyless record to the dead-letter topic, value intact, under 'dead-letter'", async () => {
    const { input, output, driver } = countingDriver('dead-letter')
    await input.pipeInput(null as unknown as string, 'no key')
    await input.pipeInput('k', 'fine')
    expect(output.readKeyValues()).toEqual([['k', 1n]])
    const [dead] = driver.producedRecords('test-driver-dlq')
    expect(dead!.key).toBeNull()
    expect(text(dead!.value)).toBe('no key')
    expect(text(headerValue(dead!.headers!, DeadLetterHeaders.causeMessage))).toContain(
      'a null key cannot be stored',
    )
  })
})
