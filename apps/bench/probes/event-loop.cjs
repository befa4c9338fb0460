// Preload into a kstreams runner (`"--kstreams-node-args=--require=./probes/event-loop.cjs"`): every
// 2 s, on stderr, the main thread's event-loop utilization (1.00: never idle), the process's CPU
// in cores and its RSS.
const { performance } = require('node:perf_hooks')

let last = performance.eventLoopUtilization()
let lastCpu = process.cpuUsage()
setInterval(() => {
  const utilization = performance.eventLoopUtilization(last).utilization
  last = performance.eventLoopUtilization()
  const cpu = process.cpuUsage(lastCpu)
  lastCpu = process.cpuUsage()
  const cores = (cpu.user + cpu.system) / 2e6
  const rss = process.memoryUsage.rss() / 1e6
  process.stderr.write(
    `probe elu=${utilization.toFixed(2)} cores=${cores.toFixed(2)} rss=${rss.toFixed(0)}MB\n`,
  )
}, 2000).unref()
