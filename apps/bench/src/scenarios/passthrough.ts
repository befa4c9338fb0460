// Stateless pass-through: source → mapValues → sink over a 12-partition topic, kstreams next to a
// raw @platformatic/kafka consume → produce loop doing the same mapping, on the same input. With
// --before-core, the same kstreams runner on an older build of @kstreams/core runs too.
// `backlog` is the same run on a large preloaded backlog, for memory: RSS sampled every second.
import { createTopics, deleteTopics, preload, type RunResult, runId, runSide } from '../harness.js'
import { kstreamsRunnerSettings, type Scenario, type ScenarioOptions } from './scenario.js'

async function runPassthrough(
  name: string,
  options: ScenarioOptions,
  phases: { latencyRecords: number; rssCurve: boolean },
): Promise<RunResult[]> {
  const id = runId()
  const input = `bench-${name}-in-${id}`
  const declared: Array<{ side: string; runner: string; corePath: string | undefined; instances?: number }> =
    [
      { side: 'raw', runner: './run-raw.js', corePath: undefined },
      { side: 'kstreams', runner: './run-kstreams.js', corePath: undefined },
      ...(name === 'passthrough'
        ? [
            // Two processes of one application on this host: what a second process buys on 2 cores.
            { side: 'kstreams ×2 processes', runner: './run-kstreams.js', corePath: undefined, instances: 2 },
            { side: 'Kafka Streams', runner: './run-java.js', corePath: undefined },
          ]
        : []),
      ...(options.beforeCorePath
        ? [{ side: 'kstreams before', runner: './run-kstreams.js', corePath: options.beforeCorePath }]
        : []),
    ]
  const sides = declared
    .map((side, index) => ({
      ...side,
      output: `bench-${name}-out-${index}-${id}`,
      group: `bench-${name}-${index}-${id}`,
    }))
    .filter(({ side }) => !options.sides || options.sides.includes(side))
  const topics = [input, ...sides.map(({ output }) => output)]
  await createTopics(topics, options.partitions)
  try {
    await preload(input, options.records, options.valueBytes)
    const results: RunResult[] = []
    for (const { side, runner, corePath, output, group, instances } of sides) {
      const settings =
        runner === './run-kstreams.js'
          ? kstreamsRunnerSettings(options, corePath)
          : { env: {}, nodeArguments: [], rssCurve: options.rssCurve }
      results.push(
        await runSide({
          side,
          runner,
          input,
          output,
          records: options.records,
          valueBytes: options.valueBytes,
          latencyRecords: phases.latencyRecords,
          latencyRate: options.latencyRate,
          ...(instances ? { instances } : {}),
          ...settings,
          rssCurve: settings.rssCurve || phases.rssCurve,
          env: { ...settings.env, BENCH_MODE: 'passthrough', BENCH_GROUP: group },
        }),
      )
    }
    return results
  } finally {
    await deleteTopics(topics).catch(() => {})
  }
}

export const passthrough: Scenario = {
  name: 'passthrough',
  description: 'source → mapValues → sink, kstreams vs a raw @platformatic/kafka loop',
  run: (options) =>
    runPassthrough('passthrough', options, { latencyRecords: options.latencyRecords, rssCurve: false }),
}

export const backlog: Scenario = {
  name: 'backlog',
  description: 'pass-through draining a large preloaded backlog, RSS sampled every second, vs the raw loop',
  defaultRecords: 10_000_000,
  // The latency phase is left out: this scenario is about memory while draining.
  run: (options) => runPassthrough('backlog', options, { latencyRecords: 0, rssCurve: true }),
}
