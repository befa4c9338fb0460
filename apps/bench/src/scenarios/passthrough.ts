// Stateless pass-through: source → mapValues → sink over a 12-partition topic, kstreams next to a
// raw @platformatic/kafka consume → produce loop doing the same mapping, on the same input.
import { createTopics, deleteTopics, preload, type RunResult, runId, runSide } from '../harness.js'
import type { Scenario, ScenarioOptions } from './scenario.js'

export const passthrough: Scenario = {
  name: 'passthrough',
  description: 'source → mapValues → sink, kstreams vs a raw @platformatic/kafka loop',
  async run(options: ScenarioOptions): Promise<RunResult[]> {
    const id = runId()
    const input = `bench-passthrough-in-${id}`
    const outputs = { raw: `bench-passthrough-raw-${id}`, kstreams: `bench-passthrough-kstreams-${id}` }
    await createTopics([input, outputs.raw, outputs.kstreams], options.partitions)
    try {
      await preload(input, options.records, options.valueBytes)
      const results: RunResult[] = []
      for (const side of ['raw', 'kstreams'] as const) {
        results.push(
          await runSide({
            side,
            runner: side === 'raw' ? './run-raw.js' : './run-kstreams.js',
            input,
            output: outputs[side],
            records: options.records,
            valueBytes: options.valueBytes,
            latencyRecords: options.latencyRecords,
            latencyRate: options.latencyRate,
            env: { BENCH_MODE: 'passthrough' },
          }),
        )
      }
      return results
    } finally {
      await deleteTopics([input, outputs.raw, outputs.kstreams]).catch(() => {})
    }
  },
}
