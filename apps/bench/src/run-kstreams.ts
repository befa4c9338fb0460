// kstreams with default settings, in one of the benchmark modes (BENCH_MODE):
// - `passthrough`: source → mapValues (the same mapping as the raw loop) → sink;
// - `count`: source → count per key in a key-value store → sink (each new count), with the store's
//   backend chosen by BENCH_BACKEND (`memory` or `lmdb`);
// - `windowed-count`: count per key and 1-minute tumbling window in a window store (memory);
// - `restore`: the `count` app started on an existing changelog; it reports how fast its tasks
//   restored (BENCH_TASKS of them) and exits;
// - `word-count-dsl`, `word-count-processor-api`: the `dsl` scenario's word count (see
//   word-count-topologies.ts), in the DSL or by hand;
// - `join-dsl`, `join-processor-api`: the `join` scenario's stream–table join (see
//   join-topologies.ts) of BENCH_INPUT with the table read from BENCH_TABLE;
// - `async-io`: every record awaits a simulated remote call of BENCH_ASYNC_MS (10) ms, then goes to
//   the sink unchanged.
// BENCH_CORE_PATH loads @kstreams/core from another build (an older commit's dist/index.js), so
// that the same runner measures the runtime before and after a change in one run.
// BENCH_KSTREAMS_CONFIG is JSON merged into the app's config (fetchMaxBytes, maxBufferedBytes, …).
import { subscribe } from 'node:diagnostics_channel'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { KeyValueStore, ProcessorContext, Record, StreamsConfig, Topology } from '@kstreams/core'
import { dslJoin, processorApiJoin } from './join-topologies.js'
import { reportOnTerminate } from './measure.js'
import { dslWordCount, processorApiWordCount } from './word-count-topologies.js'

const {
  BENCH_INPUT,
  BENCH_OUTPUT,
  BENCH_GROUP,
  BENCH_MODE,
  BENCH_BACKEND,
  BENCH_TASKS,
  BENCH_CORE_PATH,
  BENCH_KSTREAMS_CONFIG,
  BENCH_ASYNC_MS,
  BENCH_TABLE,
  KAFKA_BOOTSTRAP_SERVERS,
} = process.env
// The type is the current core's; an older build is expected to share the parts used here.
const core: typeof import('@kstreams/core') = await import(
  BENCH_CORE_PATH ? pathToFileURL(BENCH_CORE_PATH).href : '@kstreams/core'
)
const {
  consoleLogger,
  createApp,
  mapValues,
  serdes,
  silentLogger,
  stores,
  TopologyBuilder,
  tumblingWindows,
  windowedCount,
  windowedKeySerde,
} = core
const suffix = new Uint8Array([0x21])

function passthroughTopology(): Topology {
  return new TopologyBuilder()
    .addSource('input', { topics: [BENCH_INPUT!], keySerde: serdes.bytes(), valueSerde: serdes.bytes() })
    .addProcessor('map', { parents: ['input'] }, () =>
      mapValues((value: Uint8Array): Uint8Array => {
        const out = new Uint8Array(value.byteLength + 1)
        out.set(value)
        out.set(suffix, value.byteLength)
        return out
      }),
    )
    .addSink('output', {
      topic: BENCH_OUTPUT!,
      keySerde: serdes.bytes(),
      valueSerde: serdes.bytes(),
      parents: ['map'],
    })
    .build()
}

/** BENCH_CONCURRENCY (partition, key, unordered) and BENCH_MAX_IN_FLIGHT of the async-io processor. */
function asyncIoConcurrency(): { concurrency?: 'partition' | 'key' | 'unordered'; maxInFlight?: number } {
  const mode = process.env.BENCH_CONCURRENCY as 'partition' | 'key' | 'unordered' | undefined
  if (!mode || mode === 'partition') return {}
  const maxInFlight = process.env.BENCH_MAX_IN_FLIGHT
  return { concurrency: mode, ...(maxInFlight ? { maxInFlight: Number(maxInFlight) } : {}) }
}

/**
 * async-io with state (BENCH_ASYNC_STATE=1): after the call, the record's key is counted in a
 * store with a changelog (read, then write: safe in key mode, where one key never overlaps).
 */
function asyncIoCountTopology(): Topology {
  const delayMs = Number(BENCH_ASYNC_MS ?? 10)
  return new TopologyBuilder()
    .addSource('input', { topics: [BENCH_INPUT!], keySerde: serdes.string(), valueSerde: serdes.bytes() })
    .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64() }))
    .addProcessor('remote-call', { parents: ['input'], stores: ['counts'], ...asyncIoConcurrency() }, () => {
      let context: ProcessorContext<string, bigint>
      let counts: KeyValueStore<string, bigint>
      return {
        init: (processorContext: ProcessorContext<string, bigint>) => {
          context = processorContext
          counts = context.getStore<KeyValueStore<string, bigint>>('counts')
        },
        process: async (record: { key: string; timestamp: number }) => {
          await new Promise((resolve) => setTimeout(resolve, delayMs))
          const count = ((await counts.get(record.key)) ?? 0n) + 1n
          await counts.put(record.key, count)
          context.forward({ key: record.key, value: count, timestamp: record.timestamp, headers: [] })
        },
      }
    })
    .addSink('output', {
      topic: BENCH_OUTPUT!,
      keySerde: serdes.string(),
      valueSerde: serdes.int64(),
      parents: ['remote-call'],
    })
    .build()
}

function asyncIoTopology(): Topology {
  if (process.env.BENCH_ASYNC_STATE === '1') return asyncIoCountTopology()
  const delayMs = Number(BENCH_ASYNC_MS ?? 10)
  return new TopologyBuilder()
    .addSource('input', { topics: [BENCH_INPUT!], keySerde: serdes.bytes(), valueSerde: serdes.bytes() })
    .addProcessor('remote-call', { parents: ['input'], ...asyncIoConcurrency() }, () => {
      let context: ProcessorContext<Uint8Array, Uint8Array>
      return {
        init: (processorContext: ProcessorContext<Uint8Array, Uint8Array>) => {
          context = processorContext
        },
        process: async (record: Record<Uint8Array, Uint8Array>) => {
          await new Promise((resolve) => setTimeout(resolve, delayMs))
          context.forward(record)
        },
      }
    })
    .addSink('output', {
      topic: BENCH_OUTPUT!,
      keySerde: serdes.bytes(),
      valueSerde: serdes.bytes(),
      parents: ['remote-call'],
    })
    .build()
}

async function countTopology(): Promise<Topology> {
  // Loaded only when used: the LMDB package imports the current core, not BENCH_CORE_PATH's.
  const backend =
    BENCH_BACKEND === 'lmdb' ? (await import('@kstreams/store-lmdb')).createLmdbBackend() : stores.memory()
  return new TopologyBuilder()
    .addSource('input', { topics: [BENCH_INPUT!], keySerde: serdes.string(), valueSerde: serdes.bytes() })
    .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64(), backend }))
    .addProcessor('count', { parents: ['input'], stores: ['counts'] }, () => {
      let context: ProcessorContext<string, bigint>
      let counts: KeyValueStore<string, bigint>
      return {
        init: (processorContext: ProcessorContext<string, bigint>) => {
          context = processorContext
          counts = context.getStore<KeyValueStore<string, bigint>>('counts')
        },
        process: async (record: { key: string; timestamp: number }) => {
          const count = ((await counts.get(record.key)) ?? 0n) + 1n
          await counts.put(record.key, count)
          context.forward({ key: record.key, value: count, timestamp: record.timestamp, headers: [] })
        },
      }
    })
    .addSink('output', {
      topic: BENCH_OUTPUT!,
      keySerde: serdes.string(),
      valueSerde: serdes.int64(),
      parents: ['count'],
    })
    .build()
}

function windowedCountTopology(): Topology {
  return new TopologyBuilder()
    .addSource('input', { topics: [BENCH_INPUT!], keySerde: serdes.string(), valueSerde: serdes.bytes() })
    .addStore(
      stores.window('counts', {
        keySerde: serdes.string(),
        valueSerde: serdes.int32(),
        retentionMs: 600_000,
      }),
    )
    .addProcessor(
      'count',
      { parents: ['input'], stores: ['counts'] },
      windowedCount<string, Uint8Array>({ windows: tumblingWindows({ sizeMs: 60_000 }), store: 'counts' }),
    )
    .addSink('output', {
      topic: BENCH_OUTPUT!,
      keySerde: windowedKeySerde(serdes.string()),
      valueSerde: serdes.int32(),
      parents: ['count'],
    })
    .build()
}

if (BENCH_MODE === 'restore') {
  let ended = 0
  let records = 0
  let firstStart: number | undefined
  subscribe('kstreams:restore', (message) => {
    const event = message as { phase: string; records: number }
    if (event.phase === 'start') firstStart ??= Date.now()
    if (event.phase !== 'end') return
    ended += 1
    records += event.records
    if (ended === Number(BENCH_TASKS)) {
      const seconds = (Date.now() - firstStart!) / 1000
      process.stdout.write(`${JSON.stringify({ records, seconds })}\n`)
    }
  })
}

const topologies: { [mode: string]: () => Topology | Promise<Topology> } = {
  passthrough: passthroughTopology,
  'windowed-count': windowedCountTopology,
  'async-io': asyncIoTopology,
  'word-count-dsl': () => dslWordCount(core, BENCH_INPUT!, BENCH_OUTPUT!),
  'word-count-processor-api': () => processorApiWordCount(core, BENCH_INPUT!, BENCH_OUTPUT!),
  'join-dsl': () => dslJoin(core, BENCH_INPUT!, BENCH_TABLE!, BENCH_OUTPUT!),
  'join-processor-api': () => processorApiJoin(core, BENCH_INPUT!, BENCH_TABLE!, BENCH_OUTPUT!),
}
const app = createApp(await (topologies[BENCH_MODE!] ?? countTopology)(), {
  ...(BENCH_KSTREAMS_CONFIG ? (JSON.parse(BENCH_KSTREAMS_CONFIG) as Partial<StreamsConfig>) : {}),
  applicationId: BENCH_GROUP!,
  bootstrapServers: KAFKA_BOOTSTRAP_SERVERS ?? '127.0.0.1:9092',
  // The key-parallel async-io sides run at the peers' concurrency: 256 records in flight in all.
  ...(asyncIoConcurrency().concurrency
    ? { maxInFlightRecords: Number(process.env.BENCH_MAX_IN_FLIGHT ?? 256) }
    : {}),
  handleSignals: false,
  // Quiet, except for what stops the run.
  logger: { ...silentLogger, error: consoleLogger.error },
  stateDir: await mkdtemp(join(tmpdir(), 'kstreams-bench-')),
})
await app.start()
app.done().catch(() => process.exit(1))
process.stdout.write('ready\n')
reportOnTerminate(() => app.close())
