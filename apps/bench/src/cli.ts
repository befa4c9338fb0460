// npm run bench -- --scenario passthrough --records 1000000 --value-bytes 100 --partitions 12 [--json]
// (every option is described in the README)
import { cpus, totalmem } from 'node:os'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { scenarios } from './scenarios/index.js'
import type { ScenarioOptions } from './scenarios/scenario.js'

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'passthrough' },
    records: { type: 'string' },
    'value-bytes': { type: 'string', default: '100' },
    partitions: { type: 'string', default: '12' },
    'latency-records': { type: 'string', default: '10000' },
    'latency-rate': { type: 'string', default: '2000' },
    json: { type: 'boolean', default: false },
    'before-core': { type: 'string' },
    'before-records': { type: 'string' },
    'async-ms': { type: 'string', default: '10' },
    'rss-curve': { type: 'boolean', default: false },
    // Repeated, since side names hold commas: --sides raw --sides kstreams.
    sides: { type: 'string', multiple: true },
    'kstreams-config': { type: 'string' },
    'kstreams-node-args': { type: 'string', default: '' },
  },
})

if (values.scenario === 'serdes') {
  // CPU only, no broker: each serde next to the library it wraps.
  const { runSerdeBench } = await import('./serde-bench.js')
  const results = runSerdeBench()
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`
  if (values.json)
    console.log(
      JSON.stringify({ scenario: 'serdes', machine, date: new Date().toISOString(), results }, null, 2),
    )
  else {
    const peers = new Map<string, (typeof results)[number]>()
    for (const result of results) if (!peers.has(result.format)) peers.set(result.format, result)
    console.table(
      results.map((result) => {
        const peer = peers.get(result.format)!
        return {
          format: result.format,
          side: result.side,
          bytes: result.bytes,
          'serialize ops/s': Math.round(result.serializeOpsPerSecond),
          'deserialize ops/s': Math.round(result.deserializeOpsPerSecond),
          'ser MB/s': result.serializeMegabytesPerSecond.toFixed(1),
          'de MB/s': result.deserializeMegabytesPerSecond.toFixed(1),
          'vs peer (ser/de)': `${((result.serializeOpsPerSecond / peer.serializeOpsPerSecond) * 100).toFixed(0)}% / ${((result.deserializeOpsPerSecond / peer.deserializeOpsPerSecond) * 100).toFixed(0)}%`,
        }
      }),
    )
  }
  process.exit(0)
}

if (values.scenario === 'queries') {
  // Interactive queries: point reads through the client against one and three instances.
  const { runQueryBench } = await import('./query-bench.js')
  const keys = Number(values.records ?? 10_000)
  const results = await runQueryBench({
    keys,
    reads: 20_000,
    concurrency: 16,
    partitions: Number(values.partitions),
  })
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`
  const peer = results[0]!
  if (values.json)
    console.log(
      JSON.stringify({ scenario: 'queries', machine, date: new Date().toISOString(), results }, null, 2),
    )
  else {
    console.table(
      results.map((result) => ({
        side: result.side,
        reads: result.reads,
        'reads/s': Math.round(result.readsPerSecond),
        'p50 ms': result.p50Ms.toFixed(3),
        'p99 ms': result.p99Ms.toFixed(3),
        'vs peer': `${((result.readsPerSecond / peer.readsPerSecond) * 100).toFixed(1)}%`,
      })),
    )
  }
  process.exit(0)
}

const scenario = scenarios.get(values.scenario)
if (!scenario) {
  console.error(`unknown scenario "${values.scenario}"; known: ${[...scenarios.keys()].join(', ')}`)
  process.exit(2)
}
const options: ScenarioOptions = {
  records: Number(values.records ?? scenario.defaultRecords ?? 1_000_000),
  valueBytes: Number(values['value-bytes']),
  partitions: Number(values.partitions),
  latencyRecords: Number(values['latency-records']),
  latencyRate: Number(values['latency-rate']),
  beforeCorePath: values['before-core'] ? resolve(values['before-core']) : undefined,
  beforeRecords: values['before-records'] ? Number(values['before-records']) : undefined,
  asyncMs: Number(values['async-ms']),
  rssCurve: values['rss-curve'],
  sides: values.sides,
  kstreamsConfig: values['kstreams-config'],
  kstreamsNodeArguments: values['kstreams-node-args'].split(' ').filter((argument) => argument !== ''),
}
if (options.kstreamsConfig) JSON.parse(options.kstreamsConfig) // fails here rather than in a runner
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`
console.error(`${scenario.name}: ${scenario.description}; ${JSON.stringify(options)}; ${machine}`)
const results = await scenario.run(options)
const peer = results[0]!
if (values.json) {
  console.log(
    JSON.stringify(
      { scenario: scenario.name, options, machine, date: new Date().toISOString(), results },
      null,
      2,
    ),
  )
} else {
  const rows = results.map((result) => ({
    side: result.side,
    'records/s': Math.round(result.recordsPerSecond),
    'MB/s': result.megabytesPerSecond.toFixed(1),
    'CPU s/100k': result.cpuSecondsPer100k.toFixed(2),
    'window CPU s/100k': result.windowCpuSecondsPer100k.toFixed(2),
    'broker CPU s/100k': result.brokerCpuSecondsPer100k.toFixed(2),
    'p50 ms': result.latencyP50Ms.toFixed(0),
    'p99 ms': result.latencyP99Ms.toFixed(0),
    'peak RSS MB': result.peakRssMegabytes.toFixed(0),
    'vs peer': `${((result.recordsPerSecond / peer.recordsPerSecond) * 100).toFixed(0)}%`,
    'close s': result.closeSeconds === undefined ? '' : result.closeSeconds.toFixed(1),
  }))
  console.table(rows)
  for (const result of results) {
    if (!result.rssCurve || result.rssCurve.length === 0) continue
    // Every 10th second, plus the peak and the last sample, so the curve's shape fits a screen.
    const curve = result.rssCurve
    const peak = curve.reduce((highest, sample) =>
      sample.rssMegabytes > highest.rssMegabytes ? sample : highest,
    )
    console.log(`RSS curve of ${result.side} (peak ${peak.rssMegabytes.toFixed(0)} MB at ${peak.second} s):`)
    console.table(
      curve
        .filter((sample, index) => sample.second % 10 === 0 || sample === peak || index === curve.length - 1)
        .map((sample) => ({
          second: sample.second,
          'RSS MB': sample.rssMegabytes.toFixed(0),
          records: sample.records,
        })),
    )
  }
}
