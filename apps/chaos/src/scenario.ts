// What a scenario is and what it gets from the runner.
import type { DedicatedKafka } from '@kstreams/test-helpers'
import type { InputFeeder } from './feeder.js'
import type { Instance } from './instances.js'
import type { OutputReader } from './output-reader.js'
import type { StoreService } from './store-service.js'
import type { OutputTally } from './tally.js'

/** The private broker of a run (startChaosBroker): R2 stops and starts it. */
export type ChaosBroker = Pick<DedicatedKafka, 'bootstrapServers' | 'stop' | 'start' | 'createTopics'>

export interface ScenarioSettings {
  /** Input lines (records in). */
  records: number
  seed: number
  /** The input is fed at this rate; unset: as fast as the broker takes it. */
  linesPerSecond: number | undefined
  /** How long the output may take to show every word once the faults are over. */
  drainTimeoutMs: number
  /** R1: SIGKILLs in all. */
  kills: number
  /** R3: how long the storm lasts. */
  durationMs: number
  /** R3: time between two joins or leaves. */
  intervalMs: number
  /** R2, R5, R6: how long the broker, S3 or Redis stays away. */
  outageMs: number
}

export interface ScenarioContext {
  broker: ChaosBroker
  /** The instances' group (and transactional) id. */
  applicationId: string
  topics: { input: string; words: string; output: string }
  /** R5, R6: the private S3 or Redis server that holds the counts (Scenario.store). */
  store: StoreService | undefined
  settings: ScenarioSettings
  /** Every instance of the run, running or not. */
  instances: Instance[]
  /** A new instance in a new slot (not started). */
  newInstance(): Instance
  tally: OutputTally
  reader: OutputReader
  feeder: InputFeeder
  /** Seeded: the same seed makes the same choices (their timing still varies). */
  random: () => number
  log(line: string): void
  /** What the scenario did, by name, for the report. */
  faults: { [name: string]: number }
  /** Checks besides loss that failed, in words. */
  failedChecks: string[]
}

export interface Scenario {
  name: string
  title: string
  /** Settings at full scale and in the bounded CI run; the command line overrides them. */
  full: Partial<ScenarioSettings>
  ci: Partial<ScenarioSettings>
  /**
   * The count store on a private server of the run (R5: S3 through versitygw, R6: Redis) instead
   * of LMDB with a changelog; the runner starts it before the instances and removes it at the end.
   */
  store?: 's3' | 'redis'
  /** Variables for every instance of the run. */
  instanceEnv?(settings: ScenarioSettings): { [name: string]: string }
  /**
   * Exits the scenario causes on purpose, by the instance's error code (R4: a processor past
   * processingTimeoutMs stops its instance under the `fail` policy). They are counted under this
   * name and the instance is restarted; any other exit the runner did not cause fails the run.
   */
  expectedFailures?: { [code: string]: string }
  /** The faults, while the input is fed; resolves when they are over. */
  run(context: ScenarioContext): Promise<void>
  /** Checks at the end, once the output is complete, before the instances stop. */
  finalChecks?(context: ScenarioContext): void
}
