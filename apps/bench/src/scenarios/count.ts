// Stateful count: records per key counted in a key-value store (in memory, then LMDB), each new
// count written to the output, next to a raw loop counting in a Map (no durability) and to the
// stateless kstreams pass-through, all on the same input.
import { createTopics, deleteTopics, preload, type RunResult, runId, runSide } from '../harness.js'
import { kstreamsRunnerSettings, type Scenario, type ScenarioOptions } from './scenario.js'

// Kafka Streams (apps/bench/java, run by run-java.ts): the same topologies and byte formats.
const kafkaStreamsCountSides = (
  [
    { side: 'Kafka Streams count, memory', env: { BENCH_MODE: 'count', BENCH_BACKEND: 'memory' } },
    { side: 'Kafka Streams count, RocksDB', env: { BENCH_MODE: 'count', BENCH_BACKEND: 'rocksdb' } },
    { side: 'Kafka Streams windowed count (1-min tumbling), memory', env: { BENCH_MODE: 'windowed-count' } },
    // Two stream threads: Kafka Streams' own way to use the second core (next to kstreams ×2 processes).
    {
      side: 'Kafka Streams count ×2 threads, memory',
      env: { BENCH_MODE: 'count', BENCH_BACKEND: 'memory', BENCH_STREAM_THREADS: '2' },
    },
    {
      side: 'Kafka Streams windowed count ×2 threads, memory',
      env: { BENCH_MODE: 'windowed-count', BENCH_STREAM_THREADS: '2' },
    },
  ] as Array<{ side: string; env: Record<string, string> }>
).map(({ side, env }) => ({
  side,
  runner: './run-java.js',
  env: { ...env, BENCH_JAVA_PEER: 'kafka-streams' },
}))

export const count: Scenario = {
  name: 'count',
  description:
    'count per key (100k keys) in a changelogged store (memory, LMDB) and per key and 1-minute window, vs a raw loop counting in a Map, with the stateless pass-through',
  async run(options: ScenarioOptions): Promise<RunResult[]> {
    const id = runId()
    const input = `bench-count-in-${id}`
    const sides: Array<{ side: string; runner: string; env: Record<string, string>; instances?: number }> = [
      { side: 'raw count (Map)', runner: './run-raw.js', env: { BENCH_MODE: 'count' } },
      {
        side: 'kstreams count, memory',
        runner: './run-kstreams.js',
        env: { BENCH_MODE: 'count', BENCH_BACKEND: 'memory' },
      },
      {
        side: 'kstreams count, LMDB',
        runner: './run-kstreams.js',
        env: { BENCH_MODE: 'count', BENCH_BACKEND: 'lmdb' },
      },
      {
        side: 'kstreams windowed count (1-min tumbling), memory',
        runner: './run-kstreams.js',
        env: { BENCH_MODE: 'windowed-count' },
      },
      { side: 'kstreams pass-through', runner: './run-kstreams.js', env: { BENCH_MODE: 'passthrough' } },
      // Two processes of one application on this host (6 partitions each): kstreams' way to use the second core.
      {
        side: 'kstreams count ×2 processes, memory',
        runner: './run-kstreams.js',
        env: { BENCH_MODE: 'count', BENCH_BACKEND: 'memory' },
        instances: 2,
      },
      {
        side: 'kstreams windowed count ×2 processes, memory',
        runner: './run-kstreams.js',
        env: { BENCH_MODE: 'windowed-count' },
        instances: 2,
      },
      ...kafkaStreamsCountSides,
      // The LMDB package imports the current core, so only the in-memory count runs on the older one.
      ...(options.beforeCorePath
        ? [
            {
              side: 'kstreams count, memory, before',
              runner: './run-kstreams.js',
              env: { BENCH_MODE: 'count', BENCH_BACKEND: 'memory', BENCH_CORE_PATH: options.beforeCorePath },
            },
            {
              side: 'kstreams windowed count (1-min tumbling), memory, before',
              runner: './run-kstreams.js',
              env: { BENCH_MODE: 'windowed-count', BENCH_CORE_PATH: options.beforeCorePath },
            },
          ]
        : []),
    ]
    const runs = sides
      .map((side, index) => ({
        ...side,
        output: `bench-count-out-${index}-${id}`,
        group: `bench-count-${index}-${id}`,
      }))
      .filter(({ side }) => !options.sides || options.sides.includes(side))
    const changelogs = runs.map(({ group }) => `${group}-counts-changelog`)
    await createTopics([input, ...runs.map(({ output }) => output)], options.partitions)
    try {
      await preload(input, options.records, options.valueBytes, 100_000)
      const results: RunResult[] = []
      for (const { side, runner, env, output, group, instances } of runs) {
        const settings =
          runner === './run-kstreams.js'
            ? kstreamsRunnerSettings(options)
            : { env: {}, nodeArguments: [], rssCurve: options.rssCurve }
        results.push(
          await runSide({
            side,
            runner,
            input,
            output,
            records: options.records,
            valueBytes: options.valueBytes,
            latencyRecords: options.latencyRecords,
            latencyRate: options.latencyRate,
            ...settings,
            ...(instances ? { instances } : {}),
            env: { ...settings.env, ...env, BENCH_GROUP: group },
          }),
        )
      }
      return results
    } finally {
      await deleteTopics([input, ...runs.map(({ output }) => output)]).catch(() => {})
      await deleteTopics(changelogs).catch(() => {})
    }
  },
}
