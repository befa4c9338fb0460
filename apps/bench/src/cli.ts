// npm run bench -- --scenario passthrough --records 1000000 --value-bytes 100 --partitions 12 [--json]
import { cpus, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { scenarios } from './scenarios/index.js'

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'passthrough' },
    records: { type: 'string', default: '1000000' },
    'value-bytes': { type: 'string', default: '100' },
    partitions: { type: 'string', default: '12' },
    'latency-records': { type: 'string', default: '10000' },
    'latency-rate': { type: 'string', default: '2000' },
    json: { type: 'boolean', default: false },
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

const scenario = scenarios.get(values.scenario)
if (!scenario) {
  console.error(`unknown scenario "${values.scenario}"; known: ${[...scenarios.keys()].join(', ')}`)
  process.exit(2)
}
const options = {
  records: Number(values.records),
  valueBytes: Number(values['value-bytes']),
  partitions: Number(values.partitions),
  latencyRecords: Number(values['latency-records']),
  latencyRate: Number(values['latency-rate']),
}
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
    'p50 ms': result.latencyP50Ms.toFixed(0),
    'p99 ms': result.latencyP99Ms.toFixed(0),
    'peak RSS MB': result.peakRssMegabytes.toFixed(0),
    'vs peer': `${((result.recordsPerSecond / peer.recordsPerSecond) * 100).toFixed(0)}%`,
  }))
  console.table(rows)
}
