// What every runner reports about itself: CPU time and peak resident memory.
export interface RunnerReport {
  cpuSeconds: number
  peakRssBytes: number
  memoryAtPeak?: MemoryBreakdown
  /** Set on the report printed when SIGTERM arrived, before the runner closed. */
  atTerminate?: boolean
}

/** Where resident memory goes, in MB, from `process.memoryUsage()`. */
export interface MemoryBreakdown {
  rss: number
  /** V8's heap as reserved (what RSS sees) and as used by live and not yet collected objects. */
  heapTotal: number
  heapUsed: number
  /** Memory of C++ objects bound to JavaScript, Buffers and ArrayBuffers included. */
  external: number
  arrayBuffers: number
}

function breakdown(): MemoryBreakdown {
  const usage = process.memoryUsage()
  return {
    rss: usage.rss / 1e6,
    heapTotal: usage.heapTotal / 1e6,
    heapUsed: usage.heapUsed / 1e6,
    external: usage.external / 1e6,
    arrayBuffers: usage.arrayBuffers / 1e6,
  }
}

/**
 * Samples RSS every 50 ms (until the process exits), and once a second what it is made of, kept
 * at the highest RSS; call the returned function for a report.
 */
export function startMeasuring(): () => RunnerReport {
  const cpuStart = process.cpuUsage()
  let peakRssBytes = process.memoryUsage.rss()
  let memoryAtPeak = breakdown()
  let ticks = 0
  const timer = setInterval(() => {
    peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss())
    // The full breakdown walks V8's heap spaces: too costly for every sample.
    ticks += 1
    if (ticks % 20 === 0) {
      const memory = breakdown()
      if (memory.rss >= memoryAtPeak.rss) memoryAtPeak = memory
    }
  }, 50)
  timer.unref()
  return () => {
    const cpu = process.cpuUsage(cpuStart)
    return {
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      peakRssBytes: Math.max(peakRssBytes, process.memoryUsage.rss()),
      memoryAtPeak,
    }
  }
}

/**
 * Prints the report as the last line of stdout once SIGTERM arrives, after `stop` resolves. A
 * report is printed at SIGTERM too, so that a runner that does not close in time (and is killed)
 * still reports what it used while it ran.
 */
export function reportOnTerminate(stop: () => Promise<void>): void {
  const report = startMeasuring()
  process.once('SIGTERM', () => {
    process.stdout.write(`${JSON.stringify({ ...report(), atTerminate: true })}\n`)
    stop().then(
      () => {
        process.stdout.write(`${JSON.stringify(report())}\n`)
        process.exit(0)
      },
      (error: unknown) => {
        process.stderr.write(`runner failed to stop: ${String(error)}\n`)
        process.exit(1)
      },
    )
  })
}

export function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!
}
