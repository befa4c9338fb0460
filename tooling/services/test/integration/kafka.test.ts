import { createTestTopics, endpoints, uniqueName } from '@kstreams/test-helpers'
import {
  Consumer,
  compatibilityPartitioner,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka'
import { expect, it, onTestFinished } from 'vitest'

it('produces to and consumes from the real broker with @platformatic/kafka', async () => {
  const [topic] = await createTestTopics({ prefix: 'smoke', partitions: 2 })
  const producer = new Producer({
    // Kafka's Java default partitioner (murmur2 & 0x7fffffff), as kstreams and Kafka Streams use.
    partitioner: compatibilityPartitioner,
    clientId: uniqueName('smoke-producer'),
    bootstrapBrokers: endpoints.kafkaBootstrapServers,
    serializers: stringSerializers,
  })
  onTestFinished(() => producer.close())
  const sent = ['one', 'two', 'three']
  await producer.send({
    messages: sent.map((value, index) => ({ topic: topic!, key: `key-${index}`, value })),
    acks: -1,
  })

  const consumer = new Consumer({
    groupId: uniqueName('smoke-group'),
    clientId: uniqueName('smoke-consumer'),
    bootstrapBrokers: endpoints.kafkaBootstrapServers,
    deserializers: stringDeserializers,
  })
  onTestFinished(() => consumer.close(true))
  const stream = await consumer.consume({ topics: [topic!], mode: 'earliest', autocommit: false })
  const received: Array<{ key: string; value: string }> = []
  for await (const message of stream) {
    received.push({ key: message.key, value: message.value })
    if (received.length === sent.length) break
  }
  expect(received.map((message) => message.value).sort()).toEqual([...sent].sort())
  expect(received.find((message) => message.value === 'two')?.key).toBe('key-1')
})
