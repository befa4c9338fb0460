// Preload into a kstreams runner (`"--kstreams-node-args=--require=./probes/allocations.cjs"`):
// V8's sampling heap profiler over the whole run, counting every allocation (also those collected
// since), written at SIGTERM to PROBE_ALLOCATIONS_FILE (default ./allocations.heapprofile), which
// Chrome DevTools opens; the 25 heaviest allocating functions go to stderr.
const inspector = require('node:inspector')
const fs = require('node:fs')

const session = new inspector.Session()
session.connect()
session.post('HeapProfiler.startSampling', {
  samplingInterval: 16384,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
})
process.once('SIGTERM', () => {
  session.post('HeapProfiler.stopSampling', (error, result) => {
    if (error) return process.stderr.write(`probe allocations: ${error.message}\n`)
    const file = process.env.PROBE_ALLOCATIONS_FILE ?? 'allocations.heapprofile'
    fs.writeFileSync(file, JSON.stringify(result.profile))
    const bySite = new Map()
    let total = 0
    const visit = (node) => {
      const frame = node.callFrame
      const site = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}`
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize)
      total += node.selfSize
      for (const child of node.children) visit(child)
    }
    visit(result.profile.head)
    const top = [...bySite].sort((left, right) => right[1] - left[1]).slice(0, 25)
    process.stderr.write(`probe allocations: ${Math.round(total / 1e6)} MB sampled, written to ${file}\n`)
    for (const [site, bytes] of top)
      process.stderr.write(`  ${((100 * bytes) / total).toFixed(1).padStart(5)}%  ${site}\n`)
  })
})
