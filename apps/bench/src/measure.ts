// What every runner reports about itself: CPU time and peak resident memory.
export interface RunnerReport {
  cpuSeconds: number
  peakRssBytes: number
  /** Set on the report printed when SIGTERM arrived, before the runner closed. */
  atTerminate?: boolean
}

/** Samples RSS every 50 ms (until the process exits); call the returned function for a report. */
export function startMeasuring(): () => RunnerReport {
  const cpuStart = process.cpuUsage()
  let peakRssBytes = process.memoryUsage.rss()
  const timer = setInterval(() => {
    peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss())
  }, 50)
  timer.unref()
  return () => {
    const cpu = process.cpuUsage(cpuStart)
    return {
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      peakRssBytes: Math.max(peakRssBytes, process.memoryUsage.rss()),
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
