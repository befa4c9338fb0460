import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import {
  createApp,
  type KeyValueStore,
  type KStreamsApp,
  type ProcessorContext,
  serdes,
  silentLogger,
  stores,
  type Topology,
  TopologyBuilder,
} from '@kstreams/core'
import {
  createTestTopics,
  deleteTopicsWhenTestEnds,
  endpoints,
  produceStrings,
  readTopicUntil,
  uniqueName,
} from '@kstreams/test-helpers'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createPrometheusMetrics } from '../../src/index.js'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/**
 * Parses the Prometheus text exposition format: `name{label="value",...} value [timestamp]` per
 * line, `#` lines (HELP, TYPE) skipped. Label values unescape `\\`, `\"` and `\n`.
 */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/.exec(line)
    if (match === null) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const label of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[label[1]!] = label[2]!.replace(/\\(.)/g, (_, escaped: string) =>
        escaped === 'n' ? '\n' : escaped,
      )
    }
    const raw = match[3]!
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw)
    samples.push({ name: match[1]!, labels, value })
  }
  return samples
}

/** Samples named `name` whose labels include `labels`. */
function select(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter(
    (sample) =>
      sample.name === name &&
      Object.entries(labels).every(([label, value]) => sample.labels[label] === value),
  )
}

/** The sum of the samples `select` finds; undefined when there is none, so a missing series fails. */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = select(samples, name, labels)
  return found.length === 0 ? undefined : found.reduce((sum, sample) => sum + sample.value, 0)
}

async function scrape(url: string): Promise<Sample[]> {
  const response = await fetch(url)
  expect(response.status).toBe(200)
  return parseExposition(await response.text())
}

/** Scrapes until `done(samples)` holds, since stores count their operations only at a commit. */
async function scrapeUntil(url: string, done: (samples: Sample[]) => boolean, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const samples = await scrape(url)
    if (done(samples)) return samples
    if (Date.now() > deadline) throw new Error(`metrics did not reach the expected values in ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/**
 * source → `remember` (asynchronous: puts each record into the store) and source → `tag`
 * (asynchronous for even numbers, synchronous for odd ones; throws on "poison") → sink.
 */
function topology(input: string, output: string): Topology {
  return new TopologyBuilder()
    .addSource('input', { topics: [input], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('seen', { keySerde: serdes.string(), valueSerde: serdes.string() }))
    .addProcessor('remember', { parents: ['input'], stores: ['seen'] }, () => {
      let seen: KeyValueStore<string, string>
      return {
        init: (context: ProcessorContext<never, never>) => {
          seen = context.getStore<KeyValueStore<string, string>>('seen')
        },
        process: async (record: { key: string; value: string }) => {
          if (record.value !== 'poison') await seen.put(record.key, record.value)
        },
      }
    })
    .addProcessor('tag', { parents: ['input'] }, () => {
      let context: ProcessorContext<string, string>
      return {
        init: (processorContext: ProcessorContext<string, string>) => {
          context = processorContext
        },
        process: (record: { key: string; value: string; timestamp: number }) => {
          if (record.value === 'poison') throw new Error('cannot tag a poison record')
          const forward = () =>
            context.forward({
              key: record.key,
              value: `tagged-${record.value}`,
              timestamp: record.timestamp,
              headers: [],
            })
          if (Number(record.value) % 2 === 1) return forward()
          return nextTurn().then(forward)
        },
      }
    })
    .addSink('output', {
      topic: output,
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['tag'],
    })
    .build()
}

describe('Prometheus metrics of a running app', () => {
  it('reports what the app did over HTTP: records, latencies, lag, commits, store, restore, errors', async () => {
    const records = 40
    const poisonIndex = 7
    const [input, output] = await createTestTopics(
      { prefix: 'metrics-in', partitions: 2 },
      { prefix: 'metrics-out', partitions: 2 },
    )
    const applicationId = uniqueName('metrics')
    const deadLetterTopic = uniqueName('metrics-dlq')
    const changelog = `${applicationId}-seen-changelog`
    deleteTopicsWhenTestEnds(changelog, deadLetterTopic)
    const stateDir = await mkdtemp(join(tmpdir(), 'kstreams-metrics-'))
    onTestFinished(() => rm(stateDir, { recursive: true, force: true }))

    const metrics = createPrometheusMetrics({ labels: { application: applicationId } })
    onTestFinished(() => metrics.close())
    const server = await metrics.serve({ port: 0 })

    await produceStrings(
      input!,
      Array.from({ length: records }, (_, index) => ({
        key: `key-${index}`,
        value: index === poisonIndex ? 'poison' : String(index),
        partition: index % 2,
      })),
    )
    const start = (deadLetter = deadLetterTopic): KStreamsApp => {
      const app = createApp(topology(input!, output!), {
        applicationId,
        bootstrapServers: endpoints.kafkaBootstrapServers,
        // A failure is asserted through done(), not by exiting the test process.
        onFatalError: () => {},
        stateDir,
        commitIntervalMs: 200,
        processingErrorPolicy: 'dead-letter',
        deadLetterTopic: deadLetter,
        handleSignals: false,
        logger: silentLogger,
      })
      onTestFinished(() => app.close())
      return app
    }

    const app = start()
    await app.start()
    await readTopicUntil(output!, (read) => read.length >= records - 1)
    const samples = await scrapeUntil(
      server.url,
      (current) =>
        total(current, 'kstreams_records_processed_total') === records &&
        total(current, 'kstreams_records_produced_total', { topic: output! }) === records - 1 &&
        total(current, 'kstreams_store_operations_total', { store: 'seen', operation: 'put' }) ===
          records - 1 &&
        total(current, 'kstreams_records_produced_total', { topic: deadLetterTopic }) === 1,
    )
    expect(app.state).toBe('running')

    // Every series carries the static label.
    expect(samples.every((sample) => sample.labels.application === applicationId)).toBe(true)
    // One series per task, adding up to the records produced.
    expect(
      select(samples, 'kstreams_records_processed_total')
        .map((sample) => sample.labels.task)
        .sort(),
    ).toEqual(['0_0', '0_1'])
    expect(total(samples, 'kstreams_processor_records_processed_total', { processor: 'remember' })).toBe(
      records,
    )
    // The poison record threw in tag, so tag handled one record fewer.
    expect(total(samples, 'kstreams_processor_records_processed_total', { processor: 'tag' })).toBe(
      records - 1,
    )
    expect(total(samples, 'kstreams_processor_duration_seconds_count', { processor: 'tag' })).toBe(
      records - 1,
    )
    expect(total(samples, 'kstreams_processor_duration_seconds_sum', { processor: 'tag' })).toBeGreaterThan(0)
    expect(total(samples, 'kstreams_processor_in_flight', { processor: 'tag' })).toBe(0)
    expect(total(samples, 'kstreams_processor_in_flight', { processor: 'remember' })).toBe(0)

    expect(total(samples, 'kstreams_records_produced_total', { topic: changelog })).toBe(records - 1)
    expect(total(samples, 'kstreams_dead_letter_records_total')).toBe(1)
    expect(total(samples, 'kstreams_dead_letter_records_total', { stage: 'processing' })).toBe(1)
    expect(
      total(samples, 'kstreams_record_errors_total', { stage: 'processing', policy: 'dead-letter' }),
    ).toBe(1)
    expect(total(samples, 'kstreams_record_errors_total')).toBe(1)

    const latency = { sink: 'output', topic: output! }
    expect(total(samples, 'kstreams_end_to_end_latency_seconds_count', latency)).toBe(records - 1)
    expect(total(samples, 'kstreams_end_to_end_latency_seconds_bucket', { ...latency, le: '+Inf' })).toBe(
      records - 1,
    )
    expect(total(samples, 'kstreams_end_to_end_latency_seconds_sum', latency)).toBeGreaterThan(0)

    expect(total(samples, 'kstreams_commits_total')).toBeGreaterThan(0)
    expect(total(samples, 'kstreams_commit_duration_seconds_count')).toBe(
      total(samples, 'kstreams_commits_total'),
    )
    expect(total(samples, 'kstreams_rebalances_total', { kind: 'assigned' })).toBeGreaterThanOrEqual(1)
    expect(total(samples, 'kstreams_state', { state: 'running' })).toBe(1)
    expect(total(samples, 'kstreams_state')).toBe(1)

    // Everything was produced before the app started, so after the last fetch nothing is left.
    const lag = select(samples, 'kstreams_consumer_lag', { topic: input! })
    expect(lag.map((sample) => sample.labels.partition).sort()).toEqual(['0', '1'])
    expect(lag.map((sample) => sample.value)).toEqual([0, 0])

    // The first run restores each task's store from an empty changelog.
    expect(total(samples, 'kstreams_restore_duration_seconds_count', { store: 'seen' })).toBe(2)
    expect(total(samples, 'kstreams_restores_in_progress', { store: 'seen' })).toBe(0)
    expect(total(samples, 'kstreams_restored_records_total') ?? 0).toBe(0)

    await app.close()
    const stopped = await scrape(server.url)
    expect(total(stopped, 'kstreams_state', { state: 'not-running' })).toBe(1)
    expect(total(stopped, 'kstreams_state', { state: 'running' })).toBe(0)
    expect(select(stopped, 'kstreams_consumer_lag')).toEqual([])
    expect(total(stopped, 'kstreams_rebalances_total', { kind: 'revoked' })).toBeGreaterThanOrEqual(1)

    // The in-memory stores start empty again: the second run rebuilds them from the changelog.
    // A fresh dead-letter topic: core fails to start when the one it creates already exists (its
    // TOPIC_ALREADY_EXISTS check misses the error nested two levels deep in @platformatic/kafka's error).
    const secondDeadLetterTopic = uniqueName('metrics-dlq')
    deleteTopicsWhenTestEnds(secondDeadLetterTopic)
    const again = start(secondDeadLetterTopic)
    await again.start()
    const restored = await scrapeUntil(
      server.url,
      (current) =>
        total(current, 'kstreams_restore_duration_seconds_count', { store: 'seen' }) === 4 &&
        total(current, 'kstreams_state', { state: 'running' }) === 1,
    )
    expect(total(restored, 'kstreams_restored_records_total', { store: 'seen' })).toBe(records - 1)
    expect(
      select(restored, 'kstreams_restored_records_total', { store: 'seen' })
        .map((sample) => sample.labels.task)
        .sort(),
    ).toEqual(['0_0', '0_1'])
    expect(total(restored, 'kstreams_restore_skipped_records_total') ?? 0).toBe(0)
    expect(total(restored, 'kstreams_restores_in_progress', { store: 'seen' })).toBe(0)
    // Nothing new to process: the counters kept the first run's values.
    expect(total(restored, 'kstreams_records_processed_total')).toBe(records)
    await again.close()
    await metrics.close()
    await expect(fetch(server.url)).rejects.toThrow()
  })
})
