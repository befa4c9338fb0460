// A key-mode instance killed with SIGKILL while hundreds of records run, on the real broker.
// Instance A (a child process: 12 partitions, maxInFlight 256, a 20–50 ms call per record) kills
// itself with SIGKILL after two commits, at a moment when 300 or more records run; instance B
// (another child) takes over. Nothing is lost, and the duplicates are exactly the records A had
// finished (their output reached the topic) whose offsets its last commit did not cover, neither
// below the committed offset nor in the completed-offset map: B processes nothing the commit covered.
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import {
  type ChildApp,
  createTestTopics,
  endpoints,
  produceStrings,
  readTopicUntil,
  setGroupSessionTimeout,
  spawnNodeScript,
  uniqueName,
} from '@kstreams/test-helpers'
import { expect, it } from 'vitest'
import { isCommitted, readCommitted } from './key-helpers.js'

const fixture = fileURLToPath(new URL('./fixtures/key-crash-app.mjs', import.meta.url))

interface Output {
  value: string
  partition: number
  offset: bigint
  instance: string
}

/** What A printed when it killed itself: records finished, running, in flight, commits made. */
function childState(app: ChildApp): { finished: number; running: number; inFlight: number; commits: number } {
  const line = app
    .output()
    .split('\n')
    .find((entry) => entry.startsWith('killing '))
  if (!line) throw new Error(`the child did not kill itself; it printed:\n${app.output().slice(-3000)}`)
  const field = (name: string) => Number(new RegExp(`${name}=(\\d+)`).exec(line)![1])
  return {
    finished: field('finished'),
    running: field('running'),
    inFlight: field('inFlight'),
    commits: field('commits'),
  }
}

it('key mode: SIGKILL with hundreds of records in flight loses nothing; duplicates are only finished records the last commit did not cover', async () => {
  const partitions = 12
  const total = 20_000
  const [input, output] = await createTestTopics(
    { prefix: 'key-crash-in', partitions },
    { prefix: 'key-crash-out', partitions },
  )
  const applicationId = uniqueName('key-crash')
  // The killed member leaves the group after 3 s, so B gets every partition soon.
  await setGroupSessionTimeout(applicationId, 3000)
  const messages = Array.from({ length: total }, (_, index) => ({
    key: `key-${index % 1000}`,
    value: `c${index}`,
  }))
  await produceStrings(input!, messages)
  const env = {
    APP_ID: applicationId,
    INPUT_TOPIC: input,
    OUTPUT_TOPIC: output,
    KAFKA_BOOTSTRAP_SERVERS: endpoints.kafkaBootstrapServers.join(','),
  }

  // A kills itself with SIGKILL after two commits, at a moment when 300 or more records run.
  const a = spawnNodeScript(fixture, {
    ...env,
    INSTANCE: 'A',
    KILL_AFTER_COMMITS: '2',
    KILL_MIN_RUNNING: '300',
  })
  if (a.child.exitCode === null && a.child.signalCode === null) {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      once(a.child, 'exit'),
      new Promise((_resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`A did not kill itself in 60 s:\n${a.output().slice(-3000)}`)),
          60_000,
        )
      }),
    ]).finally(() => clearTimeout(timer))
  }
  expect(a.child.signalCode).toBe('SIGKILL')
  const atKill = childState(a)
  expect(atKill.finished).toBeLessThan(total * 0.8)
  // What A's last commit covers, read from the broker before B starts.
  const committed = await readCommitted(applicationId, input!, partitions)
  const mapOffsets = committed.reduce((sum, entry) => sum + entry.completed.size, 0)
  const longestMetadata = Math.max(...committed.map((entry) => entry.metadata.length))
  // Out-of-order completion left done offsets above the committed ones: the maps are in play.
  expect(mapOffsets).toBeGreaterThan(0)

  const b = spawnNodeScript(fixture, { ...env, INSTANCE: 'B' })
  await b.waitFor('state running')
  const expected = new Set(messages.map((message) => message.value))
  const read = await readTopicUntil(
    output!,
    (outputsSoFar) =>
      new Set(outputsSoFar.map((message) => message.value!.split('|')[0])).size >= expected.size,
    90_000,
  )
  const outputs: Output[] = read.map((message) => {
    const [value, partition, offset, instance] = message.value!.split('|')
    return { value: value!, partition: Number(partition), offset: BigInt(offset!), instance: instance! }
  })
  // Nothing lost.
  const seen = new Set(outputs.map((entry) => entry.value))
  expect(seen).toEqual(expected)
  // Each output names the input partition and offset it came from.
  const coveredByCommit = (entry: Output) => isCommitted(committed[entry.partition]!, entry.offset)
  const fromA = outputs.filter((entry) => entry.instance === 'A')
  const fromB = outputs.filter((entry) => entry.instance === 'B')
  // B processed nothing A's commit covered (below the committed offset, or in its map).
  const bCovered = fromB.filter(coveredByCommit)
  expect(bCovered).toHaveLength(0)
  // The bound: records A finished (output) that its last commit did not cover.
  const bound = new Set(fromA.filter((entry) => !coveredByCommit(entry)).map((entry) => entry.value))
  const counts = new Map<string, number>()
  for (const entry of outputs) counts.set(entry.value, (counts.get(entry.value) ?? 0) + 1)
  const duplicated = [...counts].filter(([, count]) => count > 1).map(([value]) => value)
  const duplicates = outputs.length - seen.size
  expect(duplicates).toBeLessThanOrEqual(bound.size)
  for (const value of duplicated) expect(bound.has(value), value).toBe(true)
  // Every record of the bound was processed again by B (it was not covered by the commit).
  for (const value of bound) expect(counts.get(value), value).toBe(2)
  expect(duplicates).toBe(bound.size)
  // A wrote each of its outputs once.
  expect(new Set(fromA.map((entry) => entry.value)).size).toBe(fromA.length)
  console.info(
    `key crash on the broker: ${total} records, ${partitions} partitions, maxInFlight 256, 20–50 ms per record; SIGKILL after ${atKill.commits} commits with ${atKill.finished} finished, ${atKill.inFlight} in flight (${atKill.running} running); A's last commit: offsets ${committed.map((entry) => entry.offset).join(',')} plus ${mapOffsets} offsets in maps (longest metadata ${longestMetadata} characters); A output ${fromA.length}, B output ${fromB.length}; duplicates ${duplicates}, bound (A's outputs not covered by its commit) ${bound.size}; B outputs of covered offsets: ${bCovered.length}`,
  )
})
