// Preload into a kstreams runner (`"--kstreams-node-args=--require=./probes/commits.cjs"`): on
// stderr, with seconds since start, every commit (its duration and partitions) and, at SIGTERM,
// the records acknowledged per topic (sinks, changelogs): what a stateful p99 is made of, and how
// much the cache merged.
const diagnostics = require('node:diagnostics_channel')
const { performance } = require('node:perf_hooks')

const start = performance.now()
const at = () => ((performance.now() - start) / 1000).toFixed(2)
const produced = {}
diagnostics.subscribe('kstreams:commit', (message) => {
  process.stderr.write(`probe t=${at()}s commit ${message.durationMs} ms, ${message.partitions} partitions\n`)
})
diagnostics.subscribe('kstreams:records:produced', ({ topic, count }) => {
  produced[topic] = (produced[topic] ?? 0) + count
})
process.once('SIGTERM', () => process.stderr.write(`probe produced=${JSON.stringify(produced)}\n`))
