// What every runner reports about itself: CPU time and peak resident memory.
export interface RunnerReport {
  cpuSeconds: number
  peakRssBytes: number
}

/** Samples RSS every 50 ms; call the returned function for the report. */
export function startMeasuring(): () => RunnerReport {
  const cpuStart = process.cpuUsage()
  let peakRssBytes = process.memoryUsage.rss()
  const timer = setInterval(() => {
    peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss())
  }, 50)
  timer.unref()
  return () => {
    clearInterval(timer)
    const cpu = process.cpuUsage(cpuStart)
    return {
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      peakRssBytes: Math.max(peakRssBytes, process.memoryUsage.rss()),
    }
  }
}

/** Prints the report as the last line of stdout once SIGTERM arrives, after `stop` resolves. */
export function reportOnTerminate(stop: () => Promise<void>): void {
  const report = startMeasuring()
  process.once('SIGTERM', () => {
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
