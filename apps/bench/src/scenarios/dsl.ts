// The DSL's cost: the same word count (re-key, repartition, count in a changelogged store, write
// int64 counts) built with the DSL and by hand in the Processor API, on the same input, in one run.
import { createTopics, deleteTopics, preload, type RunResult, runId, runSide } from '../harness.js'
import { kstreamsRunnerSettings, type Scenario, type ScenarioOptions } from './scenario.js'

export const dsl: Scenario = {
  name: 'dsl',
  description:
    'word count (re-key through a repartition topic, count per word in a changelogged store) in the Processor API and in the DSL',
  async run(options: ScenarioOptions): Promise<RunResult[]> {
    const id = runId()
    const input = `bench-dsl-in-${id}`
    const runs = [
      { side: 'kstreams word count, Processor API', mode: 'word-count-processor-api' },
      { side: 'kstreams word count, DSL', mode: 'word-count-dsl' },
    ]
      .map((side, index) => ({
        ...side,
        output: `bench-dsl-out-${index}-${id}`,
        group: `bench-dsl-${index}-${id}`,
      }))
      .filter(({ side }) => !options.sides || options.sides.includes(side))
    const internal = runs.flatMap(({ group }) => [`${group}-counts-changelog`, `${group}-words-repartition`])
    await createTopics([input, ...runs.map(({ output }) => output)], options.partitions)
    try {
      await preload(input, options.records, options.valueBytes, 100_000)
      const results: RunResult[] = []
      for (const { side, mode, output, group } of runs) {
        const settings = kstreamsRunnerSettings(options)
        results.push(
          await runSide({
            side,
            runner: './run-kstreams.js',
            input,
            output,
            records: options.records,
            valueBytes: options.valueBytes,
            latencyRecords: options.latencyRecords,
            latencyRate: options.latencyRate,
            ...settings,
            env: { ...settings.env, BENCH_MODE: mode, BENCH_GROUP: group },
          }),
        )
      }
      return results
    } finally {
      await deleteTopics([input, ...runs.map(({ output }) => output)]).catch(() => {})
      await deleteTopics(internal).catch(() => {})
    }
  },
}
