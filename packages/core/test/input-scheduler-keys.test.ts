// Key and unordered concurrency: the input scheduler's lanes (per-key order, no head-of-line
// blocking across keys, bounded look-ahead, the watermark), the completed-offset map (encoding,
// size, backpressure, skipping on restart) and a task running a key-mode processor with a store.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import fc from 'fast-check'
import { expect, it } from 'vitest'
import {
  type FetchedRecord,
  type KeyValueStore,
  type Processor,
  type ProcessorContext,
  type ProduceRecord,
  type SubtopologyConcurrency,
  serdes,
  silentLogger,
  stores,
  TopologyBuilder,
  TopologyError,
  UNORDERED,
} from '../src/index.js'
import {
  decodeCommitMetadata,
  decodeCompleted,
  decodeCompletedBits,
  encodeCommitMetadata,
  encodeCompleted,
  encodeCompletedBits,
} from '../src/runtime/commit-metadata.js'
import { BufferBudget, InputScheduler, type ScheduledRecord } from '../src/runtime/input-scheduler.js'
import { OffsetTracker } from '../src/runtime/offset-tracker.js'
import { RecordScope } from '../src/runtime/record-scope.js'
import { StreamTask, type TaskOptions } from '../src/runtime/task.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function record(topic: string, offset: number, key: string | null, timestamp = offset): FetchedRecord {
  return {
    topic,
    partition: 0,
    offset: BigInt(offset),
    timestamp,
    key: key === null ? null : encoder.encode(key),
    value: encoder.encode(`v${offset}`),
    headers: [],
  }
}

function keyMode(maxInFlight = 256): SubtopologyConcurrency {
  return { mode: 'key', orderingKey: undefined, maxInFlight }
}

function scheduler(concurrency: SubtopologyConcurrency, topics = ['in']): InputScheduler {
  return new InputScheduler({
    taskId: '0_0',
    partition: 0,
    topics,
    budget: new BufferBudget(Number.POSITIVE_INFINITY),
    concurrency,
  })
}

/** Starts every record the scheduler hands out now. */
function startAll(input: InputScheduler, running: ScheduledRecord[]): ScheduledRecord[] {
  const started: ScheduledRecord[] = []
  for (let next = input.next(); next; next = input.next()) {
    next.lane.enter(new RecordScope('record', next.fetched, next.fetched.timestamp))
    running.push(next)
    started.push(next)
  }
  return started
}

function finish(input: InputScheduler, scheduled: ScheduledRecord): void {
  input.complete(scheduled)
  scheduled.lane.leave()
}

const keyOf = (scheduled: ScheduledRecord) => decoder.decode(scheduled.fetched.key!)

it('key lanes: per-key order holds, a key never overlaps itself, a busy key holds no other back, look-ahead stays within maxInFlight', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 1, max: 8 }),
      fc.array(fc.nat(), { minLength: 200, maxLength: 200 }),
      (keys, maxInFlight, choices) => {
        const input = scheduler(keyMode(maxInFlight))
        input.enqueue(
          'in',
          keys.map((key, offset) => record('in', offset, `k${key}`)),
        )
        const running: ScheduledRecord[] = []
        const startedByKey = new Map<string, number[]>()
        let completed = 0
        let overlapped = false
        for (let step = 0; completed < keys.length; step += 1) {
          for (const started of startAll(input, running)) {
            const key = keyOf(started)
            // A key never runs twice at once.
            expect(running.filter((other) => keyOf(other) === key)).toHaveLength(1)
            startedByKey.set(key, [...(startedByKey.get(key) ?? []), Number(started.fetched.offset)])
          }
          if (new Set(running.map(keyOf)).size > 1) overlapped = true
          // Taken from the queue: the first `taken` offsets (one topic, timestamps in offset order).
          const taken = keys.length - input.buffered()
          const begun = taken - completed
          expect(begun).toBeLessThanOrEqual(maxInFlight)
          if (input.buffered() > 0) expect(begun).toBe(maxInFlight)
          // Every key with a record taken and not started has one running: no key waits behind another.
          const startedOffsets = new Set([...startedByKey.values()].flat())
          for (let offset = 0; offset < taken; offset += 1) {
            if (startedOffsets.has(offset)) continue
            expect(running.map(keyOf)).toContain(`k${keys[offset]}`)
          }
          const index = choices[step % choices.length]! % running.length
          const [done] = running.splice(index, 1)
          finish(input, done!)
          completed += 1
        }
        // Each key ran in input-offset order, every record once.
        for (const [key, offsets] of startedByKey) {
          const expected = keys.flatMap((candidate, offset) => (`k${candidate}` === key ? [offset] : []))
          expect(offsets).toEqual(expected)
        }
        expect(input.inFlight).toBe(0)
        expect(input.commitPoint()[0]!.offset).toBe(BigInt(keys.length))
        // Different keys ran at once whenever there were two keys and room for two.
        if (new Set(keys).size > 1 && maxInFlight > 1 && keys.length > 1) {
          expect(overlapped || keys.every((key, index) => index === 0 || key === keys[0])).toBe(true)
        }
      },
    ),
    { numRuns: 300 },
  )
})

it('key lanes: a busy key does not block other keys; its next record waits, then runs before newer records of it', () => {
  const input = scheduler(keyMode(10))
  input.enqueue('in', [
    record('in', 0, 'a'),
    record('in', 1, 'a'),
    record('in', 2, 'b'),
    record('in', 3, null),
    record('in', 4, 'c'),
    record('in', 5, 'a'),
  ])
  const running: ScheduledRecord[] = []
  const started = startAll(input, running)
  // a@0, then b, the null key (unordered) and c; a@1 and a@5 wait behind a@0.
  expect(started.map((scheduled) => Number(scheduled.fetched.offset))).toEqual([0, 2, 3, 4])
  expect(input.pending).toBe(2)
  expect(input.running).toBe(4)
  finish(input, running.find((scheduled) => scheduled.fetched.offset === 2n)!)
  expect(input.next()).toBeUndefined()
  finish(input, running.find((scheduled) => scheduled.fetched.offset === 0n)!)
  expect(Number(input.next()!.fetched.offset)).toBe(1)
  // Out-of-order completion: 0 and 2 done, 1, 3, 4, 5 not; the commit stops at 1 and carries 2.
  expect(input.commitPoint()).toEqual([
    { topic: 'in', partition: 0, offset: 1n, completed: [2n], streamTime: -1 },
  ])
})

it('unordered mode: every record may overlap; the look-ahead still stops at maxInFlight', () => {
  const input = scheduler({ mode: 'unordered', orderingKey: undefined, maxInFlight: 3 })
  input.enqueue('in', [
    record('in', 0, 'a'),
    record('in', 1, 'a'),
    record('in', 2, 'a'),
    record('in', 3, 'a'),
  ])
  const running: ScheduledRecord[] = []
  expect(startAll(input, running)).toHaveLength(3)
  expect(input.buffered()).toBe(1)
  finish(input, running[1]!)
  expect(startAll(input, running).map((scheduled) => scheduled.fetched.offset)).toEqual([3n])
})

it('watermark: the smallest timestamp of the records in flight in other lanes, running or waiting in a lane', () => {
  const input = scheduler(keyMode(10))
  input.enqueue('in', [
    record('in', 0, 'a', 10),
    record('in', 1, 'b', 20),
    record('in', 2, 'c', 30),
    record('in', 3, 'a', 15),
  ])
  const running: ScheduledRecord[] = []
  startAll(input, running)
  input.observe(30)
  const scopeOf = (offset: bigint) => input.runningScopes().find((scope) => scope.fetched?.offset === offset)!
  expect(input.watermark(undefined)).toBe(10)
  // A record does not hold the watermark back for itself.
  expect(input.watermark(scopeOf(0n))).toBe(15)
  finish(input, running[0]!)
  // a@0 finished; a@3 (timestamp 15) waits in its lane, not started: it still holds time back.
  expect(input.watermark(undefined)).toBe(15)
  const next = input.next()!
  next.lane.enter(new RecordScope('record', next.fetched, 15))
  finish(input, running[1]!)
  finish(input, next)
  expect(input.watermark(undefined)).toBe(30)
  finish(input, running[2]!)
  expect(input.watermark(undefined)).toBe(30)
})

it('the barrier: a flush waits until the running records of every lane finished, and no record starts meanwhile', async () => {
  const input = scheduler(keyMode(10))
  input.enqueue('in', [record('in', 0, 'a'), record('in', 1, 'b'), record('in', 2, 'c')])
  const running: ScheduledRecord[] = []
  const first = input.next()!
  first.lane.enter(new RecordScope('record', first.fetched, 0))
  running.push(first)
  const second = input.next()!
  second.lane.enter(new RecordScope('record', second.fetched, 1))
  const flush = new RecordScope('flush', undefined, 0)
  let acquired = false
  const acquiring = input.acquire(flush).then(() => {
    acquired = true
  })
  expect(input.next()).toBeUndefined()
  finish(input, first)
  await Promise.resolve()
  expect(acquired).toBe(false)
  finish(input, second)
  await acquiring
  expect(input.exclusive).toBe(flush)
  expect(input.next()).toBeUndefined()
  input.release(flush)
  expect(input.next()!.fetched.offset).toBe(2n)
})

it('completed-offset map: both encodings round-trip (property), the shorter is chosen, and older versions stay readable', () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: 1n << 40n }),
      fc.uniqueArray(fc.integer({ min: 1, max: 5000 }), { maxLength: 300 }),
      fc.integer({ min: -1, max: 2 ** 45 }),
      (offset, distances, streamTime) => {
        const completed = distances
          .sort((left, right) => left - right)
          .map((distance) => offset + BigInt(distance))
        expect(decodeCompleted(offset, encodeCompleted(offset, completed))).toEqual(completed)
        expect(decodeCompletedBits(offset, encodeCompletedBits(offset, completed))).toEqual(completed)
        const text = encodeCommitMetadata({ offset, completed, streamTime })
        if (text.length < 4096) {
          expect(decodeCommitMetadata(text, offset)).toEqual({ version: 3, streamTime, completed })
          // Whichever form was written, it is the shorter one.
          const runs = `{"v":3,"streamTime":${streamTime},"completed":"${encodeCompleted(offset, completed)}"}`
          const bits = `{"v":3,"streamTime":${streamTime},"bits":"${encodeCompletedBits(offset, completed)}"}`
          if (completed.length > 0) expect(text.length).toBe(Math.min(runs.length, bits.length))
        }
      },
    ),
  )
  expect(encodeCompleted(100n, [102n, 103n, 104n, 105n, 109n, 112n, 113n])).toBe('2-5,9,12-13')
  expect(decodeCompleted(0n, '3-1')).toBeUndefined()
  expect(decodeCompleted(0n, '1-99999999999')).toBeUndefined()
  expect(encodeCompletedBits(100n, [101n, 103n, 109n])).toBe(Buffer.from([0b101, 0b1]).toString('base64'))
  expect(decodeCompletedBits(0n, 'not base64!')).toBeUndefined()
  // Version 2 (run-length only), as earlier releases wrote it, is still read.
  expect(decodeCommitMetadata('{"v":2,"streamTime":5,"completed":"2-3"}', 10n)).toEqual({
    version: 2,
    streamTime: 5,
    completed: [12n, 13n],
  })
})

/** The commit metadata an offset tracker gives after `count` records of which `incomplete` did not finish. */
function metadataFor(
  count: number,
  incomplete: (offset: number) => boolean,
): { text: string; bound: number } {
  const tracker = new OffsetTracker()
  for (let offset = 0; offset < count; offset += 1) tracker.begin(BigInt(offset))
  for (let offset = 0; offset < count; offset += 1) if (!incomplete(offset)) tracker.complete(BigInt(offset))
  const position = tracker.position!
  const text = encodeCommitMetadata({
    offset: position,
    completed: tracker.completedAbove(),
    streamTime: 1_700_000_000_000,
  })
  const bound = tracker.encodedBound()
  expect(decodeCommitMetadata(text, position)?.completed).toEqual(tracker.completedAbove())
  return { text, bound }
}

it('completed-offset map: sizes for one stuck record, and for 1% random failures', () => {
  const stuck = metadataFor(10_001, (offset) => offset === 0)
  let seed = 7
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
    return seed / 2 ** 31
  }
  const failures = new Set(
    Array.from({ length: 10_000 }, (_, offset) => offset).filter(() => random() < 0.01),
  )
  failures.add(0)
  const onePercent = metadataFor(10_000, (offset) => failures.has(offset))
  console.info(
    `completed-offset map sizes: one stuck record then 10,000 completed: ${stuck.text.length} characters (${stuck.text}); 10,000 records with ${failures.size} incomplete at random: ${onePercent.text.length} characters`,
  )
  // Every other record of 10,000 undone: runs would take ~25,000 characters, the bitset 1,668.
  const alternating = metadataFor(10_000, (offset) => offset % 2 === 0)
  console.info(
    `completed-offset map, every other record of 10,000 incomplete: ${alternating.text.length} characters (bitset)`,
  )
  expect(stuck.text).toBe('{"v":3,"streamTime":1700000000000,"completed":"1-10000"}')
  expect(onePercent.text.length).toBeLessThan(4096 * 0.75)
  expect(JSON.parse(alternating.text).bits).toBeDefined()
  expect(alternating.text.length).toBeLessThan(4096 * 0.75)
  // The cheap bound the scheduler checks first is never below the real size.
  const mapOf = (text: string) => (JSON.parse(text).completed ?? JSON.parse(text).bits) as string
  expect(onePercent.bound).toBeGreaterThanOrEqual(mapOf(onePercent.text).length)
  expect(stuck.bound).toBeGreaterThanOrEqual(mapOf(stuck.text).length)
  expect(alternating.bound).toBeGreaterThanOrEqual(mapOf(alternating.text).length)
})

it('completed-offset map: near the metadata limit, only that partition is held back, until the map shrinks', () => {
  const input = scheduler({ mode: 'unordered', orderingKey: undefined, maxInFlight: 100_000 }, ['a', 'b'])
  input.enqueue(
    'a',
    Array.from({ length: 40_000 }, (_, offset) => record('a', offset, null, offset)),
  )
  input.enqueue(
    'b',
    Array.from({ length: 10 }, (_, offset) => record('b', offset, null, 100_000 + offset)),
  )
  const running: ScheduledRecord[] = []
  // Start 30,000 of partition a; complete every other one but the first: many separate runs,
  // and a span the bitset takes 5,000 characters for.
  for (let index = 0; index < 30_000; index += 1) {
    const next = input.next()!
    next.lane.enter(new RecordScope('record', next.fetched, next.fetched.timestamp))
    running.push(next)
  }
  for (const scheduled of running) if (scheduled.fetched.offset % 2n === 1n) finish(input, scheduled)
  const size = () =>
    encodeCommitMetadata(
      input.commitPoint().find((point) => point.topic === 'a') ?? {
        offset: 0n,
        completed: [],
        streamTime: 0,
      },
    ).length
  const mapSize = encodeCommitMetadata({
    offset: 0n,
    completed: running
      .filter((scheduled) => scheduled.fetched.offset % 2n === 1n)
      .map((s) => s.fetched.offset),
    streamTime: -1,
  }).length
  expect(mapSize).toBeGreaterThan(4096 * 0.75)
  // Partition a is held back (its queue head has the smaller timestamps); b goes on.
  const next = input.next()!
  expect(next.fetched.topic).toBe('b')
  next.lane.enter(new RecordScope('record', next.fetched, next.fetched.timestamp))
  finish(input, next)
  // The stuck and the other incomplete records finish: the map shrinks, a goes on.
  for (const scheduled of running) if (scheduled.fetched.offset % 2n === 0n) finish(input, scheduled)
  expect(size()).toBeLessThan(100)
  expect(input.next()!.fetched.topic).toBe('a')
})

const policies = {
  deserialization: 'fail',
  processing: 'fail',
  production: 'fail',
  deadLetterTopic: 'dlq',
} as const

function taskOptions(topology: TaskOptions['topology'], produced: ProduceRecord[]): TaskOptions {
  return {
    applicationId: 'app',
    topology,
    subtopology: topology.subtopologies[0]!,
    partition: 0,
    collector: { send: (record) => produced.push(record) },
    errorPolicies: policies,
    logger: silentLogger,
    stateDir: '/tmp/kstreams-unused',
    cacheMaxBytes: 1_000_000,
    now: () => 0,
  }
}

/** count per key, after an await the test releases per record. */
function countingTopology(maxInFlight?: number) {
  const gates = new Map<string, () => void>()
  let running = 0
  let maxRunning = 0
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64() }))
    .addProcessor(
      'count',
      { parents: ['in'], stores: ['counts'], concurrency: 'key', ...(maxInFlight ? { maxInFlight } : {}) },
      (): Processor<string, string, string, string> => {
        let context: ProcessorContext<string, string>
        let counts: KeyValueStore<string, bigint>
        return {
          init: (processorContext) => {
            context = processorContext
            counts = context.getStore('counts')
          },
          process: async (input) => {
            running += 1
            maxRunning = Math.max(maxRunning, running)
            const count = ((await counts.get(input.key)) ?? 0n) + 1n
            await new Promise<void>((resolve) => gates.set(input.value, resolve))
            await counts.put(input.key, count)
            running -= 1
            context.forward({ ...input, value: `${input.key}=${count}` })
          },
        }
      },
    )
    .addSink('out', {
      topic: 'out',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['count'],
    })
    .build()
  return { topology, gates, maxRunning: () => maxRunning }
}

async function settle(): Promise<void> {
  for (let index = 0; index < 5; index += 1) await new Promise((resolve) => setImmediate(resolve))
}

it('task in key mode: keys run concurrently with a store, per-key counts are exact, a commit waits for the running records and snapshots the map', async () => {
  const { topology, gates, maxRunning } = countingTopology()
  expect(topology.subtopologies[0]!.concurrency).toEqual({
    mode: 'key',
    orderingKey: undefined,
    maxInFlight: 256,
  })
  const produced: ProduceRecord[] = []
  const task = new StreamTask(taskOptions(topology, produced))
  await task.init()
  task.enqueue('in', [record('in', 0, 'a'), record('in', 1, 'b'), record('in', 2, 'a'), record('in', 3, 'c')])
  expect(task.pump(100, 0)).toBe(3)
  await settle()
  expect(task.running).toBe(3)
  // b and c finish first; a@0 still runs, a@2 waits in a's lane.
  gates.get('v1')!()
  gates.get('v3')!()
  await settle()
  let committed = false
  const commit = task.prepareCommit().then((flush) => {
    committed = true
    return flush
  })
  await settle()
  // The commit waits for a@0 (the running record) and starts nothing meanwhile.
  expect(committed).toBe(false)
  expect(task.pump(100, 0)).toBe(0)
  gates.get('v0')!()
  const flush = await commit
  expect(flush.point.inputs).toEqual([
    { topic: 'in', partition: 0, offset: 2n, completed: [3n], streamTime: 3 },
  ])
  expect(task.pump(100, 0)).toBe(1)
  await settle()
  gates.get('v2')!()
  await task.idle()
  const outputs = produced
    .filter((record) => record.topic === 'out')
    .map((record) => decoder.decode(record.value!))
  expect(outputs).toEqual(['b=1', 'c=1', 'a=1', 'a=2'])
  expect(maxRunning()).toBe(3)
  await task.close()
})

it('task restart: records in the committed completed-offset map are skipped, the others processed', async () => {
  const { topology, gates } = countingTopology()
  const produced: ProduceRecord[] = []
  const task = new StreamTask({
    ...taskOptions(topology, produced),
    skipOffsets: new Map([['in', [11n, 13n]]]),
  })
  await task.init()
  task.enqueue('in', [
    record('in', 10, 'a'),
    record('in', 11, 'b'),
    record('in', 12, 'c'),
    record('in', 13, 'd'),
  ])
  task.pump(100, 0)
  await settle()
  expect([...gates.keys()]).toEqual(['v10', 'v12'])
  for (const release of gates.values()) release()
  await task.idle()
  expect(task.commitPoint().inputs[0]!.offset).toBe(14n)
  expect(produced.filter((record) => record.topic === 'out')).toHaveLength(2)
  await task.close()
})

it('a record given up (revoked with work in flight) reaches neither a sink nor a store when it finishes later', async () => {
  const { topology, gates } = countingTopology()
  const produced: ProduceRecord[] = []
  const task = new StreamTask(taskOptions(topology, produced))
  await task.init()
  task.enqueue('in', [record('in', 0, 'a'), record('in', 1, 'b')])
  task.pump(100, 0)
  await settle()
  gates.get('v1')!()
  await settle()
  task.abandonRunning()
  gates.get('v0')!()
  await settle()
  expect(
    produced.filter((record) => record.topic === 'out').map((record) => decoder.decode(record.value!)),
  ).toEqual(['b=1'])
  const counts = task.getStore<KeyValueStore<string, bigint>>('counts')!
  expect(await counts.get('a')).toBeUndefined()
  expect(await counts.get('b')).toBe(1n)
  // The given-up record stays incomplete: the commit stops below it.
  expect(task.commitPoint().inputs[0]).toMatchObject({ offset: 0n, completed: [1n] })
  await task.close()
})

it('an ordering key function sees the deserialized record, once; UNORDERED and failing records run without order', async () => {
  let deserialized = 0
  const order: string[] = []
  const gates: Array<() => void> = []
  const topology = new TopologyBuilder()
    .addSource('in', {
      topics: ['in'],
      keySerde: serdes.string(),
      valueSerde: {
        serialize: (value: { customer: string | null }) => encoder.encode(JSON.stringify(value)),
        deserialize: (bytes: Uint8Array) => {
          deserialized += 1
          return JSON.parse(decoder.decode(bytes)) as { customer: string | null }
        },
      },
    })
    .addProcessor(
      'p',
      {
        parents: ['in'],
        concurrency: 'key',
        orderingKey: (input) => input.value.customer ?? UNORDERED,
      },
      (): Processor<string, { customer: string | null }, never, never> => ({
        process: async (input) => {
          order.push(`${input.value.customer}@${input.offset}`)
          await new Promise<void>((resolve) => gates.push(resolve))
        },
      }),
    )
    .build()
  const task = new StreamTask(taskOptions(topology, []))
  await task.init()
  const json = (offset: number, customer: string | null): FetchedRecord => ({
    ...record('in', offset, 'same-key'),
    value: encoder.encode(JSON.stringify({ customer })),
  })
  task.enqueue('in', [json(0, 'x'), json(1, 'x'), json(2, 'y'), json(3, null), json(4, null)])
  task.pump(100, 0)
  await settle()
  // One key bytes for all, but the function orders by customer: x@1 waits, y and the nulls run.
  expect(order).toEqual(['x@0', 'y@2', 'null@3', 'null@4'])
  expect(deserialized).toBe(5)
  gates[0]!()
  await settle()
  task.pump(100, 0)
  await settle()
  expect(order.at(-1)).toBe('x@1')
  for (const release of gates) release()
  await task.idle()
  expect(deserialized).toBe(5)
  await task.close()
})

it('topology: the strictest mode of a sub-topology wins; bad limits and conflicting ordering keys are TopologyErrors', () => {
  const source = () =>
    new TopologyBuilder().addSource('in', {
      topics: ['in'],
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
    })
  const pass = (): Processor<string, string, string, string> => ({ process: () => {} })
  const mixed = source()
    .addProcessor('k', { parents: ['in'], concurrency: 'key', maxInFlight: 32 }, pass)
    .addProcessor('u', { parents: ['k'], concurrency: 'unordered', maxInFlight: 64 }, pass)
    .addProcessor('plain', { parents: ['u'] }, pass)
    .build()
  expect(mixed.subtopologies[0]!.concurrency).toEqual({
    mode: 'key',
    orderingKey: undefined,
    maxInFlight: 32,
  })
  expect(mixed.describe().text).toContain(
    'Sub-topology: 0 (concurrency: key, maxInFlight: 32, ordering key: the record key)',
  )
  const strict = source()
    .addProcessor('k', { parents: ['in'], concurrency: 'key' }, pass)
    .addProcessor('p', { parents: ['k'], concurrency: 'partition' }, pass)
    .build()
  expect(strict.subtopologies[0]!.concurrency.mode).toBe('partition')
  expect(strict.subtopologies[0]!.concurrency.maxInFlight).toBe(1)
  expect(
    source()
      .addProcessor('plain', { parents: ['in'] }, pass)
      .build()
      .describe().text,
  ).toContain('Sub-topology: 0 (concurrency: partition)')
  expect(() =>
    source().addProcessor('k', { parents: ['in'], concurrency: 'key', maxInFlight: 0 }, pass),
  ).toThrow(/"maxInFlight" must be an integer of at least 1, got 0/)
  expect(() =>
    source().addProcessor('k', { parents: ['in'], concurrency: 'key', maxInFlight: 1.5 }, pass),
  ).toThrow(TopologyError)
  expect(() => source().addProcessor('k', { parents: ['in'], maxInFlight: 8 }, pass)).toThrow(
    /needs concurrency/,
  )
  expect(() =>
    source().addProcessor('k', { parents: ['in'], orderingKey: (input) => input.key }, pass),
  ).toThrow(/"orderingKey" needs concurrency: 'key'/)
  expect(() =>
    source()
      .addProcessor('k', { parents: ['in'], concurrency: 'key', orderingKey: (input) => input.key }, pass)
      .addProcessor('j', { parents: ['in'], concurrency: 'key', orderingKey: (input) => input.value }, pass)
      .build(),
  ).toThrow(/give different "orderingKey" functions/)
  expect(() =>
    source()
      .addProcessor('k', { parents: ['in'] }, pass)
      .addProcessor('j', { parents: ['k'], concurrency: 'key', orderingKey: (input) => input.value }, pass),
  ).toThrow(/must read from sources only/)
})

it('a record handed out and finished is not kept by the scheduler while the rest of its batch waits', async () => {
  // Records wait in fetched batches of thousands; one the scheduler kept until its batch was used
  // up would live through the young-generation collections that promote it to the old space.
  setFlagsFromString('--expose-gc')
  const collect = runInNewContext('gc') as () => void
  const input = scheduler({ mode: 'partition', orderingKey: undefined, maxInFlight: 1 })
  const taken = (() => {
    const batch = [record('in', 0, 'a'), record('in', 1, 'b'), record('in', 2, 'c')]
    input.enqueue('in', batch)
    const first = input.next()!
    first.lane.enter(new RecordScope('record', first.fetched, first.fetched.timestamp))
    finish(input, first)
    return new WeakRef(first.fetched)
  })()
  for (let attempt = 0; attempt < 5 && taken.deref() !== undefined; attempt++) {
    await new Promise((resolve) => setImmediate(resolve))
    collect()
  }
  expect(taken.deref()).toBeUndefined()
  // The batch's other records are still there, in order.
  expect(Number(input.next()!.fetched.offset)).toBe(1)
  expect(input.buffered('in')).toBe(1)
})
