// Shared steps of the scenarios: topics, preloading, running one side in a child process while
// watching its output topic, and an end-to-end latency phase at a fixed rate.
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { appendFileSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { Admin, Consumer, compatibilityPartitioner, Producer } from '@platformatic/kafka'
import { type MemoryBreakdown, percentile, type RunnerReport } from './measure.js'

export const brokers = (process.env.KAFKA_BOOTSTRAP_SERVERS ?? '127.0.0.1:9092').split(',')

export interface RunResult {
  side: string
  records: number
  seconds: number
  recordsPerSecond: number
  megabytesPerSecond: number
  cpuSecondsPer100k: number
  /** CPU of the runner's process tree from the first output record to the last, per 100k records. */
  windowCpuSecondsPer100k: number
  /** The broker's CPU over the same window, per 100k records (NaN when its pid file is not found). */
  brokerCpuSecondsPer100k: number
  latencyP50Ms: number
  latencyP99Ms: number
  peakRssMegabytes: number
  /** Seconds from SIGTERM to exit; NaN when the runner had to be killed after `closeTimeoutMs`. */
  closeSeconds?: number
  /** What the runner's memory was made of at its RSS peak (MB), sampled once a second. */
  memoryAtPeak?: MemoryBreakdown
  /** With `rssCurve`: the runner's RSS and the records written so far, once a second. */
  rssCurve?: RssSample[]
}

export interface RssSample {
  /** Seconds since the runner was started. */
  second: number
  rssMegabytes: number
  /** Records in the output topic at that moment. */
  records: number
}

export function runId(): string {
  return randomBytes(3).toString('hex')
}

export async function createTopics(names: string[], partitions: number): Promise<void> {
  const admin = new Admin({ clientId: 'bench-admin', bootstrapBrokers: brokers })
  try {
    await admin.createTopics({ topics: names, partitions, replicas: 1 })
  } finally {
    await admin.close()
  }
}

export async function deleteTopics(names: string[]): Promise<void> {
  const admin = new Admin({ clientId: 'bench-admin', bootstrapBrokers: brokers })
  try {
    await admin.deleteTopics({ topics: names })
  } finally {
    await admin.close()
  }
}

/** Records the broker serves once after a preload, before any side runs (see `warmBroker`). */
const WARM_UP_RECORDS = 1_000_000

/**
 * Writes `count` records with `valueBytes`-byte values and distinct keys, round-robin over
 * partitions, then reads them back once (`warmBroker`).
 */
export async function preload(topic: string, count: number, valueBytes: number, keys = count): Promise<void> {
  await produceRecords(topic, count, valueBytes, keys)
  await warmBroker(topic, Math.min(count, WARM_UP_RECORDS))
}

/**
 * Reads `records` records of `topic` from the beginning and drops them. The first side of a run
 * otherwise paid for the broker's first fetches after the preload (most likely its JVM compiling
 * the fetch path; not measured): in one run of the same kstreams build twice, the first side had
 * 74,532 records/s with the broker at 0.88 CPU s / 100k records, the second 116,863 with 0.25;
 * after this read, 90,992 and 95,465. Kafka Streams never ran first.
 */
async function warmBroker(topic: string, records: number): Promise<void> {
  const consumer = new Consumer({
    groupId: `bench-warm-up-${runId()}`,
    clientId: 'bench-warm-up',
    bootstrapBrokers: brokers,
    maxWaitTime: 100,
  })
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false })
    let read = 0
    for await (const _message of stream) {
      read += 1
      if (read >= records) break
    }
    await stream.close()
  } finally {
    await consumer.close(true)
  }
}

async function produceRecords(topic: string, count: number, valueBytes: number, keys: number): Promise<void> {
  const producer = new Producer({
    // Kafka's Java default partitioner (murmur2 & 0x7fffffff), as kstreams and Kafka Streams use.
    partitioner: compatibilityPartitioner,
    clientId: 'bench-preload',
    bootstrapBrokers: brokers,
    acks: -1,
    idempotent: true,
  })
  const value = randomBytes(valueBytes)
  const batch = 10_000
  try {
    for (let start = 0; start < count; start += batch) {
      const messages = []
      for (let index = start; index < Math.min(count, start + batch); index += 1) {
        messages.push({ topic, key: Buffer.from(`key-${index % keys}`), value })
      }
      await producer.send({ messages })
    }
  } finally {
    await producer.close()
  }
}

async function endOffsets(consumer: Consumer, topic: string): Promise<bigint[]> {
  const offsets = await consumer.listOffsets({ topics: [topic] })
  return offsets.get(topic) ?? []
}

function sum(values: bigint[]): number {
  return Number(values.reduce((total, value) => total + value, 0n))
}

export interface RunOptions {
  side: string
  runner: string
  input: string
  output: string
  records: number
  valueBytes: number
  latencyRecords: number
  latencyRate: number
  env?: Record<string, string>
  /** Node arguments for the runner, e.g. `--cpu-prof --cpu-prof-dir=/tmp/profiles`. */
  nodeArguments?: string[]
  /** Samples the runner's RSS every second (from /proc, so Linux only). */
  rssCurve?: boolean
  /** How long the runner may take to close after SIGTERM before it is killed. @default 60 s */
  closeTimeoutMs?: number
  /**
   * Runner processes started side by side in the same consumer group (scale-out on one host):
   * CPU seconds and peak RSS are their sums. @default 1
   */
  instances?: number
}

/** The resident set of a process, read from /proc/PID/status (VmRSS, in kB). */
async function residentMegabytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status)
  return match ? (Number(match[1]) * 1024) / 1e6 : Number.NaN
}

const clockTicksPerSecond = 100

/** User + system CPU seconds of a process and all its descendants, from /proc. */
async function processTreeCpuSeconds(pid: number): Promise<number> {
  let ticks = 0
  const pending = [pid]
  while (pending.length > 0) {
    const next = pending.pop()!
    try {
      const stat = await readFile(`/proc/${next}/stat`, 'utf8')
      // Fields after the command name (which may hold spaces) start at field 3: utime is 14, stime 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
      for (const task of await readdir(`/proc/${next}/task`)) {
        const children = await readFile(`/proc/${next}/task/${task}/children`, 'utf8')
        for (const child of children.split(' ')) if (child.trim() !== '') pending.push(Number(child))
      }
    } catch {
      // The process exited while it was read.
    }
  }
  return ticks / clockTicksPerSecond
}

/** The local broker's pid, from tooling/services' pid file. */
async function brokerPid(): Promise<number | undefined> {
  const servicesDirectory = process.env.KSTREAMS_SERVICES_DIR ?? '/tmp/kstreams-services'
  try {
    return Number((await readFile(`${servicesDirectory}/kafka/kafka.pid`, 'utf8')).trim())
  } catch {
    return undefined
  }
}

async function cpuSnapshot(
  pids: number[],
  broker: number | undefined,
): Promise<{ side: number; broker: number }> {
  const each = await Promise.all(pids.map(processTreeCpuSeconds))
  return {
    side: each.reduce((total, seconds) => total + seconds, 0),
    broker: broker === undefined ? Number.NaN : await processTreeCpuSeconds(broker),
  }
}

/** Busy and total jiffies of all CPUs, from the first line of /proc/stat. */
async function machineJiffies(): Promise<{ busy: number; total: number }> {
  const fields = (await readFile('/proc/stat', 'utf8'))
    .split('\n', 1)[0]!
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map(Number)
  const total = fields.reduce((sum, value) => sum + value, 0)
  // idle and iowait are fields 4 and 5 of the line.
  return { busy: total - fields[3]! - fields[4]!, total }
}

/**
 * Waits until the machine has been quiet (less than 15% of its CPUs busy) for two samples of
 * 500 ms in a row, 20 s at most: a side that starts while the broker still writes out the preload
 * or the previous side's process winds down would pay for their work.
 */
async function waitForQuietMachine(side: string): Promise<void> {
  const deadline = Date.now() + 20_000
  let quiet = 0
  let last = await machineJiffies()
  while (quiet < 2) {
    if (Date.now() > deadline) {
      process.stderr.write(`${side}: the machine was still busy after 20 s; starting anyway\n`)
      return
    }
    await new Promise((resolve) => setTimeout(resolve, 500))
    const now = await machineJiffies()
    const share = (now.busy - last.busy) / Math.max(1, now.total - last.total)
    quiet = share < 0.15 ? quiet + 1 : 0
    last = now
  }
}

/**
 * Waits for a quiet machine (`waitForQuietMachine`), starts the runner, times how long it takes
 * to write `records` records to its output topic
 * (from the first output record to the last, so group joins are not counted), then measures
 * end-to-end latency on `latencyRecords` fresh records produced at `latencyRate` per second,
 * and stops the runner for its CPU and memory report.
 */
export async function runSide(options: RunOptions): Promise<RunResult> {
  await waitForQuietMachine(options.side)
  const watcher = new Consumer({
    groupId: `bench-watch-${runId()}`,
    clientId: 'bench-watch',
    bootstrapBrokers: brokers,
  })
  const group = `bench-${options.side}-${runId()}`
  const children = Array.from(
    { length: options.instances ?? 1 },
    (): { child: ChildProcess; stdout: string } => {
      const child = spawn(
        process.execPath,
        [...(options.nodeArguments ?? []), fileURLToPath(new URL(options.runner, import.meta.url))],
        {
          env: {
            ...process.env,
            BENCH_INPUT: options.input,
            BENCH_OUTPUT: options.output,
            BENCH_GROUP: group,
            ...options.env,
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      )
      const entry = { child, stdout: '' }
      child.stdout!.on('data', (chunk: Buffer) => {
        entry.stdout += chunk.toString()
      })
      return entry
    },
  )
  const startedAt = Date.now()
  let written = 0
  const rssCurve: RssSample[] = []
  // The curve is read from outside the runner, so it costs the runner nothing and also covers a
  // runner that is killed.
  const sampler = options.rssCurve
    ? setInterval(() => {
        Promise.all(children.map(({ child }) => residentMegabytes(child.pid!)))
          .then((each) => each.reduce((total, megabytes) => total + megabytes, 0))
          .then(
            (rssMegabytes) =>
              rssCurve.push({
                second: Math.round((Date.now() - startedAt) / 1000),
                rssMegabytes,
                records: written,
              }),
            () => {},
          )
      }, 1000)
    : undefined
  try {
    let firstSeenAt: number | undefined
    const broker = await brokerPid()
    const pids = children.map(({ child }) => child.pid!)
    let cpuAtFirst: { side: number; broker: number } | undefined
    const deadline = Date.now() + 15 * 60_000
    while (written < options.records) {
      const exited = children.find(({ child }) => child.exitCode !== null)
      if (exited) throw new Error(`${options.side} runner exited early (${exited.child.exitCode})`)
      if (Date.now() > deadline)
        throw new Error(`${options.side} runner wrote ${written} of ${options.records} records`)
      await new Promise((resolve) => setTimeout(resolve, 20))
      written = sum(await endOffsets(watcher, options.output))
      if (written > 0 && firstSeenAt === undefined) {
        firstSeenAt = Date.now()
        cpuAtFirst = await cpuSnapshot(pids, broker)
      }
    }
    const seconds = (Date.now() - firstSeenAt!) / 1000
    const cpuAtLast = await cpuSnapshot(pids, broker)
    if (sampler) clearInterval(sampler)
    const latencies = options.latencyRecords > 0 ? await measureLatency(options) : []
    const terminatedAt = Date.now()
    const reports = await Promise.all(children.map((entry) => stopRunner(entry, options)))
    const closeSeconds = reports.every(({ closed }) => closed)
      ? (Date.now() - terminatedAt) / 1000
      : Number.NaN
    const report: RunnerReport = {
      ...reports[0]!.report,
      cpuSeconds: reports.reduce((total, { report }) => total + report.cpuSeconds, 0),
      peakRssBytes: reports.reduce((total, { report }) => total + report.peakRssBytes, 0),
    }
    const total = options.records + options.latencyRecords
    latencies.sort((left, right) => left - right)
    return {
      side: options.side,
      records: options.records,
      seconds,
      recordsPerSecond: options.records / seconds,
      megabytesPerSecond: (options.records * options.valueBytes) / seconds / 1e6,
      cpuSecondsPer100k: (report.cpuSeconds / total) * 100_000,
      windowCpuSecondsPer100k: ((cpuAtLast.side - cpuAtFirst!.side) / options.records) * 100_000,
      brokerCpuSecondsPer100k: ((cpuAtLast.broker - cpuAtFirst!.broker) / options.records) * 100_000,
      latencyP50Ms: percentile(latencies, 0.5),
      latencyP99Ms: percentile(latencies, 0.99),
      peakRssMegabytes: report.peakRssBytes / 1e6,
      ...(report.memoryAtPeak ? { memoryAtPeak: report.memoryAtPeak } : {}),
      closeSeconds,
      ...(options.rssCurve ? { rssCurve } : {}),
    }
  } finally {
    if (sampler) clearInterval(sampler)
    for (const { child } of children) if (child.exitCode === null) child.kill('SIGKILL')
    await watcher.close()
  }
}

/** SIGTERMs a runner, waits for its close (kills it after `closeTimeoutMs`), reads its last report. */
async function stopRunner(
  entry: { child: ChildProcess; stdout: string },
  options: RunOptions,
): Promise<{ report: RunnerReport; closed: boolean }> {
  const { child } = entry
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  let closeTimer: NodeJS.Timeout | undefined
  const closed = await Promise.race([
    exited.then(() => true),
    new Promise<boolean>((resolve) => {
      closeTimer = setTimeout(() => resolve(false), options.closeTimeoutMs ?? 60_000)
    }),
  ])
  clearTimeout(closeTimer)
  if (!closed) {
    console.error(
      `${options.side}: did not close within ${options.closeTimeoutMs ?? 60_000} ms of SIGTERM; killed`,
    )
    child.kill('SIGKILL')
    await exited
  }
  // For probes that write to stdout (V8's --trace-gc, for one): the runner's whole output.
  if (process.env.BENCH_RUNNER_STDOUT) appendFileSync(process.env.BENCH_RUNNER_STDOUT, entry.stdout)
  // The last report: after the close, or the one printed at SIGTERM when the runner was killed.
  const reportLine = entry.stdout
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .at(-1)
  if (!reportLine) throw new Error(`${options.side} runner printed no report`)
  return { report: JSON.parse(reportLine) as RunnerReport, closed }
}

async function measureLatency(options: RunOptions): Promise<number[]> {
  const reader = new Consumer({
    groupId: `bench-latency-${runId()}`,
    clientId: 'bench-latency',
    bootstrapBrokers: brokers,
    maxWaitTime: 10,
  })
  const starts = await endOffsets(reader, options.output)
  const stream = await reader.consume({
    topics: [options.output],
    mode: 'manual',
    offsets: starts.map((offset, partition) => ({ topic: options.output, partition, offset })),
    autocommit: false,
  })
  // Both sides read the same input topic, so the second side also processes the first side's
  // latency records; only records keyed with this phase's prefix are measured.
  const prefix = `latency-${options.side}-${runId()}-`
  const latencies: number[] = []
  const done = new Promise<void>((resolve) => {
    stream.on('data', (message) => {
      if (!message.key?.toString().startsWith(prefix)) return
      latencies.push(Date.now() - Number(message.timestamp))
      if (latencies.length >= options.latencyRecords) resolve()
    })
  })
  const producer = new Producer({
    // Kafka's Java default partitioner (murmur2 & 0x7fffffff), as kstreams and Kafka Streams use.
    partitioner: compatibilityPartitioner,
    clientId: 'bench-latency-producer',
    bootstrapBrokers: brokers,
    acks: -1,
    idempotent: true,
  })
  const value = randomBytes(options.valueBytes)
  const tick = 10
  const perTick = Math.max(1, Math.round((options.latencyRate * tick) / 1000))
  for (let sent = 0; sent < options.latencyRecords; sent += perTick) {
    const count = Math.min(perTick, options.latencyRecords - sent)
    const now = BigInt(Date.now())
    await producer.send({
      messages: Array.from({ length: count }, (_, index) => ({
        topic: options.input,
        key: Buffer.from(`${prefix}${sent + index}`),
        value,
        timestamp: now,
      })),
    })
    await new Promise((resolve) => setTimeout(resolve, tick))
  }
  await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 60_000))])
  await producer.close()
  await stream.close()
  await reader.close(true)
  return latencies
}

/** What a one-shot runner prints as its last line. */
export interface OneShotResult {
  records: number
  seconds: number
}

/**
 * Starts a runner that prints one JSON line `{ records, seconds }` when done (a restore, a raw
 * read), waits for it, then stops the runner.
 */
export async function runOneShot(
  runner: string,
  env: Record<string, string>,
  timeoutMs = 15 * 60_000,
): Promise<OneShotResult> {
  const child = spawn(process.execPath, [fileURLToPath(new URL(runner, import.meta.url))], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let stdout = ''
  try {
    return await new Promise<OneShotResult>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${runner} gave no result within ${timeoutMs} ms`)),
        timeoutMs,
      )
      child.stdout!.on('data', (chunk: Buffer) => {
        stdout += chunk.toString()
        const line = stdout.split('\n').find((candidate) => candidate.startsWith('{"records"'))
        if (line) {
          clearTimeout(timer)
          resolve(JSON.parse(line) as OneShotResult)
        }
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`${runner} exited (${code}) before its result; output: ${stdout}`))
      })
    })
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
  }
}
