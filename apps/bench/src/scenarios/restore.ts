// Restore rate: a count app builds a store of `records` distinct keys (one changelog record each),
// closes, and fresh instances of the same app restore the whole store from the changelog, into
// memory and into LMDB. The peer is a raw consumer reading the same changelog topic.
import {
  createTopics,
  deleteTopics,
  type OneShotResult,
  preload,
  type RunResult,
  runId,
  runOneShot,
  runSide,
} from '../harness.js'
import type { Scenario, ScenarioOptions } from './scenario.js'

export const restore: Scenario = {
  name: 'restore',
  description:
    'restore a store of N distinct keys from its changelog, memory and LMDB, vs a raw read of the changelog',
  async run(options: ScenarioOptions): Promise<RunResult[]> {
    const id = runId()
    const input = `bench-restore-in-${id}`
    const output = `bench-restore-out-${id}`
    const group = `bench-restore-${id}`
    const changelog = `${group}-counts-changelog`
    await createTopics([input, output], options.partitions)
    try {
      await preload(input, options.records, options.valueBytes, options.records)
      // Builds the store (and its changelog) of `records` keys; stopping it commits everything.
      await runSide({
        side: 'build',
        runner: './run-kstreams.js',
        input,
        output,
        records: options.records,
        valueBytes: options.valueBytes,
        latencyRecords: 0,
        latencyRate: options.latencyRate,
        env: { BENCH_MODE: 'count', BENCH_BACKEND: 'memory', BENCH_GROUP: group },
      })
      const restoreEnv = {
        BENCH_MODE: 'restore',
        BENCH_GROUP: group,
        BENCH_INPUT: input,
        BENCH_OUTPUT: output,
        BENCH_TASKS: String(options.partitions),
      }
      const sides: Array<[string, () => Promise<OneShotResult>]> = [
        [
          'raw read of the changelog',
          () =>
            runOneShot('./run-read.js', {
              BENCH_INPUT: changelog,
              BENCH_GROUP: `bench-read-${id}`,
              BENCH_RECORDS: String(options.records),
            }),
        ],
        [
          'kstreams restore, memory',
          () => runOneShot('./run-kstreams.js', { ...restoreEnv, BENCH_BACKEND: 'memory' }),
        ],
        [
          'kstreams restore, LMDB',
          () => runOneShot('./run-kstreams.js', { ...restoreEnv, BENCH_BACKEND: 'lmdb' }),
        ],
      ]
      const results: RunResult[] = []
      for (const [side, run] of sides) {
        const { records, seconds } = await run()
        results.push({
          side,
          records,
          seconds,
          recordsPerSecond: records / seconds,
          megabytesPerSecond: Number.NaN,
          cpuSecondsPer100k: Number.NaN,
          windowCpuSecondsPer100k: Number.NaN,
          brokerCpuSecondsPer100k: Number.NaN,
          latencyP50Ms: Number.NaN,
          latencyP99Ms: Number.NaN,
          peakRssMegabytes: Number.NaN,
        })
      }
      return results
    } finally {
      await deleteTopics([input, output, changelog]).catch(() => {})
    }
  },
}
