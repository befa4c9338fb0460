import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, createQueryClient, silentLogger } from '@kstreams/core'
import {
  createTestTopics,
  deleteTopicsWhenTestEnds,
  endpoints,
  produceStrings,
  uniqueName,
} from '@kstreams/test-helpers'
import { expect, it, onTestFinished } from 'vitest'
import { buildWordCountTopology, type WordCountTopology } from '../../src/index.js'

it('serves the word counts over HTTP, and the typed client reads them', async () => {
  const [inputTopic, wordsTopic, outputTopic] = await createTestTopics(
    { prefix: 'lines', partitions: 3 },
    { prefix: 'words', partitions: 3 },
    { prefix: 'counts', partitions: 3 },
  )
  const applicationId = uniqueName('word-count-queries')
  deleteTopicsWhenTestEnds(`${applicationId}-word-counts-changelog`, `${applicationId}-instances`)
  const stateDir = await mkdtemp(join(tmpdir(), 'kstreams-word-count-queries-'))
  onTestFinished(() => rm(stateDir, { recursive: true, force: true }))
  await produceStrings(inputTopic!, [
    { key: 'line-1', value: 'to be or not to be' },
    { key: 'line-2', value: 'that is the question' },
  ])
  const app = createApp(
    buildWordCountTopology({ inputTopic: inputTopic!, wordsTopic: wordsTopic!, outputTopic: outputTopic! }),
    {
      applicationId,
      stateDir,
      bootstrapServers: endpoints.kafkaBootstrapServers,
      commitIntervalMs: 200,
      handleSignals: false,
      logger: silentLogger,
    },
  )
  onTestFinished(() => app.close())
  await app.start()
  const server = await app.serveQueries()
  const client = createQueryClient<WordCountTopology>({ endpoints: [server.url] })
  const counts = client.store('word-counts')
  const deadline = Date.now() + 120_000
  while ((await counts.get('be').catch(() => undefined)) !== 2n) {
    if (Date.now() > deadline) throw new Error('"be" was not counted twice in time')
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  expect(await counts.get('to')).toBe(2n)
  expect(await counts.get('question')).toBe(1n)
  expect(await counts.get('absent')).toBeUndefined()
  const words: string[] = []
  for await (const { key } of counts.all()) words.push(key)
  expect(words).toEqual(['be', 'is', 'not', 'or', 'question', 'that', 'the', 'to'])
}, 180_000)
