// R4's faulty processor: before counting, some occurrences are slow (an awaited delay past
// processingTimeoutMs: a processing error, KSTREAMS_TIMEOUT, which under the default `fail` policy
// stops the instance, as Kafka Streams' default handler shuts its client down; a supervisor, here
// the runner, starts it again and the record is processed again) and a few hang the process (a
// synchronous busy wait past the group's session timeout: no heartbeat goes out, the group removes
// the member, and the instance must find its way back by itself). Only the first starts of an
// instance have faults (CHAOS_FAULTY_STARTS), so that a run converges.
import { seededRandom } from './workload.js'

export interface ProcessorFaultOptions {
  /** Share of occurrences that are slow the first time this process counts them (0–1). */
  slowProbability: number
  /** How long a slow count waits, in ms (past processingTimeoutMs). */
  slowMs: number
  /** Share of occurrences that hang the process (0–1). */
  hangProbability: number
  /** How long a hang blocks the event loop, in ms (past the session timeout). */
  hangMs: number
  /** Hangs per process at most. */
  hangLimit: number
  /** Only the first this many starts of an instance have faults, so the run converges. */
  faultyStarts: number
  seed: number
}

export interface ProcessorFaults {
  beforeCount(
    occurrence: number,
    write: (line: string) => void,
    sleep: (milliseconds: number) => Promise<unknown>,
  ): Promise<void> | undefined
}

export const processorFaultVariables = {
  slowProbability: 'CHAOS_SLOW_PROBABILITY',
  slowMs: 'CHAOS_SLOW_MS',
  hangProbability: 'CHAOS_HANG_PROBABILITY',
  hangMs: 'CHAOS_HANG_MS',
  hangLimit: 'CHAOS_HANG_LIMIT',
  faultyStarts: 'CHAOS_FAULTY_STARTS',
  seed: 'CHAOS_FAULT_SEED',
} as const

/** The variables that give an instance `options`. */
export function processorFaultEnv(options: ProcessorFaultOptions): { [name: string]: string } {
  const env: { [name: string]: string } = {}
  for (const [option, variable] of Object.entries(processorFaultVariables))
    env[variable] = String(options[option as keyof ProcessorFaultOptions])
  return env
}

/** The faults the variables describe, or undefined when there are none. */
export function processorFaultsFromEnv(
  env: NodeJS.ProcessEnv,
  instance: string,
): ProcessorFaults | undefined {
  if (env[processorFaultVariables.slowProbability] === undefined) return undefined
  const options = {} as ProcessorFaultOptions
  for (const [option, variable] of Object.entries(processorFaultVariables)) {
    const value = Number(env[variable])
    if (!Number.isFinite(value)) throw new Error(`chaos instance: ${variable} must be a number`)
    options[option as keyof ProcessorFaultOptions] = value
  }
  if (Number(env.CHAOS_START ?? 1) > options.faultyStarts) return undefined
  return createProcessorFaults(options, instance)
}

export function createProcessorFaults(options: ProcessorFaultOptions, instance: string): ProcessorFaults {
  // Each instance (and each restart of it) draws its own faults.
  let salt = 0
  for (const character of `${instance}:${process.pid}`)
    salt = (Math.imul(salt, 31) + character.charCodeAt(0)) | 0
  const random = seededRandom(options.seed ^ salt)
  const slowed = new Set<number>()
  let hangs = 0
  return {
    beforeCount(occurrence, write, sleep) {
      const draw = random()
      if (hangs < options.hangLimit && draw < options.hangProbability) {
        hangs += 1
        write(`hung ${occurrence} ${options.hangMs}`)
        const until = Date.now() + options.hangMs
        while (Date.now() < until) {
          // A processor stuck in synchronous work: nothing else runs in this process meanwhile.
        }
        return undefined
      }
      // Slow counts stop the instance: they come once its hangs are done, so both happen.
      if (hangs >= options.hangLimit && draw < options.slowProbability && !slowed.has(occurrence)) {
        slowed.add(occurrence)
        write(`slow ${occurrence}`)
        return sleep(options.slowMs).then(() => undefined)
      }
      return undefined
    },
  }
}
