import { channel } from 'node:diagnostics_channel'
import { ConfigError } from '@kstreams/core'
import { Counter, Registry } from 'prom-client'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createPrometheusMetrics, defaultBuckets, type PrometheusMetricsOptions } from '../src/index.js'
import { publish, sample, seriesOf } from './samples.js'

const allChannels = [
  'kstreams:records:processed',
  'kstreams:records:produced',
  'kstreams:commit',
  'kstreams:rebalance',
  'kstreams:state',
  'kstreams:record:error',
  'kstreams:lag',
  'kstreams:restore',
  'kstreams:processor:processed',
  'kstreams:processor:in-flight',
  'kstreams:sink:record',
  'kstreams:store:operations',
  'kstreams:window:late',
  'kstreams:partition:progress',
  'kstreams:processor:retry',
  'kstreams:record:superseded',
]

/** Metrics closed when the test ends, so that no subscription outlives its test. */
function open(options?: PrometheusMetricsOptions) {
  const metrics = createPrometheusMetrics(options)
  onTestFinished(() => metrics.close())
  return metrics
}

describe('createPrometheusMetrics', () => {
  it('counts records processed per task and per processor, and times processors in seconds', async () => {
    const { registry } = open()
    publish('kstreams:records:processed', { taskId: '0_0', count: 3 })
    publish('kstreams:records:processed', { taskId: '0_0', count: 2 })
    publish('kstreams:records:processed', { taskId: '0_1', count: 7 })
    publish('kstreams:processor:processed', { taskId: '0_0', processor: 'enrich', durationMs: 2 })
    publish('kstreams:processor:processed', { taskId: '0_1', processor: 'enrich', durationMs: 30 })
    publish('kstreams:processor:processed', { taskId: '0_1', processor: 'count', durationMs: 0.02 })

    expect(await sample(registry, 'kstreams_records_processed_total', { task: '0_0' })).toBe(5)
    expect(await sample(registry, 'kstreams_records_processed_total', { task: '0_1' })).toBe(7)
    expect(
      await sample(registry, 'kstreams_processor_records_processed_total', {
        task: '0_1',
        processor: 'enrich',
      }),
    ).toBe(1)
    expect(
      await sample(registry, 'kstreams_processor_records_processed_total', {
        task: '0_1',
        processor: 'count',
      }),
    ).toBe(1)
    const enrich = { processor: 'enrich' }
    expect(await sample(registry, 'kstreams_processor_duration_seconds_count', enrich)).toBe(2)
    expect(await sample(registry, 'kstreams_processor_duration_seconds_sum', enrich)).toBeCloseTo(0.032, 9)
    // 2 ms falls in le=0.005, 30 ms only from le=0.05 on.
    expect(
      await sample(registry, 'kstreams_processor_duration_seconds_bucket', { ...enrich, le: '0.005' }),
    ).toBe(1)
    expect(
      await sample(registry, 'kstreams_processor_duration_seconds_bucket', { ...enrich, le: '0.05' }),
    ).toBe(2)
    expect(
      await sample(registry, 'kstreams_processor_duration_seconds_bucket', {
        processor: 'count',
        le: '0.00005',
      }),
    ).toBe(1)
  })

  it('counts records produced per topic', async () => {
    const { registry } = open()
    publish('kstreams:records:produced', { topic: 'out', count: 10 })
    publish('kstreams:records:produced', { topic: 'out', count: 5 })
    publish('kstreams:records:produced', { topic: 'app-counts-changelog', count: 4 })
    expect(await sample(registry, 'kstreams_records_produced_total', { topic: 'out' })).toBe(15)
    expect(await sample(registry, 'kstreams_records_produced_total', { topic: 'app-counts-changelog' })).toBe(
      4,
    )
  })

  it('observes end-to-end latency per sink and topic in seconds, a future timestamp as 0', async () => {
    const { registry } = open()
    publish('kstreams:sink:record', { taskId: '0_0', sink: 'output', topic: 'out', latencyMs: 1500 })
    publish('kstreams:sink:record', { taskId: '0_1', sink: 'output', topic: 'out', latencyMs: 500 })
    publish('kstreams:sink:record', { taskId: '0_1', sink: 'output', topic: 'out', latencyMs: -200 })
    const labels = { sink: 'output', topic: 'out' }
    expect(await sample(registry, 'kstreams_end_to_end_latency_seconds_count', labels)).toBe(3)
    expect(await sample(registry, 'kstreams_end_to_end_latency_seconds_sum', labels)).toBeCloseTo(2, 9)
    expect(
      await sample(registry, 'kstreams_end_to_end_latency_seconds_bucket', { ...labels, le: '0.001' }),
    ).toBe(1)
    expect(await sample(registry, 'kstreams_end_to_end_latency_seconds_bucket', { ...labels, le: '1' })).toBe(
      2,
    )
  })

  it('sets the lag per partition and removes it when the partition is revoked, lost or the app stops', async () => {
    const { registry } = open()
    publish('kstreams:lag', { topic: 'in', partition: 0, lag: 120n })
    publish('kstreams:lag', { topic: 'in', partition: 0, lag: 20n })
    publish('kstreams:lag', { topic: 'in', partition: 1, lag: 0n })
    publish('kstreams:lag', { topic: 'in', partition: 2, lag: 9_007_199_254_740_993n })
    expect(await sample(registry, 'kstreams_consumer_lag', { topic: 'in', partition: '0' })).toBe(20)
    expect(await sample(registry, 'kstreams_consumer_lag', { topic: 'in', partition: '1' })).toBe(0)
    expect(await sample(registry, 'kstreams_consumer_lag', { topic: 'in', partition: '2' })).toBe(2 ** 53)

    publish('kstreams:rebalance', { kind: 'revoked', partitions: [{ topic: 'in', partition: 0 }] })
    publish('kstreams:rebalance', { kind: 'lost', partitions: [{ topic: 'in', partition: 1 }] })
    expect(await seriesOf(registry, 'kstreams_consumer_lag')).toEqual([{ topic: 'in', partition: '2' }])
    publish('kstreams:state', { from: 'running', to: 'not-running' })
    expect(await seriesOf(registry, 'kstreams_consumer_lag')).toEqual([])
  })

  it('exports where each partition stands, counts retries and superseded records, and forgets revoked partitions', async () => {
    const { registry } = open()
    const progress = (partition: number, headOfLine: unknown) => ({
      taskId: `0_${partition}`,
      topic: 'in',
      partition,
      inFlight: 5,
      running: 2,
      retrying: 1,
      waiting: 2,
      buffered: 10,
      position: 40n,
      completed: 300,
      mapCharacters: 17,
      heldBack: partition === 1,
      headOfLine,
    })
    publish(
      'kstreams:partition:progress',
      progress(0, { offset: 40n, key: null, state: 'retrying', attempt: 3, ageMs: 2500 }),
    )
    publish('kstreams:partition:progress', progress(1, undefined))
    const at = (partition: number) => ({ topic: 'in', partition: String(partition) })
    expect(await sample(registry, 'kstreams_partition_in_flight', at(0))).toBe(5)
    expect(await sample(registry, 'kstreams_partition_retrying', at(0))).toBe(1)
    expect(await sample(registry, 'kstreams_partition_waiting', at(0))).toBe(2)
    expect(await sample(registry, 'kstreams_partition_completed_offsets', at(0))).toBe(300)
    expect(await sample(registry, 'kstreams_partition_completed_map_characters', at(0))).toBe(17)
    expect(await sample(registry, 'kstreams_partition_held_back', at(0))).toBe(0)
    expect(await sample(registry, 'kstreams_partition_held_back', at(1))).toBe(1)
    expect(await sample(registry, 'kstreams_partition_head_of_line_age_seconds', at(0))).toBe(2.5)
    expect(await sample(registry, 'kstreams_partition_head_of_line_attempt', at(0))).toBe(3)
    expect(await sample(registry, 'kstreams_partition_head_of_line_attempt', at(1))).toBe(0)
    publish('kstreams:processor:retry', { taskId: '0_0', processor: 'enrich', attempt: 1, delayMs: 100 })
    publish('kstreams:processor:retry', { taskId: '0_0', processor: 'enrich', attempt: 2, delayMs: 200 })
    publish('kstreams:record:superseded', {
      taskId: '0_0',
      topic: 'in',
      partition: 0,
      offset: 3n,
      newerOffset: 4n,
    })
    expect(await sample(registry, 'kstreams_processor_retries_total', { processor: 'enrich' })).toBe(2)
    expect(await sample(registry, 'kstreams_records_superseded_total', { topic: 'in' })).toBe(1)
    publish('kstreams:rebalance', { kind: 'revoked', partitions: [{ topic: 'in', partition: 0 }] })
    expect(await seriesOf(registry, 'kstreams_partition_in_flight')).toEqual([at(1)])
    publish('kstreams:state', { from: 'running', to: 'error' })
    expect(await seriesOf(registry, 'kstreams_partition_head_of_line_age_seconds')).toEqual([])
  })

  it('counts commits and observes their duration in seconds', async () => {
    const { registry } = open()
    publish('kstreams:commit', { durationMs: 40, partitions: 2 })
    publish('kstreams:commit', { durationMs: 260, partitions: 0 })
    expect(await sample(registry, 'kstreams_commits_total')).toBe(2)
    expect(await sample(registry, 'kstreams_commit_duration_seconds_count')).toBe(2)
    expect(await sample(registry, 'kstreams_commit_duration_seconds_sum')).toBeCloseTo(0.3, 9)
    expect(await sample(registry, 'kstreams_commit_duration_seconds_bucket', { le: '0.05' })).toBe(1)
  })

  it('counts rebalances per kind', async () => {
    const { registry } = open()
    const partitions = [{ topic: 'in', partition: 0 }]
    publish('kstreams:rebalance', { kind: 'assigned', partitions })
    publish('kstreams:rebalance', { kind: 'revoked', partitions })
    publish('kstreams:rebalance', { kind: 'assigned', partitions })
    publish('kstreams:rebalance', { kind: 'lost', partitions })
    expect(await sample(registry, 'kstreams_rebalances_total', { kind: 'assigned' })).toBe(2)
    expect(await sample(registry, 'kstreams_rebalances_total', { kind: 'revoked' })).toBe(1)
    expect(await sample(registry, 'kstreams_rebalances_total', { kind: 'lost' })).toBe(1)
  })

  it('exports 1 for the current application state and 0 for the others', async () => {
    const { registry } = open()
    const states = async () =>
      Object.fromEntries(
        (await registry.getMetricsAsJSON())
          .find((metric) => metric.name === 'kstreams_state')!
          .values.map((value) => [value.labels.state, value.value]),
      )
    expect(await states()).toEqual({
      created: 0,
      rebalancing: 0,
      running: 0,
      degraded: 0,
      'pending-shutdown': 0,
      'not-running': 0,
      error: 0,
    })
    publish('kstreams:state', { from: 'created', to: 'rebalancing' })
    publish('kstreams:state', { from: 'rebalancing', to: 'running' })
    expect(await sample(registry, 'kstreams_state', { state: 'running' })).toBe(1)
    expect(await sample(registry, 'kstreams_state', { state: 'rebalancing' })).toBe(0)
    publish('kstreams:state', { from: 'running', to: 'degraded' })
    expect(await sample(registry, 'kstreams_state', { state: 'degraded' })).toBe(1)
    expect(await sample(registry, 'kstreams_state', { state: 'running' })).toBe(0)
    publish('kstreams:state', { from: 'degraded', to: 'running' })
    publish('kstreams:state', { from: 'running', to: 'rebalancing' })
    expect(await sample(registry, 'kstreams_state', { state: 'running' })).toBe(0)
    expect(await sample(registry, 'kstreams_state', { state: 'rebalancing' })).toBe(1)
    // A state a later core adds still gets its series, and the others drop to 0.
    publish('kstreams:state', { from: 'rebalancing', to: 'suspended' })
    const now = await states()
    expect(now.suspended).toBe(1)
    expect(Object.values(now).reduce((sum: number, value) => sum + Number(value), 0)).toBe(1)
  })

  it('follows restores: running totals become counters, in progress from start to end, the duration', async () => {
    const { registry } = open()
    const labels = { task: '0_1', store: 'counts' }
    publish('kstreams:restore', {
      phase: 'start',
      taskId: '0_1',
      store: 'counts',
      topic: 'app-counts-changelog',
      partition: 1,
      startOffset: 0n,
      endOffset: 40n,
    })
    expect(await sample(registry, 'kstreams_restores_in_progress', { store: 'counts' })).toBe(1)
    publish('kstreams:restore', {
      phase: 'batch',
      taskId: '0_1',
      store: 'counts',
      records: 10,
      skipped: 2,
      offset: 11n,
    })
    publish('kstreams:restore', {
      phase: 'batch',
      taskId: '0_1',
      store: 'counts',
      records: 25,
      skipped: 2,
      offset: 27n,
    })
    expect(await sample(registry, 'kstreams_restored_records_total', labels)).toBe(25)
    expect(await sample(registry, 'kstreams_restore_skipped_records_total', labels)).toBe(2)
    publish('kstreams:restore', {
      phase: 'end',
      taskId: '0_1',
      store: 'counts',
      records: 30,
      skipped: 3,
      durationMs: 1500,
    })
    expect(await sample(registry, 'kstreams_restored_records_total', labels)).toBe(30)
    expect(await sample(registry, 'kstreams_restore_skipped_records_total', labels)).toBe(3)
    expect(await sample(registry, 'kstreams_restores_in_progress', { store: 'counts' })).toBe(0)
    expect(await sample(registry, 'kstreams_restore_duration_seconds_count', { store: 'counts' })).toBe(1)
    expect(await sample(registry, 'kstreams_restore_duration_seconds_sum', { store: 'counts' })).toBe(1.5)

    // A second restore of the same store starts its running totals from 0 again.
    publish('kstreams:restore', { phase: 'start', taskId: '0_1', store: 'counts' })
    publish('kstreams:restore', {
      phase: 'end',
      taskId: '0_1',
      store: 'counts',
      records: 4,
      skipped: 0,
      durationMs: 5,
    })
    expect(await sample(registry, 'kstreams_restored_records_total', labels)).toBe(34)
  })

  it('stops counting a restore in progress when the app stops, since a failed restore publishes no end', async () => {
    const { registry } = open()
    publish('kstreams:restore', { phase: 'start', taskId: '0_0', store: 'counts' })
    publish('kstreams:restore', { phase: 'start', taskId: '0_1', store: 'counts' })
    expect(await sample(registry, 'kstreams_restores_in_progress', { store: 'counts' })).toBe(2)
    publish('kstreams:state', { from: 'running', to: 'error' })
    expect(await sample(registry, 'kstreams_restores_in_progress', { store: 'counts' })).toBe(0)
  })

  it('counts store operations per store and operation', async () => {
    const { registry } = open()
    publish('kstreams:store:operations', {
      taskId: '0_0',
      store: 'counts',
      gets: 5,
      puts: 4,
      deletes: 1,
      scans: 0,
    })
    publish('kstreams:store:operations', {
      taskId: '0_1',
      store: 'counts',
      gets: 2,
      puts: 2,
      deletes: 0,
      scans: 1,
    })
    const count = (operation: string) =>
      sample(registry, 'kstreams_store_operations_total', { store: 'counts', operation })
    expect(await count('get')).toBe(7)
    expect(await count('put')).toBe(6)
    expect(await count('delete')).toBe(1)
    expect(await count('scan')).toBe(1)
  })

  it('counts record errors per stage and policy, and dead-letter writes', async () => {
    const { registry } = open()
    const at = { taskId: '0_0', topic: 'in', partition: 0, offset: 4n, error: new Error('bad') }
    publish('kstreams:record:error', { ...at, stage: 'processing', policy: 'dead-letter' })
    publish('kstreams:record:error', { ...at, stage: 'deserialization', policy: 'dead-letter' })
    publish('kstreams:record:error', { ...at, stage: 'processing', policy: 'continue' })
    publish('kstreams:record:error', { ...at, stage: 'processing', policy: 'fail' })
    expect(
      await sample(registry, 'kstreams_record_errors_total', { stage: 'processing', policy: 'dead-letter' }),
    ).toBe(1)
    expect(
      await sample(registry, 'kstreams_record_errors_total', { stage: 'processing', policy: 'continue' }),
    ).toBe(1)
    expect(
      await sample(registry, 'kstreams_record_errors_total', { stage: 'processing', policy: 'fail' }),
    ).toBe(1)
    expect(await sample(registry, 'kstreams_dead_letter_records_total', { stage: 'processing' })).toBe(1)
    expect(await sample(registry, 'kstreams_dead_letter_records_total', { stage: 'deserialization' })).toBe(1)
  })

  it('counts late records per window store and action', async () => {
    const { registry } = open()
    const late = { taskId: '0_0', store: 'clicks-per-minute', topic: 'in', partition: 0, offset: 9n }
    publish('kstreams:window:late', { ...late, action: 'dropped' })
    publish('kstreams:window:late', { ...late, action: 'dropped' })
    publish('kstreams:window:late', { ...late, action: 'forwarded' })
    const count = (action: string) =>
      sample(registry, 'kstreams_late_records_total', { store: 'clicks-per-minute', action })
    expect(await count('dropped')).toBe(2)
    expect(await count('forwarded')).toBe(1)
  })

  it('adds up in-flight deltas per processor', async () => {
    const { registry } = open()
    const lookup = { taskId: '0_0', processor: 'lookup' }
    publish('kstreams:processor:in-flight', { ...lookup, delta: 1 })
    publish('kstreams:processor:in-flight', { ...lookup, taskId: '0_1', delta: 1 })
    publish('kstreams:processor:in-flight', { ...lookup, delta: 1 })
    publish('kstreams:processor:in-flight', { ...lookup, delta: -1 })
    expect(await sample(registry, 'kstreams_processor_in_flight', { processor: 'lookup' })).toBe(2)
    publish('kstreams:processor:in-flight', { ...lookup, delta: -1 })
    publish('kstreams:processor:in-flight', { ...lookup, taskId: '0_1', delta: -1 })
    expect(await sample(registry, 'kstreams_processor_in_flight', { processor: 'lookup' })).toBe(0)
  })

  it('unsubscribes on close: later events change nothing and no channel keeps a subscriber', async () => {
    const metrics = createPrometheusMetrics()
    for (const name of allChannels) expect(channel(name).hasSubscribers, name).toBe(true)
    publish('kstreams:records:processed', { taskId: '0_0', count: 1 })
    publish('kstreams:state', { from: 'created', to: 'running' })
    await metrics.close()
    const before = await metrics.registry.metrics()

    publish('kstreams:records:processed', { taskId: '0_0', count: 1 })
    publish('kstreams:state', { from: 'running', to: 'error' })
    publish('kstreams:commit', { durationMs: 1, partitions: 1 })
    publish('kstreams:processor:in-flight', { taskId: '0_0', processor: 'p', delta: 1 })
    for (const name of allChannels) expect(channel(name).hasSubscribers, name).toBe(false)
    expect(await metrics.registry.metrics()).toBe(before)
    expect(await sample(metrics.registry, 'kstreams_records_processed_total', { task: '0_0' })).toBe(1)
    // Closing again is harmless.
    await metrics.close()
  })

  it('keeps two instances independent, and one closing leaves the other subscribed', async () => {
    const first = open()
    const second = open()
    publish('kstreams:records:produced', { topic: 'out', count: 2 })
    await first.close()
    publish('kstreams:records:produced', { topic: 'out', count: 3 })
    expect(await sample(first.registry, 'kstreams_records_produced_total', { topic: 'out' })).toBe(2)
    expect(await sample(second.registry, 'kstreams_records_produced_total', { topic: 'out' })).toBe(5)
  })

  it('drops a malformed message instead of throwing into the publisher', async () => {
    const { registry } = open()
    expect(() => publish('kstreams:records:processed', null)).not.toThrow()
    expect(() => publish('kstreams:restore', undefined)).not.toThrow()
    publish('kstreams:records:processed', { taskId: '0_0', count: 1 })
    expect(await sample(registry, 'kstreams_records_processed_total', { task: '0_0' })).toBe(1)
  })

  it('registers into an existing registry with a prefix and static labels, leaving its metrics alone', async () => {
    const registry = new Registry()
    const requests = new Counter({ name: 'http_requests_total', help: 'Requests.', registers: [registry] })
    requests.inc()
    const metrics = open({
      registry,
      prefix: 'orders_streams_',
      labels: { application: 'orders', zone: 'a' },
    })
    expect(metrics.registry).toBe(registry)
    publish('kstreams:records:processed', { taskId: '0_0', count: 3 })
    publish('kstreams:commit', { durationMs: 10, partitions: 1 })
    publish('kstreams:state', { from: 'created', to: 'running' })

    expect(await registry.getSingleMetricAsString('orders_streams_records_processed_total')).toContain(
      'orders_streams_records_processed_total{application="orders",zone="a",task="0_0"} 3',
    )
    expect(await registry.getSingleMetricAsString('orders_streams_commits_total')).toContain(
      'orders_streams_commits_total{application="orders",zone="a"} 1',
    )
    expect(await registry.getSingleMetricAsString('orders_streams_state')).toContain(
      'orders_streams_state{application="orders",zone="a",state="running"} 1',
    )
    expect(await registry.getSingleMetricAsString('http_requests_total')).toContain('http_requests_total 1')
    expect(registry.getSingleMetric('kstreams_records_processed_total')).toBeUndefined()
    expect(await registry.metrics()).toContain('# HELP orders_streams_end_to_end_latency_seconds ')
  })

  it('throws on a name already in the registry and leaves none of its own metrics registered', () => {
    const registry = new Registry()
    new Counter({ name: 'kstreams_commits_total', help: 'Taken.', registers: [registry] })
    expect(() => createPrometheusMetrics({ registry })).toThrow(/kstreams_commits_total/)
    expect(registry.getMetricsAsArray().map((metric) => metric.name)).toEqual(['kstreams_commits_total'])
    for (const name of allChannels) expect(channel(name).hasSubscribers, name).toBe(false)
  })

  it('rejects static labels that are invalid or that the metrics use themselves', () => {
    expect(() => createPrometheusMetrics({ labels: { 'app-name': 'x' } })).toThrow(ConfigError)
    expect(() => createPrometheusMetrics({ labels: { __name: 'x' } })).toThrow(ConfigError)
    expect(() => createPrometheusMetrics({ labels: { task: 'x' } })).toThrow(/task/)
    expect(() => createPrometheusMetrics({ labels: { le: 'x' } })).toThrow(ConfigError)
    for (const name of allChannels) expect(channel(name).hasSubscribers, name).toBe(false)
  })

  it('uses bucket overrides and keeps the defaults of the others', async () => {
    const { registry } = open({ buckets: { processing: [0.5, 1] } })
    publish('kstreams:processor:processed', { taskId: '0_0', processor: 'p', durationMs: 700 })
    publish('kstreams:commit', { durationMs: 1, partitions: 1 })
    const bounds = async (name: string) =>
      (await seriesOf(registry, name)).map((labels) => labels.le).filter((bound) => bound !== '+Inf')
    expect(await bounds('kstreams_processor_duration_seconds_bucket')).toEqual(['0.5', '1'])
    expect(
      await sample(registry, 'kstreams_processor_duration_seconds_bucket', { processor: 'p', le: '1' }),
    ).toBe(1)
    expect(await bounds('kstreams_commit_duration_seconds_bucket')).toEqual(defaultBuckets.commit.map(String))
  })
})
