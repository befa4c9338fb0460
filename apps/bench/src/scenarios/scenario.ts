import type { RunResult } from '../harness.js'

export interface ScenarioOptions {
  records: number
  valueBytes: number
  partitions: number
  /** Records of the latency phase, produced at `latencyRate` per second. */
  latencyRecords: number
  latencyRate: number
  /**
   * Another build of @kstreams/core (its `dist/index.js`, e.g. from a worktree of an older commit):
   * scenarios that support it add a "before" side running the same kstreams runner on it.
   */
  beforeCorePath?: string
  /** Records the "before" side must write, when it is too slow for `records`. @default records */
  beforeRecords?: number
  /** The simulated remote call of the `async-io` scenario, in ms. */
  asyncMs: number
  /** Only the sides whose names are listed run (all when absent), e.g. to try settings on kstreams alone. */
  sides?: string[]
  /** Samples each side's RSS every second and reports the curve. */
  rssCurve: boolean
  /** JSON merged into the config of every kstreams side, e.g. `{"maxBufferedBytes":16777216}`. */
  kstreamsConfig?: string
  /** Node arguments of every kstreams runner, e.g. `--cpu-prof --cpu-prof-dir=/tmp/profiles`. */
  kstreamsNodeArguments: string[]
}

export interface Scenario {
  name: string
  description: string
  /** Records when --records is not given. @default 1,000,000 */
  defaultRecords?: number
  /** Runs every side of the scenario on the same data; the first result is the peer. */
  run(options: ScenarioOptions): Promise<RunResult[]>
}

/** What every kstreams side of a scenario gets from the command line. */
export function kstreamsRunnerSettings(
  options: ScenarioOptions,
  corePath?: string,
): { env: Record<string, string>; nodeArguments: string[]; rssCurve: boolean } {
  return {
    env: {
      ...(options.kstreamsConfig ? { BENCH_KSTREAMS_CONFIG: options.kstreamsConfig } : {}),
      ...(corePath ? { BENCH_CORE_PATH: corePath } : {}),
    },
    nodeArguments: options.kstreamsNodeArguments,
    rssCurve: options.rssCurve,
  }
}
