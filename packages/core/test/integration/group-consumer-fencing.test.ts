import { createTestTopics, endpoints, setGroupSessionTimeout, uniqueName } from '@kstreams/test-helpers'
import { NetworkError } from '@platformatic/kafka'
import { describe, expect, it, onTestFinished } from 'vitest'
import { KStreamsError } from '../../src/errors.js'
import type { Logger, TopicPartition } from '../../src/index.js'
import { Cluster } from '../../src/kafka/platformatic-cluster.js'
import { ConnectivityTracker } from '../../src/kafka/platformatic-connectivity.js'
import { PlatformaticGroupConsumer } from '../../src/kafka/platformatic-group-consumer.js'

// Kafka 4.x lets a group override the broker's session timeout (KIP-848 group configs): 3 s (the
// broker's minimum here) instead of 10 s keeps these tests short without touching the shared broker.
const SESSION_TIMEOUT_MS = 3000

function setSessionTimeout(groupId: string): Promise<void> {
  return setGroupSessionTimeout(groupId, SESSION_TIMEOUT_MS)
}

/**
 * A cluster whose group requests can be cut off, as when the member's process is stopped or a
 * network partition isolates it from the coordinator: every request fails as a refused connection.
 */
class SeverableCluster extends Cluster {
  severed = false

  override async coordinatorFor(groupId: string) {
    if (this.severed) {
      const refused = Object.assign(new Error('connect ECONNREFUSED (severed by the test)'), {
        code: 'ECONNREFUSED',
      })
      throw new NetworkError('Connection failed', { cause: refused })
    }
    return super.coordinatorFor(groupId)
  }
}

interface Member {
  consumer: PlatformaticGroupConsumer
  cluster: SeverableCluster
  connectivity: ConnectivityTracker
  owned: Set<number>
  /** Listener calls in order, e.g. "assigned 0,1", "lost 2,3". */
  events: string[]
  log: string[]
}

function partitionList(partitions: TopicPartition[]): string {
  return partitions
    .map((partition) => partition.partition)
    .sort((a, b) => a - b)
    .join(',')
}

function startMember(groupId: string, topic: string): Member {
  const owned = new Set<number>()
  const events: string[] = []
  const log: string[] = []
  const connectivity = new ConnectivityTracker(endpoints.kafkaBootstrapServers)
  const record = (level: string) => (message: string) => {
    log.push(`${level} ${message}`)
  }
  const logger: Logger = {
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  }
  const cluster = new SeverableCluster({
    bootstrapServers: endpoints.kafkaBootstrapServers,
    clientId: uniqueName('fencing-member'),
    connectTimeoutMs: 5000,
    requestTimeoutMs: 30_000,
    connectivity,
  })
  const consumer = new PlatformaticGroupConsumer(cluster, {
    groupId,
    clientId: uniqueName('fencing-member'),
    topics: [topic],
    logger,
    listener: {
      onAssigned: async (partitions) => {
        events.push(`assigned ${partitionList(partitions)}`)
        for (const { partition } of partitions) owned.add(partition)
      },
      onRevoked: async (partitions) => {
        events.push(`revoked ${partitionList(partitions)}`)
        for (const { partition } of partitions) owned.delete(partition)
      },
      onLost: async (partitions) => {
        events.push(`lost ${partitionList(partitions)}`)
        for (const { partition } of partitions) owned.delete(partition)
      },
    },
  })
  onTestFinished(() => consumer.close())
  return { consumer, cluster, connectivity, owned, events, log }
}

async function waitUntil(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Two members sharing four partitions, then the first one cut off until the second owns all four. */
async function fenceFirstMember() {
  const [topic] = await createTestTopics({ prefix: 'fencing', partitions: 4 })
  const groupId = uniqueName('fencing-group')
  await setSessionTimeout(groupId)
  const first = startMember(groupId, topic!)
  await first.consumer.subscribe()
  await waitUntil('the first member owns all partitions', () => first.owned.size === 4)
  const second = startMember(groupId, topic!)
  await second.consumer.subscribe()
  await waitUntil('both members own two partitions', () => first.owned.size === 2 && second.owned.size === 2)
  const ownedBefore = [...first.owned].sort((a, b) => a - b)
  first.cluster.severed = true
  const severedAt = Date.now()
  await waitUntil('the second member took over', () => second.owned.size === 4, 20_000)
  const takeoverMs = Date.now() - severedAt
  expect(first.connectivity.outage()).toMatchObject({ brokers: endpoints.kafkaBootstrapServers.join(', ') })
  return { topic: topic!, groupId, first, second, ownedBefore, takeoverMs }
}

async function expectRejoined(first: Member, second: Member, ownedBefore: number[]): Promise<void> {
  await waitUntil('the first member owns partitions again', () => first.owned.size > 0)
  await waitUntil('the partitions are shared again', () => first.owned.size === 2 && second.owned.size === 2)
  const lostAt = first.events.indexOf(`lost ${ownedBefore.join(',')}`)
  expect(lostAt, first.events.join(' | ')).toBeGreaterThan(0)
  expect(
    first.events.slice(lostAt + 1).some((event) => event.startsWith('assigned')),
    first.events.join(' | '),
  ).toBe(true)
  expect(
    first.log.some((line) => line.startsWith('warn') && line.includes('partitions lost, rejoining')),
  ).toBe(true)
  expect(first.log.some((line) => line.startsWith('info') && line.includes('rejoined as member'))).toBe(true)
  expect(first.connectivity.outage()).toBeUndefined()
  expect(first.consumer.generation().memberEpoch).toBeGreaterThan(0)
  for (const partition of first.owned) expect(second.owned.has(partition)).toBe(false)
}

describe('a group member fenced by the coordinator', () => {
  it('reports its partitions lost when a heartbeat finds its session expired, rejoins and commits again', async () => {
    const { topic, first, second, ownedBefore, takeoverMs } = await fenceFirstMember()
    first.cluster.severed = false
    const restoredAt = Date.now()
    await expectRejoined(first, second, ownedBefore)
    console.info(
      `fencing (heartbeat): takeover ${takeoverMs} ms after the cut, rejoined with its share ${Date.now() - restoredAt} ms after the broker was back`,
    )
    // The new epoch commits.
    const partition = [...first.owned][0]!
    await first.consumer.commit([{ topic, partition, offset: 1n, metadata: 'after-rejoin' }])
    const committed = await first.consumer.committed([{ topic, partition }])
    expect([...committed.values()]).toEqual([{ offset: 1n, metadata: 'after-rejoin' }])
  })

  it('rejects a commit of the expired membership with a FencedError, then rejoins by itself', async () => {
    const { topic, groupId, first, second, ownedBefore } = await fenceFirstMember()
    first.cluster.severed = false
    const restoredAt = Date.now()
    const error = await first.consumer
      .commit([{ topic, partition: ownedBefore[0]!, offset: 1n, metadata: null }])
      .then(
        () => undefined,
        (caught: unknown) => caught,
      )
    expect(KStreamsError.isInstance(error) && error.code === 'KSTREAMS_FENCED').toBe(true)
    expect(error).toMatchObject({ retriable: false, context: { groupId } })
    expect((error as Error).message).toContain(`group "${groupId}"`)
    await expectRejoined(first, second, ownedBefore)
    console.info(
      `fencing (commit): rejoined with its share ${Date.now() - restoredAt} ms after the broker was back`,
    )
    // Nothing of the fenced commit landed.
    const committed = await second.consumer.committed([{ topic, partition: ownedBefore[0]! }])
    expect([...committed.values()]).toEqual([null])
  })

  it('does not confirm its membership after a heartbeat gap past the session timeout; a current member confirms at once', async () => {
    const { first, second, ownedBefore } = await fenceFirstMember()
    // The member heard nothing from the coordinator for longer than the session timeout, as after
    // a long block of its event loop: it may not write before a heartbeat says it is still in.
    first.cluster.severed = false
    const error = await first.consumer.confirmMembership(10_000).then(
      (confirmed) => confirmed,
      (caught: unknown) => caught,
    )
    expect(KStreamsError.isInstance(error) && error.code === 'KSTREAMS_FENCED', String(error)).toBe(true)
    // The other member's last heartbeat is recent: confirmed without a request.
    expect(await second.consumer.confirmMembership(0)).toBe(true)
    await expectRejoined(first, second, ownedBefore)
    expect(await first.consumer.confirmMembership(10_000)).toBe(true)
  })
})
