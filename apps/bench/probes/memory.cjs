// Preload into a kstreams runner (`"--kstreams-node-args=--require=./probes/memory.cjs"`): every
// 5 s, on stderr, RSS and V8's heap spaces (size / used, MB) and Node's external memory. With
// PROBE_HEAP_SNAPSHOT_AT_S=N it also writes one heap snapshot N seconds after start (into the
// working directory, or PROBE_HEAP_SNAPSHOT_DIR). With PROBE_GC_EVERY_S=N it also runs a full
// garbage collection every N seconds and prints the heap V8 still uses after it (the live heap),
// which, unlike RSS, does not depend on when V8 chose to collect. With PROBE_MAPPINGS_AT_S=N it
// also prints, once at N s, the anonymous mappings by size class with their resident MB, the 15
// largest by resident memory, and V8's spaces as physical memory: which of the anonymous memory
// is V8's pages, mmapped buffers or malloc arenas.
const v8 = require('node:v8')
const path = require('node:path')

const mb = (bytes) => Math.round(bytes / 1e6)
const start = Date.now()
const fs = require('node:fs')

// The process's mappings from /proc/self/smaps: start address, size, permissions, name (a path,
// a [bracketed] kernel name, or empty for anonymous memory) and resident bytes.
function mappings() {
  const list = []
  let current
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line)
    if (header) {
      current = {
        start: header[1],
        size: parseInt(header[2], 16) - parseInt(header[1], 16),
        perms: header[3],
        name: header[4],
        rss: 0,
      }
      list.push(current)
    } else if (line.startsWith('Rss:')) current.rss = Number(line.split(/\s+/)[1]) * 1024
  }
  return list
}

// The process's resident memory by kind of mapping (MB): the brk heap (glibc's main arena),
// anonymous mappings of 60+ MB (other malloc arenas' reservations), other anonymous mappings
// (V8's pages, thread stacks, mmapped allocations), and mapped files.
function residentByMapping() {
  const totals = { brk: 0, anon64: 0, anon: 0, file: 0 }
  for (const { name, size, rss } of mappings()) {
    const kind = name === '[heap]' ? 'brk' : name.startsWith('/') ? 'file' : size >= 60e6 ? 'anon64' : 'anon'
    totals[kind] += rss
  }
  return Object.entries(totals)
    .map(([name, bytes]) => `${name}=${mb(bytes)}`)
    .join(' ')
}

const timer = setInterval(() => {
  const usage = process.memoryUsage()
  const spaces = v8
    .getHeapSpaceStatistics()
    .filter((space) => space.space_size > 1e6)
    .map(
      (space) =>
        `${space.space_name.replace('_space', '')}=${mb(space.space_size)}/${mb(space.space_used_size)}`,
    )
  process.stderr.write(
    `probe t=${Math.round((Date.now() - start) / 1000)}s rss=${mb(usage.rss)} heap=${mb(usage.heapTotal)}/${mb(usage.heapUsed)} external=${mb(usage.external)} arrayBuffers=${mb(usage.arrayBuffers)} ${spaces.join(' ')} smaps: ${residentByMapping()}\n`,
  )
}, 5000)
timer.unref()

const snapshotAt = Number(process.env.PROBE_HEAP_SNAPSHOT_AT_S ?? 0)
if (snapshotAt > 0) {
  setTimeout(() => {
    const file = path.join(
      process.env.PROBE_HEAP_SNAPSHOT_DIR ?? process.cwd(),
      `probe-${process.pid}.heapsnapshot`,
    )
    v8.writeHeapSnapshot(file)
    process.stderr.write(`probe heap snapshot written: ${file}\n`)
  }, snapshotAt * 1000).unref()
}

const gcEvery = Number(process.env.PROBE_GC_EVERY_S ?? 0)
if (gcEvery > 0) {
  v8.setFlagsFromString('--expose-gc')
  const gc = require('node:vm').runInNewContext('gc')
  setInterval(() => {
    gc()
    const spaces = v8.getHeapSpaceStatistics()
    const used = (name) => mb(spaces.find((space) => space.space_name === name)?.space_used_size ?? 0)
    process.stderr.write(
      `probe live t=${Math.round((Date.now() - start) / 1000)}s heapUsed=${mb(process.memoryUsage().heapUsed)} old=${used('old_space')} large_object=${used('large_object_space')} arrayBuffers=${mb(process.memoryUsage().arrayBuffers)}\n`,
    )
  }, gcEvery * 1000).unref()
}

const mappingsAt = Number(process.env.PROBE_MAPPINGS_AT_S ?? 0)
if (mappingsAt > 0) {
  setTimeout(() => {
    const anonymous = mappings().filter(({ name }) => !name.startsWith('/'))
    const classes = {}
    for (const { name, size, rss } of anonymous) {
      const sizeClass =
        name || (size >= 64e6 ? '>=64M' : size >= 1e6 ? `${2 ** Math.ceil(Math.log2(size / 1e6))}M` : '<1M')
      classes[sizeClass] ??= { count: 0, sizeMB: 0, rssMB: 0 }
      classes[sizeClass].count += 1
      classes[sizeClass].sizeMB += size / 1e6
      classes[sizeClass].rssMB += rss / 1e6
    }
    for (const entry of Object.values(classes)) {
      entry.sizeMB = Math.round(entry.sizeMB)
      entry.rssMB = Math.round(entry.rssMB)
    }
    const largest = anonymous
      .sort((left, right) => right.rss - left.rss)
      .slice(0, 15)
      .map(({ start, perms, size, rss, name }) => `${start} ${perms} size=${mb(size)} rss=${mb(rss)} ${name}`)
    const physical = Object.fromEntries(
      v8.getHeapSpaceStatistics().map((space) => [space.space_name, mb(space.physical_space_size)]),
    )
    process.stderr.write(
      `probe mappings t=${mappingsAt}s physicalSpacesMB=${JSON.stringify(physical)}\nprobe classes ${JSON.stringify(classes)}\nprobe largest\n${largest.join('\n')}\n`,
    )
  }, mappingsAt * 1000).unref()
}
