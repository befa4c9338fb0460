// Applications across a broker restart, on a private broker that these tests stop and start again
// with its data (the shared broker must never go away). The broker's consumer-group session
// timeout is 6 s, so that a 12 s outage outlasts it as a 45 s one outlasts the default 45 s.
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  type ChildApp,
  type DedicatedKafka,
  type ReadMessage,
  spawnNodeScript,
  startDedicatedKafka,
  uniqueName,
} from '@kstreams/test-helpers'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'

const fixture = fileURLToPath(new URL('./fixtures/outage-counting-app.mjs', import.meta.url))
const sessionTimeoutMs = 6000

let kafka: DedicatedKafka

beforeAll(async () => {
  kafka = await startDedicatedKafka({
    port: 19292,
    properties: {
      'group.consumer.session.timeout.ms': sessionTimeoutMs,
      'group.consumer.min.session.timeout.ms': 3000,
      'group.consumer.heartbeat.interval.ms': 1000,
      'group.consumer.min.heartbeat.interval.ms': 500,
    },
  })
})

afterAll(() => kafka?.close())

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds))

/** `count` records over `keys` keys, each key `word-<n>`; returns them with the truth per key. */
function words(count: number, keys: number, prefix: string) {
  const messages = Array.from({ length: count }, (_, index) => ({
    key: `word-${index % keys}`,
    value: `${prefix}-${index}`,
  }))
  return messages
}

function truthOf(...batches: Array<Array<{ key: string }>>): Map<string, number> {
  const truth = new Map<string, number>()
  for (const batch of batches) for (const { key } of batch) truth.set(key, (truth.get(key) ?? 0) + 1)
  return truth
}

/** The highest count written for each key. */
function countsOf(messages: ReadMessage[]): Map<string, bigint> {
  const counts = new Map<string, bigint>()
  for (const message of messages) {
    if (message.key === null || message.valueBytes === null) continue
    const count = message.valueBytes.readBigInt64BE(0)
    if (count > (counts.get(message.key) ?? 0n)) counts.set(message.key, count)
  }
  return counts
}

function coversTruth(truth: Map<string, number>) {
  return (messages: ReadMessage[]) => {
    const counts = countsOf(messages)
    return [...truth].every(([key, count]) => (counts.get(key) ?? 0n) >= BigInt(count))
  }
}

interface ProcessedSample {
  count: number
  atMs: number
}

/** Every "processed <count> <time>" line the instance printed. */
function processedSamples(app: ChildApp): ProcessedSample[] {
  const samples: ProcessedSample[] = []
  for (const match of app.output().matchAll(/^processed (\d+) (\d+)$/gm))
    samples.push({ count: Number(match[1]), atMs: Number(match[2]) })
  return samples
}

function processedBy(app: ChildApp, atMs = Number.POSITIVE_INFINITY): number {
  return processedSamples(app)
    .filter((sample) => sample.atMs <= atMs)
    .reduce((latest, sample) => Math.max(latest, sample.count), 0)
}

/** When an instance first processed a record after `sinceMs`, or undefined. */
function firstProcessedAfter(app: ChildApp, sinceMs: number): number | undefined {
  const before = processedBy(app, sinceMs)
  return processedSamples(app).find((sample) => sample.atMs > sinceMs && sample.count > before)?.atMs
}

function alive(app: ChildApp): boolean {
  return app.child.exitCode === null && app.child.signalCode === null
}

/** For a failing assertion: how each instance is doing and what it printed last. */
function describeInstances(apps: ChildApp[]): string {
  return apps
    .map((app, index) => {
      const status = alive(app) ? 'running' : `exited (${app.child.exitCode ?? app.child.signalCode})`
      const lines = app
        .output()
        .split('\n')
        .filter((line) => !line.startsWith('processed '))
      return `instance ${index} ${status}; last lines:\n  ${lines.slice(-6).join('\n  ')}`
    })
    .join('\n')
}

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(100)
  }
}

async function spawnInstances(count: number, env: { [name: string]: string }): Promise<ChildApp[]> {
  const apps: ChildApp[] = []
  for (let index = 0; index < count; index += 1) {
    const stateDir = await mkdtemp(join(tmpdir(), 'kstreams-outage-'))
    onTestFinished(() => rm(stateDir, { recursive: true, force: true }))
    apps.push(
      spawnNodeScript(fixture, {
        ...env,
        KAFKA_BOOTSTRAP_SERVERS: kafka.bootstrapServers.join(','),
        STATE_DIR: stateDir,
      }),
    )
  }
  await Promise.all(apps.map((app) => app.waitFor('state running', 90_000)))
  return apps
}

/** Three instances count a backlog; the broker goes away for `outageMs` in the middle of it. */
async function rideOutOutage(label: string, outageMs: number) {
  const [input, output] = await kafka.createTopics(
    { prefix: `${label}-in`, partitions: 3 },
    { prefix: `${label}-out`, partitions: 3 },
  )
  const before = words(24_000, 60, 'before')
  await kafka.produceStrings(input!, before)
  const apps = await spawnInstances(3, {
    APP_ID: uniqueName(label),
    INPUT_TOPIC: input!,
    OUTPUT_TOPIC: output!,
    PROCESS_DELAY_MS: '1',
  })
  const total = () => apps.reduce((sum, app) => sum + processedBy(app), 0)
  await waitUntil(() => total() >= 3000, 90_000, 'processing 3000 records before the outage')

  await kafka.stop({ keep: true })
  onTestFinished(() => kafka.start({ keep: true }))
  const stoppedAt = Date.now()
  const atStop = total()
  await sleep(outageMs)
  expect(apps.map(alive), describeInstances(apps)).toEqual([true, true, true])
  const duringOutage = apps.map((app) => app.output().slice(app.output().lastIndexOf('state running')))
  await kafka.start({ keep: true })
  const backAt = Date.now()

  const after = words(3000, 60, 'after')
  await kafka.produceStrings(input!, after)
  const truth = truthOf(before, after)
  const messages = await kafka.readTopicUntil(output!, coversTruth(truth), 180_000)
  const counts = countsOf(messages)
  const lost = [...truth].filter(([key, count]) => (counts.get(key) ?? 0n) < BigInt(count))
  const firstAfter = apps
    .map((app) => firstProcessedAfter(app, backAt))
    .filter((atMs): atMs is number => atMs !== undefined)
  const recoverySeconds = firstAfter.length > 0 ? (Math.min(...firstAfter) - backAt) / 1000 : Number.NaN
  const inputs = before.length + after.length
  console.info(
    `${label}: broker away ${((backAt - stoppedAt) / 1000).toFixed(1)} s with ${atStop} of ${before.length} processed; ` +
      `first record processed ${recoverySeconds.toFixed(1)} s after it was back; ` +
      `${inputs} records in, ${messages.length} counts out, ${messages.length - inputs} duplicate(s), ${lost.length} key(s) short`,
  )
  expect(lost).toEqual([])
  expect(apps.map(alive), describeInstances(apps)).toEqual([true, true, true])
  expect(firstAfter.length).toBeGreaterThan(0)
  for (const [index, app] of apps.entries())
    expect(app.output(), `instance ${index}`).not.toMatch(/^(error|failed) /m)
  /** Each instance showed the outage (state degraded) and came back to running on its own. */
  const expectDegradedThenRunning = () => {
    for (const [index, app] of apps.entries()) {
      expect(duringOutage[index], `instance ${index} during the outage`).toContain('state degraded')
      expect(app.output().slice(app.output().lastIndexOf('state degraded'))).toContain('state running')
    }
  }
  return { apps, backAt, expectDegradedThenRunning }
}

describe('a broker restart', () => {
  it('is ridden out by three instances of a stateful app: a 15 s outage, nothing lost', async () => {
    const { expectDegradedThenRunning } = await rideOutOutage('outage-15s', 15_000)
    expectDegradedThenRunning()
  }, 300_000)

  it('is ridden out when the outage outlasts the group session timeout: every instance resumes', async () => {
    const { apps, backAt, expectDegradedThenRunning } = await rideOutOutage(
      'outage-session',
      2 * sessionTimeoutMs,
    )
    // A restarted broker reloads the group and starts every member's session timer afresh, so the
    // members are not necessarily expired by an outage longer than the session timeout; whether
    // they kept their membership or joined again, each instance must own partitions and process
    // records after the broker returned (the SIGSTOP test in group-consumer-app.test.ts forces an
    // expiry and a rejoin).
    for (const [index, app] of apps.entries()) {
      expect(firstProcessedAfter(app, backAt), `instance ${index} processed after the outage`).toBeDefined()
    }
    expectDegradedThenRunning()
  }, 300_000)

  it('fails the app with one clear KSTREAMS_KAFKA error and a non-zero exit past brokerUnavailableTimeoutMs', async () => {
    const [input, output] = await kafka.createTopics(
      { prefix: 'outage-fail-in' },
      { prefix: 'outage-fail-out' },
    )
    await kafka.produceStrings(input!, words(200, 10, 'fail'))
    const [app] = await spawnInstances(1, {
      APP_ID: uniqueName('outage-fail'),
      INPUT_TOPIC: input!,
      OUTPUT_TOPIC: output!,
      BROKER_UNAVAILABLE_TIMEOUT_MS: '5000',
      DELIVERY_TIMEOUT_MS: '5000',
    })
    await waitUntil(() => processedBy(app!) >= 200, 60_000, 'processing the first 200 records')
    await kafka.stop({ keep: true })
    onTestFinished(() => kafka.start({ keep: true }))
    const stoppedAt = Date.now()
    const [exitCode] = (await Promise.race([
      app!.child.exitCode !== null
        ? Promise.resolve([app!.child.exitCode])
        : new Promise((resolve) => app!.child.once('exit', (...args) => resolve(args))),
      sleep(60_000).then(() => [undefined]),
    ])) as [number | null | undefined]
    const exitedAfter = Date.now() - stoppedAt
    const text = app!.output()
    console.info(
      `outage past brokerUnavailableTimeoutMs 5000: exited with ${exitCode} after ${exitedAfter} ms`,
    )
    const failures = text.split('\n').filter((line) => line.startsWith('failed '))
    expect(failures).toHaveLength(1)
    expect(failures[0]).toMatch(/^failed KSTREAMS_KAFKA: /)
    expect(failures[0]).toContain(kafka.bootstrapServers[0])
    // How long it was unreachable, in seconds or milliseconds.
    expect(failures[0]).toMatch(/\d+(\.\d+)? ?(s|ms)\b/)
    expect(text.split('\n').filter((line) => line.startsWith('error ')).length).toBeLessThanOrEqual(1)
    expect(exitCode).toBeTypeOf('number')
    expect(exitCode).not.toBe(0)
  }, 180_000)

  it('keeps memory bounded and stops processing at the produce bound while the broker is away', async () => {
    const [input, output] = await kafka.createTopics(
      { prefix: 'outage-memory-in', partitions: 3 },
      { prefix: 'outage-memory-out', partitions: 3 },
    )
    // ~60 MB of input: far more than the app may buffer while it cannot produce.
    const padding = 'x'.repeat(1000)
    const backlog = Array.from({ length: 60_000 }, (_, index) => ({
      key: `word-${index % 500}`,
      value: `${index}-${padding}`,
    }))
    // In slices: the helper sends 5000 records a request, 5 MB here, over the broker's 1 MB limit.
    for (let start = 0; start < backlog.length; start += 500)
      await kafka.produceStrings(input!, backlog.slice(start, start + 500))
    const [app] = await spawnInstances(1, {
      APP_ID: uniqueName('outage-memory'),
      INPUT_TOPIC: input!,
      OUTPUT_TOPIC: output!,
      // ~900 records/s: the backlog is far from done when the broker goes away.
      PROCESS_DELAY_MS: '1',
    })
    const rssMb = () => {
      const status = readFileSync(`/proc/${app!.child.pid}/status`, 'utf8')
      return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024
    }
    await waitUntil(() => processedBy(app!) >= 5000, 90_000, 'processing 5000 records before the outage')
    const beforeOutage: number[] = []
    for (let sample = 0; sample < 8; sample += 1) {
      beforeOutage.push(rssMb())
      await sleep(250)
    }
    await kafka.stop({ keep: true })
    onTestFinished(() => kafka.start({ keep: true }))
    const stoppedAt = Date.now()
    const during: number[] = []
    while (Date.now() - stoppedAt < 15_000) {
      during.push(rssMb())
      await sleep(250)
    }
    const baseline = Math.max(...beforeOutage)
    const peak = Math.max(...during)
    // Processing stops once the produce requests in flight reach their bound: nothing processed
    // over the second half of the outage.
    const atHalf = processedBy(app!, stoppedAt + 7500)
    const atEnd = processedBy(app!)
    console.info(
      `memory during the outage: ${baseline.toFixed(0)} MB before, ${peak.toFixed(0)} MB at most; ` +
        `processed ${processedBy(app!, stoppedAt)} before, ${atHalf} at 7.5 s, ${atEnd} at 15 s of ${backlog.length}`,
    )
    expect(alive(app!), describeInstances([app!])).toBe(true)
    expect(peak).toBeLessThan(baseline + 150)
    expect(atEnd).toBe(atHalf)
    expect(atEnd).toBeLessThan(backlog.length)
  }, 240_000)
})
