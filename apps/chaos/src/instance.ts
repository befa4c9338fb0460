// One instance of the app under test, run as a child process by the runner (node dist/instance.js).
// It takes its settings from CHAOS_* variables and prints, one per line on stdout, what the runner
// reads: `state <state>`, `error <code>: <message>`, `failed <code>: <message>`, `slow <id>`,
// `hung <id> <ms>` and `closed`. Its logger writes to stderr, which the runner keeps in a log file.
import { setTimeout as sleep } from 'node:timers/promises'
import { createApp, type StreamsConfig } from '@kstreams/core'
import { type ProcessorFaults, processorFaultsFromEnv } from './processor-faults.js'
import { countStoreFromEnv } from './store-backend.js'
import { buildChaosTopology } from './topology.js'

const write = (line: string) => process.stdout.write(`${line}\n`)

function required(name: string): string {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`chaos instance: ${name} is not set`)
  return value
}

function optionalNumber(name: string): number | undefined {
  const value = process.env[name]
  if (value === undefined || value === '') return undefined
  const parsed = Number(value)
  if (!Number.isFinite(parsed)) throw new Error(`chaos instance: ${name} must be a number, got "${value}"`)
  return parsed
}

const instance = required('CHAOS_INSTANCE')
const faults: ProcessorFaults | undefined = processorFaultsFromEnv(process.env, instance)
const processingTimeoutMs = optionalNumber('CHAOS_PROCESSING_TIMEOUT_MS')

const config: StreamsConfig = {
  applicationId: required('CHAOS_APP_ID'),
  bootstrapServers: required('CHAOS_BOOTSTRAP_SERVERS'),
  clientId: `${required('CHAOS_APP_ID')}-${instance}`,
  stateDir: required('CHAOS_STATE_DIR'),
  commitIntervalMs: optionalNumber('CHAOS_COMMIT_INTERVAL_MS') ?? 1000,
  ...(processingTimeoutMs === undefined ? {} : { processingTimeoutMs }),
}
const app = createApp(
  buildChaosTopology({
    topics: {
      input: required('CHAOS_INPUT_TOPIC'),
      words: required('CHAOS_WORDS_TOPIC'),
      output: required('CHAOS_OUTPUT_TOPIC'),
    },
    store: countStoreFromEnv(process.env),
    ...(faults ? { beforeCount: (occurrence: number) => faults.beforeCount(occurrence, write, sleep) } : {}),
  }),
  config,
)
app.on('stateChange', (state) => write(`state ${state}`))
app.on('error', (error: Error & { code?: string }) => write(`error ${error.code}: ${error.message}`))
await app.start()
await app.done().then(
  () => write('closed'),
  (error) => write(`failed ${error?.code}: ${error?.message}`),
)
