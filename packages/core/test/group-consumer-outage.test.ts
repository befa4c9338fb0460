import { describe, expect, it, onTestFinished } from 'vitest'
import { KStreamsError } from '../src/errors.js'
import type { Logger } from '../src/index.js'
import { Cluster } from '../src/kafka/platformatic-cluster.js'
import { ConnectivityTracker } from '../src/kafka/platformatic-connectivity.js'
import { PlatformaticGroupConsumer } from '../src/kafka/platformatic-group-consumer.js'

// Port 1 on loopback: nothing listens, so every connection is refused at once, like a broker
// that is down.
const nowhere = ['127.0.0.1:1']

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = []
  const record = (level: string) => (message: string) => {
    lines.push(`${level} ${message}`)
  }
  return { lines, debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') }
}

function unreachableConsumer(brokerUnavailableTimeoutMs: number) {
  const connectivity = new ConnectivityTracker(nowhere)
  const logger = recordingLogger()
  const consumer = new PlatformaticGroupConsumer(
    new Cluster({
      bootstrapServers: nowhere,
      clientId: 'outage',
      connectTimeoutMs: 200,
      requestTimeoutMs: 500,
      connectivity,
    }),
    {
      groupId: 'outage-group',
      clientId: 'outage',
      topics: ['outage-topic'],
      listener: { onAssigned: async () => {}, onRevoked: async () => {}, onLost: async () => {} },
      brokerUnavailableTimeoutMs,
      logger,
    },
  )
  onTestFinished(() => consumer.close())
  return { consumer, connectivity, logger }
}

describe('group requests while no broker answers', () => {
  it('retry a commit with backoff until the deadline, then fail with a retriable KafkaError naming group and brokers', async () => {
    const { consumer, connectivity, logger } = unreachableConsumer(2000)
    const started = Date.now()
    const error = await consumer
      .commit([{ topic: 'outage-topic', partition: 0, offset: 5n, metadata: null }])
      .then(
        () => undefined,
        (caught: unknown) => caught,
      )
    const elapsed = Date.now() - started
    expect(KStreamsError.isInstance(error) && error.code === 'KSTREAMS_KAFKA').toBe(true)
    expect(error).toMatchObject({
      retriable: true,
      context: { groupId: 'outage-group', brokers: '127.0.0.1:1' },
      message: expect.stringMatching(
        /^could not commit offsets for group "outage-group": Kafka at 127\.0\.0\.1:1 has been unreachable for \d+\.\d s/,
      ),
    })
    // Neither a fixed number of attempts nor one attempt: until the deadline, and not much longer.
    expect(elapsed).toBeGreaterThanOrEqual(2000)
    expect(elapsed).toBeLessThan(3500)
    expect(connectivity.outage()).toMatchObject({ brokers: '127.0.0.1:1', sinceMs: expect.any(Number) })
    expect(connectivity.outage()!.sinceMs).toBeLessThanOrEqual(started + 500)
    // Logged once for the outage, not once per attempt.
    expect(logger.lines.filter((line) => line.includes('is unreachable'))).toHaveLength(1)
  })

  it('apply the same deadline to fetching committed offsets', async () => {
    const { consumer } = unreachableConsumer(800)
    await expect(consumer.committed([{ topic: 'outage-topic', partition: 0 }])).rejects.toMatchObject({
      code: 'KSTREAMS_KAFKA',
      retriable: true,
      message: expect.stringContaining('could not fetch committed offsets for group "outage-group"'),
    })
  })
})
