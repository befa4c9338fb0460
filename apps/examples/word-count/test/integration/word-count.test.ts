import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, silentLogger } from '@kstreams/core'
import { createLmdbBackend } from '@kstreams/store-lmdb'
import {
  createTestTopics,
  deleteTopicsWhenTestEnds,
  endpoints,
  produceStrings,
  type ReadMessage,
  readTopicUntil,
  uniqueName,
} from '@kstreams/test-helpers'
import { expect, it, onTestFinished } from 'vitest'
import { buildWordCountTopology } from '../../src/index.js'

it('counts words end to end on the real broker', async () => {
  const [inputTopic, wordsTopic, outputTopic] = await createTestTopics(
    { prefix: 'lines', partitions: 3 },
    { prefix: 'words', partitions: 3 },
    { prefix: 'counts', partitions: 3 },
  )
  const applicationId = uniqueName('word-count')
  deleteTopicsWhenTestEnds(`${applicationId}-word-counts-changelog`)
  const stateDir = await mkdtemp(join(tmpdir(), 'kstreams-word-count-test-'))
  onTestFinished(() => rm(stateDir, { recursive: true, force: true }))
  await produceStrings(inputTopic!, [
    { key: 'line-1', value: 'to be or not to be' },
    { key: 'line-2', value: 'that is the question' },
  ])
  const topology = buildWordCountTopology({
    inputTopic: inputTopic!,
    wordsTopic: wordsTopic!,
    outputTopic: outputTopic!,
    backend: createLmdbBackend(),
  })
  const app = createApp(topology, {
    applicationId,
    stateDir,
    bootstrapServers: endpoints.kafkaBootstrapServers,
    // A failure is asserted through done(), not by exiting the test process.
    onFatalError: () => {},
    commitIntervalMs: 200,
    handleSignals: false,
    logger: silentLogger,
  })
  onTestFinished(() => app.close())
  await app.start()
  const latest = (read: ReadMessage[]) =>
    new Map(read.map((message) => [message.key, message.valueBytes!.readBigInt64BE(0)]))
  const messages = await readTopicUntil(
    outputTopic!,
    (read) => latest(read).get('to') === 2n && latest(read).size === 8,
  )
  const counts = latest(messages)
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
