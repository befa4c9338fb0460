// Preload into a kstreams runner (`"--kstreams-node-args=--require=./probes/stalls.cjs"`): on
// stderr, with seconds since start, each time the main thread was blocked for 50 ms or more (a
// 10-ms timer that fired late), each garbage collection pause of 20 ms or more, and each second
// how busy the event loop was: what a p99 latency above the commit-free level is made of.
const { constants, PerformanceObserver, performance } = require('node:perf_hooks')

const start = performance.now()
const at = () => ((performance.now() - start) / 1000).toFixed(2)
const kinds = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak-callbacks',
}
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.duration < 20) continue
    const kind = kinds[entry.detail?.kind] ?? 'other'
    process.stderr.write(`probe t=${at()}s gc ${kind} ${entry.duration.toFixed(0)} ms\n`)
  }
}).observe({ entryTypes: ['gc'] })

let expected = performance.now() + 10
setInterval(() => {
  const now = performance.now()
  const late = now - expected
  if (late >= 50) process.stderr.write(`probe t=${at()}s blocked ${late.toFixed(0)} ms\n`)
  expected = now + 10
}, 10).unref()

// Each second, how busy the event loop was (event-loop utilization, 0 to 1).
let utilization = performance.eventLoopUtilization()
setInterval(() => {
  const next = performance.eventLoopUtilization()
  process.stderr.write(
    `probe t=${at()}s elu ${performance.eventLoopUtilization(next, utilization).utilization.toFixed(2)}\n`,
  )
  utilization = next
}, 1000).unref()
