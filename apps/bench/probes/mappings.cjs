// Preload into a kstreams runner (`"--kstreams-node-args=--require=./probes/mappings.cjs"`): at
// PROBE_MAPPINGS_AT_S seconds (default 10), on stderr, the process's anonymous mappings by size
// class with their resident MB, and the 15 largest by resident memory: where RSS outside V8's heap
// and the brk heap lives (malloc arenas, mmapped buffers, thread stacks, V8's pages).
const fs = require('node:fs')
const v8 = require('node:v8')
const at = Number(process.env.PROBE_MAPPINGS_AT_S ?? 10)
setTimeout(() => {
  const maps = []
  let current
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line)
    if (header) {
      current = {
        start: header[1],
        size: parseInt(header[2], 16) - parseInt(header[1], 16),
        perms: header[3],
        name: header[4],
      }
      maps.push(current)
    } else if (line.startsWith('Rss:')) current.rss = Number(line.split(/\s+/)[1]) * 1024
  }
  const anon = maps.filter((m) => !m.name.startsWith('/'))
  const classes = {}
  for (const m of anon) {
    const c =
      m.name ||
      (m.size >= 64e6 ? '>=64M' : m.size >= 1e6 ? `${2 ** Math.ceil(Math.log2(m.size / 1e6))}M` : '<1M')
    classes[c] ??= { count: 0, sizeMB: 0, rssMB: 0 }
    classes[c].count += 1
    classes[c].sizeMB += m.size / 1e6
    classes[c].rssMB += m.rss / 1e6
  }
  for (const c of Object.values(classes)) {
    c.sizeMB = Math.round(c.sizeMB)
    c.rssMB = Math.round(c.rssMB)
  }
  const top = anon
    .sort((a, b) => b.rss - a.rss)
    .slice(0, 15)
    .map(
      (m) =>
        `${m.start} ${m.perms} size=${(m.size / 1e6).toFixed(1)} rss=${(m.rss / 1e6).toFixed(1)} ${m.name}`,
    )
  const mu = process.memoryUsage()
  process.stderr.write(
    `probe mappings t=${at}s rss=${Math.round(mu.rss / 1e6)} heapTotal=${Math.round(mu.heapTotal / 1e6)} external=${Math.round(mu.external / 1e6)} arrayBuffers=${Math.round(mu.arrayBuffers / 1e6)} spaces=${JSON.stringify(Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, Math.round(s.physical_space_size / 1e6)])))}\nprobe classes ${JSON.stringify(classes)}\nprobe top\n${top.join('\n')}\n`,
  )
}, at * 1000).unref()
