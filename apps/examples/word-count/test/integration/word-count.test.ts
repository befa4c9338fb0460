import { createApp, silentLogger } from '@kstreams/core'
import {
  createTestTopics,
  endpoints,
  produceStrings,
  readTopicUntil,
  uniqueName,
} from '@kstreams/test-helpers'
import { expect, it, onTestFinished } from 'vitest'
import { buildWordCountTopology } from '../../src/index.js'

it('counts words end to end on the real broker', async () => {
  const [inputTopic, outputTopic] = await createTestTopics(
    { prefix: 'lines', partitions: 3 },
    { prefix: 'counts', partitions: 3 },
  )
  await produceStrings(inputTopic!, [
    { key: 'doc', value: 'to be or not to be' },
    { key: 'doc', value: 'that is the question' },
  ])
  const app = createApp(buildWordCountTopology({ inputTopic: inputTopic!, outputTopic: outputTopic! }), {
    applicationId: uniqueName('word-count'),
    bootstrapServers: endpoints.kafkaBootstrapServers,
    commitIntervalMs: 200,
    handleSignals: false,
    logger: silentLogger,
  })
  onTestFinished(() => app.close())
  await app.start()
  const messages = await readTopicUntil(outputTopic!, (read) => read.length >= 10)
  const counts = new Map(messages.map((message) => [message.key, message.valueBytes!.readBigInt64BE(0)]))
  expect(Object.fromEntries(counts)).toEqual({
    to: 2n,
    be: 2n,
    or: 1n,
    not: 1n,
    that: 1n,
    is: 1n,
    the: 1n,
    question: 1n,
  })
})
