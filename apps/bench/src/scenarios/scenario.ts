import type { RunResult } from '../harness.js'

export interface ScenarioOptions {
  records: number
  valueBytes: number
  partitions: number
  /** Records of the latency phase, produced at `latencyRate` per second. */
  latencyRecords: number
  latencyRate: number
}

export interface Scenario {
  name: string
  description: string
  /** Runs every side of the scenario on the same data; the first result is the peer. */
  run(options: ScenarioOptions): Promise<RunResult[]>
}
