// The metrics fed by core itself (through its test driver) rather than by synthetic messages, so a
// change of a message shape in core fails here.
import {
  serdes,
  stores,
  TopologyBuilder,
  tumblingWindows,
  type WindowedKey,
  windowedCount,
  windowedKeySerde,
} from '@kstreams/core'
import { TopologyTestDriver } from '@kstreams/core/testing'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createPrometheusMetrics } from '../src/index.js'
import { sample } from './samples.js'

/** source → windowed count (window store "counts") → sink "out". */
function countTopology() {
  return new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.window('counts', { keySerde: serdes.string(), valueSerde: serdes.int32() }))
    .addProcessor(
      'count',
      { parents: ['in'], stores: ['counts'] },
      windowedCount<string, string>({ windows: tumblingWindows({ sizeMs: 10 }), store: 'counts' }),
    )
    .addSink('out', {
      topic: 'out',
      keySerde: windowedKeySerde(serdes.string()),
      valueSerde: serdes.int32(),
      parents: ['count'],
    })
    .build()
}

describe('metrics from core events', () => {
  it('counts processed records, end-to-end latency, store operations and late records of a windowed count', async () => {
    const metrics = createPrometheusMetrics()
    onTestFinished(() => metrics.close())
    const { registry } = metrics
    // The driver's clock stands still at 1 s, so each latency is 1 s minus the record timestamp.
    const driver = new TopologyTestDriver(countTopology(), { initialWallClockMs: 1000 })
    onTestFinished(() => driver.close())
    const input = driver.createInputTopic('in', serdes.string(), serdes.string())
    const output = driver.createOutputTopic('out', windowedKeySerde<string>(serdes.string()), serdes.int32())
    await input.pipeInput('a', 'x', 0)
    await input.pipeInput('a', 'x', 5)
    await input.pipeInput('b', 'x', 30)
    // Stream time 30 closed the window [0, 10) (no grace): this record is late and dropped.
    await input.pipeInput('a', 'x', 2)
    const results: Array<[WindowedKey<string>, number]> = output.readKeyValues()
    expect(results).toHaveLength(3)

    expect(
      await sample(registry, 'kstreams_processor_records_processed_total', {
        task: '0_0',
        processor: 'count',
      }),
    ).toBe(4)
    expect(await sample(registry, 'kstreams_processor_duration_seconds_count', { processor: 'count' })).toBe(
      4,
    )
    expect(await sample(registry, 'kstreams_processor_in_flight', { processor: 'count' })).toBe(0)
    expect(
      await sample(registry, 'kstreams_late_records_total', { store: 'counts', action: 'dropped' }),
    ).toBe(1)
    const latency = { sink: 'out', topic: 'out' }
    expect(await sample(registry, 'kstreams_end_to_end_latency_seconds_count', latency)).toBe(3)
    expect(await sample(registry, 'kstreams_end_to_end_latency_seconds_sum', latency)).toBeCloseTo(
      (1000 - 0 + 1000 - 5 + 1000 - 30) / 1000,
      9,
    )
    // Three records were counted into two windows. A window store counts the operations of the
    // key-value store under it: a window's first put writes the count and its time-index entry, a
    // later update of the same window the count only: 2 + 1 for a's window [0, 10), 2 for b's.
    expect(
      await sample(registry, 'kstreams_store_operations_total', { store: 'counts', operation: 'put' }),
    ).toBe(5)
    expect(
      await sample(registry, 'kstreams_store_operations_total', { store: 'counts', operation: 'get' }),
    ).toBeGreaterThanOrEqual(3)
  })
})
