// The DSL's cost on a join: the same stream–table left join (each record enriched with its key's
// row from a changelogged table) built with the DSL and by hand in the Processor API, on the same
// input, in one run.
import { createTopics, deleteTopics, preload, type RunResult, runId, runSide } from '../harness.js'
import { kstreamsRunnerSettings, type Scenario, type ScenarioOptions } from './scenario.js'

/** Distinct keys of the stream, and rows of the table (one per key). */
const KEYS = 10_000

export const join: Scenario = {
  name: 'join',
  description:
    'stream–table left join (each record enriched with its key’s row from a changelogged table) in the Processor API and in the DSL',
  async run(options: ScenarioOptions): Promise<RunResult[]> {
    const id = runId()
    const input = `bench-join-in-${id}`
    const table = `bench-join-table-${id}`
    const runs = [
      { side: 'kstreams stream–table join, Processor API', mode: 'join-processor-api' },
      { side: 'kstreams stream–table join, DSL', mode: 'join-dsl' },
    ]
      .map((side, index) => ({
        ...side,
        output: `bench-join-out-${index}-${id}`,
        group: `bench-join-${index}-${id}`,
      }))
      .filter(({ side }) => !options.sides || options.sides.includes(side))
    const internal = runs.map(({ group }) => `${group}-rows-changelog`)
    await createTopics([input, table, ...runs.map(({ output }) => output)], options.partitions)
    try {
      // The table first, so its rows have the older timestamps and are read before the stream.
      await preload(table, KEYS, 64, KEYS)
      await preload(input, options.records, options.valueBytes, KEYS)
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
            env: { ...settings.env, BENCH_MODE: mode, BENCH_GROUP: group, BENCH_TABLE: table },
          }),
        )
      }
      return results
    } finally {
      await deleteTopics([input, table, ...runs.map(({ output }) => output)]).catch(() => {})
      await deleteTopics(internal).catch(() => {})
    }
  },
}
