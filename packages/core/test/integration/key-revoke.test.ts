// A revocation with slow records in flight, on the real broker. Instance A counts per key in a
// store (a slow remote call between the read and the write) and has slow records running on every
// partition when instance B joins; revokeDrainMs is short, so A gives those records up. No input is
// lost; a record A gave up reaches the output only from B (A's late result is dropped); the store's
// counts end at least at the truth.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createTestTopics,
  deleteTopicsWhenTestEnds,
  endpoints,
  produceStrings,
  readTopicUntil,
  uniqueName,
} from '@kstreams/test-helpers'
import { expect, it, onTestFinished } from 'vitest'
import {
  createApp,
  type KeyValueStore,
  type KStreamsApp,
  type Processor,
  type ProcessorContext,
  serdes,
  silentLogger,
  stores,
  TopologyBuilder,
} from '../../src/index.js'
import { until } from './key-helpers.js'

interface Call {
  instance: string
  partition: number
  startedAt: number
  finishedAt?: number
}

it('key mode: records given up on a revocation reach the output only from the new owner; nothing is lost; counts end at least at the truth', async () => {
  const partitions = 4
  const [input, output] = await createTestTopics(
    { prefix: 'key-revoke-in', partitions },
    { prefix: 'key-revoke-out', partitions },
  )
  const applicationId = uniqueName('key-revoke')
  deleteTopicsWhenTestEnds(`${applicationId}-counts-changelog`)
  const stateDir = await mkdtemp(join(tmpdir(), 'kstreams-key-revoke-'))
  onTestFinished(() => rm(stateDir, { recursive: true, force: true }))
  const slowMs = 4000
  const revokeDrainMs = 300
  const total = 2000
  const keys = 100
  const isSlow = (index: number) => index % 23 === 0
  const messages = Array.from({ length: total }, (_, index) => ({
    key: `key-${index % keys}`,
    value: `${isSlow(index) ? 'slow' : 'r'}${index}`,
  }))
  const truth = new Map<string, number>()
  for (const { key } of messages) truth.set(key, (truth.get(key) ?? 0) + 1)
  /** Every process call, by record value. */
  const calls = new Map<string, Call[]>()

  const topologyFor = (instance: string) =>
    new TopologyBuilder()
      .addSource('in', { topics: [input!], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64() }))
      .addProcessor(
        'count',
        { parents: ['in'], stores: ['counts'], concurrency: 'key' },
        (): Processor<string, string, string, string> => {
          let context: ProcessorContext<string, string>
          let counts: KeyValueStore<string, bigint>
          return {
            init: (processorContext) => {
              context = processorContext
              counts = context.getStore('counts')
            },
            process: async (record) => {
              const call: Call = {
                instance,
                partition: context.recordMetadata!.partition,
                startedAt: Date.now(),
              }
              calls.set(record.value, [...(calls.get(record.value) ?? []), call])
              const count = ((await counts.get(record.key)) ?? 0n) + 1n
              await new Promise((resolve) =>
                setTimeout(resolve, record.value.startsWith('slow') ? slowMs : 5),
              )
              call.finishedAt = Date.now()
              await counts.put(record.key, count)
              context.forward({ ...record, value: `${instance}|${record.value}|${count}` })
            },
          }
        },
      )
      .addSink('out', {
        topic: output!,
        keySerde: serdes.string(),
        valueSerde: serdes.string(),
        parents: ['count'],
      })
      .build()
  const start = async (instance: string): Promise<KStreamsApp> => {
    const app = createApp(topologyFor(instance), {
      applicationId,
      clientId: `${applicationId}-${instance}`,
      bootstrapServers: endpoints.kafkaBootstrapServers,
      commitIntervalMs: 300,
      revokeDrainMs,
      handleSignals: false,
      logger: silentLogger,
      onFatalError: () => {},
      stateDir: join(stateDir, instance),
    })
    onTestFinished(() => app.close())
    await app.start()
    return app
  }

  await produceStrings(input!, messages)
  const a = await start('A')
  // A has slow records running on every partition.
  await until(
    () => {
      const progress = a.progress()
      return (
        progress.length === partitions &&
        progress.every((entry) => entry.running > 0 && entry.headOfLine?.state === 'running')
      )
    },
    30_000,
    'A running slow records on every partition',
  )
  const revoked = new Map<number, number>()
  const onRebalance = (message: unknown) => {
    const { kind, partitions: moved } = message as { kind: string; partitions: Array<{ partition: number }> }
    if (kind !== 'revoked') return
    for (const { partition } of moved) if (!revoked.has(partition)) revoked.set(partition, Date.now())
  }
  subscribe('kstreams:rebalance', onRebalance)
  const inFlightAtJoin = a.progress().reduce((sum, entry) => sum + entry.running, 0)
  const b = await start('B')
  try {
    await until(
      () => b.assignment().length > 0 && a.assignment().length + b.assignment().length === partitions,
      30_000,
      'partitions moved to B',
    )
    const expected = messages.map((message) => message.value)
    await readTopicUntil(
      output!,
      (read) => {
        const seen = new Set(read.map((message) => message.value!.split('|')[1]))
        return expected.every((value) => seen.has(value))
      },
      90_000,
    )
    // Every call A began has settled (so a late result of A would have been sent by now).
    await until(
      () => [...calls.values()].flat().every((call) => call.finishedAt !== undefined),
      slowMs * 3,
      "A's calls settled",
    )
    await new Promise((resolve) => setTimeout(resolve, 1000))
  } finally {
    unsubscribe('kstreams:rebalance', onRebalance)
  }
  const movedToB = new Set(b.assignment().map(({ partition }) => partition))
  expect(movedToB.size).toBeGreaterThan(0)
  for (const partition of movedToB) expect(revoked.has(partition)).toBe(true)
  const read = await readTopicUntil(output!, (messages) => messages.length >= total)
  const outputs = new Map<string, string[]>()
  for (const message of read) {
    const [instance, value] = message.value!.split('|')
    outputs.set(value!, [...(outputs.get(value!) ?? []), instance!])
  }
  // Nothing lost.
  for (const { value } of messages) expect(outputs.has(value), value).toBe(true)
  // Given up: A's call on a moved partition settled after the revocation's drain had ended.
  const givenUp: string[] = []
  const ambiguous: string[] = []
  for (const [value, list] of calls) {
    for (const call of list) {
      if (call.instance !== 'A' || !movedToB.has(call.partition)) continue
      const revokedAt = revoked.get(call.partition)!
      if (call.finishedAt! <= revokedAt) continue
      if (call.finishedAt! > revokedAt + revokeDrainMs + 500) givenUp.push(value)
      else ambiguous.push(value)
    }
  }
  expect(givenUp.length).toBeGreaterThan(0)
  for (const value of givenUp) {
    // Its output came only from the new owner: B processed it again, A's late result was dropped.
    expect(outputs.get(value), value).toEqual(['B'])
    expect(calls.get(value)!.some((call) => call.instance === 'B')).toBe(true)
  }
  // The store, read from the task that owns each key's partition now: each count ≥ the truth.
  let over = 0
  for (const [key, count] of truth) {
    const index = messages.findIndex((message) => message.key === key)
    const partition = calls.get(messages[index]!.value)![0]!.partition
    const owner = movedToB.has(partition) ? b : a
    const store = owner.getStore<KeyValueStore<string, bigint>>('counts', partition)
    expect(store, `store of partition ${partition}`).toBeDefined()
    const stored = Number((await store!.get(key)) ?? 0n)
    expect(stored, key).toBeGreaterThanOrEqual(count)
    over += stored - count
  }
  const duplicates = read.length - outputs.size
  console.info(
    `key revoke on the broker: ${total} records, ${keys} keys, ${partitions} partitions; A had ${inFlightAtJoin} records running when B joined; partitions moved to B: ${[...movedToB].join(', ')}; records A gave up: ${givenUp.length} (all output by B only), finished during the drain: ${ambiguous.length}; ${read.length} outputs, ${duplicates} duplicate(s); counts over the truth: ${over} in all`,
  )
  await Promise.all([a.close(), b.close()])
})
