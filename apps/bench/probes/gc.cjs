// Preload into a kstreams runner (`"--kstreams-node-args=--require=./probes/gc.cjs"`): at SIGTERM,
// on stderr, the garbage collections by kind (count and total ms) and V8's heap spaces (MB).
const { constants, PerformanceObserver } = require('node:perf_hooks')
const v8 = require('node:v8')

const kinds = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak-callbacks',
}
const totals = {}
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = kinds[entry.detail?.kind] ?? 'other'
    totals[kind] ??= { count: 0, ms: 0 }
    totals[kind].count += 1
    totals[kind].ms += entry.duration
  }
}).observe({ entryTypes: ['gc'] })
process.once('SIGTERM', () => {
  for (const total of Object.values(totals)) total.ms = Math.round(total.ms)
  const spaces = Object.fromEntries(
    v8.getHeapSpaceStatistics().map((space) => [space.space_name, Math.round(space.space_size / 1e6)]),
  )
  process.stderr.write(`probe gc=${JSON.stringify(totals)} heapSpacesMB=${JSON.stringify(spaces)}\n`)
})
