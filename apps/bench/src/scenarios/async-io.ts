// Async I/O: every record awaits a simulated remote call (10 ms) in a processor, then goes to the
// sink. With one record in flight per task (`partition` mode), tasks that run concurrently reach
// about partitions ÷ call time; a runtime that awaits one record at a time over all tasks reaches
// 1 ÷ call time. The peer is the same runner on an older build of @kstreams/core (--before-core).
import { createTopics, deleteTopics, preload, type RunResult, runId, runSide } from '../harness.js'
import { runJavaAsyncIoSides } from '../java-sides.js'
import { kstreamsRunnerSettings, type Scenario, type ScenarioOptions } from './scenario.js'

export const asyncIo: Scenario = {
  name: 'async-io',
  description: 'source → processor awaiting a simulated 10 ms remote call → sink, kstreams before and after',
  async run(options: ScenarioOptions): Promise<RunResult[]> {
    const id = runId()
    const input = `bench-async-io-in-${id}`
    const sides = [
      ...(options.beforeCorePath
        ? [
            {
              side: 'kstreams before',
              records: Math.min(options.records, options.beforeRecords ?? options.records),
              corePath: options.beforeCorePath,
            },
          ]
        : []),
      { side: 'kstreams', records: options.records, corePath: undefined, concurrency: 'partition' },
      // Key-parallel sides at the peers' concurrency: 256 records in flight in the process.
      { side: 'kstreams key', records: options.records, corePath: undefined, concurrency: 'key' },
      { side: 'kstreams unordered', records: options.records, corePath: undefined, concurrency: 'unordered' },
      // The same key-mode call, then a count per key in a store with a changelog.
      {
        side: 'kstreams key + count',
        records: options.records,
        corePath: undefined,
        concurrency: 'key',
        state: true,
      },
    ]
      .filter(({ side }) => !options.sides || options.sides.includes(side))
      .map((side, index) => ({ ...side, output: `bench-async-io-out-${index}-${id}` }))
    const topics = [input, ...sides.map(({ output }) => output)]
    await createTopics(topics, options.partitions)
    try {
      await preload(input, options.records, options.valueBytes, 10_000)
      const results: RunResult[] = []
      for (const [index, { side, records, corePath, output, concurrency, state }] of sides.entries()) {
        const settings = kstreamsRunnerSettings(options, corePath)
        results.push(
          await runSide({
            side,
            runner: './run-kstreams.js',
            input,
            output,
            records,
            valueBytes: options.valueBytes,
            // A fixed-rate latency phase would measure the queue behind a rate the side cannot
            // reach (2000/s against 100 or 1200 records/s), not its latency.
            latencyRecords: 0,
            latencyRate: options.latencyRate,
            ...settings,
            env: {
              ...settings.env,
              BENCH_MODE: 'async-io',
              BENCH_ASYNC_MS: String(options.asyncMs),
              BENCH_CONCURRENCY: concurrency ?? 'partition',
              BENCH_MAX_IN_FLIGHT: '256',
              BENCH_ASYNC_STATE: state ? '1' : '0',
              BENCH_GROUP: `bench-async-io-${index}-${id}`,
            },
          }),
        )
      }
      results.push(...(await runJavaAsyncIoSides(options, input, id)))
      return results
    } finally {
      await deleteTopics(topics).catch(() => {})
    }
  },
}
