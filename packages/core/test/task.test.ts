import { AsyncLocalStorage } from 'node:async_hooks'
import { expect, it } from 'vitest'
import type { CommitRequest, FetchedRecord, ProduceRecord, RecordMetadata } from '../src/index.js'
import {
  type KeyValueStore,
  type Processor,
  type ProcessorContext,
  serdes,
  silentLogger,
  stores,
  TopologyBuilder,
} from '../src/index.js'
import { CommitCoordinator } from '../src/runtime/commit-coordinator.js'
import { decodeCommitMetadata } from '../src/runtime/commit-metadata.js'
import { BufferBudget, InputScheduler } from '../src/runtime/input-scheduler.js'
import { currentScope, RecordScope } from '../src/runtime/record-scope.js'
import { InFlightLimit, StreamTask, type TaskOptions } from '../src/runtime/task.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function fetched(
  topic: string,
  offset: number,
  timestamp: number,
  value: string,
  partition = 2,
): FetchedRecord {
  return {
    topic,
    partition,
    offset: BigInt(offset),
    timestamp,
    key: null,
    value: encoder.encode(value),
    headers: [],
  }
}

const policies = {
  deserialization: 'fail',
  processing: 'fail',
  production: 'fail',
  deadLetterTopic: 'dlq',
} as const

function taskOptions(
  topology: TaskOptions['topology'],
  partition: number,
  produced: ProduceRecord[],
): TaskOptions {
  return {
    applicationId: 'app',
    topology,
    subtopology: topology.subtopologies[0]!,
    partition,
    collector: { send: (record) => produced.push(record) },
    errorPolicies: policies,
    logger: silentLogger,
    stateDir: '/tmp/kstreams-unused',
    cacheMaxBytes: 0,
    now: () => 0,
  }
}

async function drain(task: StreamTask): Promise<void> {
  await task.runUntilIdle(0)
}

it('input scheduler: merges inputs by timestamp, one record per lane at a time, and snapshots commit points', () => {
  const budget = new BufferBudget(1_000_000)
  const scheduler = new InputScheduler({ taskId: '0_2', partition: 2, topics: ['left', 'right'], budget })
  scheduler.enqueue('left', [fetched('left', 0, 10, 'l10'), fetched('left', 1, 30, 'l30')])
  scheduler.enqueue('right', [fetched('right', 5, 20, 'r20')])
  expect(budget.bytes).toBeGreaterThan(0)
  const first = scheduler.next()!
  expect(first.fetched.value).toEqual(encoder.encode('l10'))
  // The lane is taken while the first record runs: nothing else starts.
  first.lane.enter(new RecordScope('record', first.fetched, 10))
  expect(scheduler.next()).toBeUndefined()
  expect(scheduler.commitPoint()).toEqual([])
  first.lane.leave()
  scheduler.complete(first)
  const second = scheduler.next()!
  expect(decoder.decode(second.fetched.value!)).toBe('r20')
  scheduler.observe(20)
  expect(scheduler.commitPoint()).toEqual([
    { topic: 'left', partition: 2, offset: 1n, completed: [], streamTime: 20 },
  ])
  scheduler.markCommitted(scheduler.commitPoint())
  expect(scheduler.commitPoint()).toEqual([])
  scheduler.clearAll()
  expect(scheduler.buffered()).toBe(0)
  expect(budget.bytes).toBe(0)
})

it('lane: a waiting flush gets the lane before records that were not started yet', async () => {
  const scheduler = new InputScheduler({
    taskId: '0_0',
    partition: 0,
    topics: ['in'],
    budget: new BufferBudget(1e9),
  })
  scheduler.enqueue('in', [fetched('in', 0, 1, 'a'), fetched('in', 1, 2, 'b')])
  const running = scheduler.next()!
  running.lane.enter(new RecordScope('record', running.fetched, 1))
  const flush = new RecordScope('flush', undefined, 1)
  let flushing = false
  const acquired = scheduler.acquire(flush).then(() => {
    flushing = true
  })
  running.lane.leave()
  scheduler.complete(running)
  // The lane went straight to the flush: the next record cannot start in between.
  expect(scheduler.next()).toBeUndefined()
  await acquired
  expect(flushing).toBe(true)
  expect(scheduler.exclusive).toBe(flush)
  scheduler.release(flush)
  expect(decoder.decode(scheduler.next()!.fetched.value!)).toBe('b')
})

it('executor: records of two tasks in flight at once each see their own metadata, in processors and stores', async () => {
  const seen: Array<{
    value: string
    metadata: RecordMetadata | undefined
    afterAwait: RecordMetadata | undefined
  }> = []
  const releases: Array<() => void> = []
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('last', { keySerde: serdes.string(), valueSerde: serdes.string() }))
    .addProcessor(
      'slow',
      { parents: ['in'], stores: ['last'] },
      (): Processor<string, string, string, string> => {
        let context: ProcessorContext<string, string>
        let store: KeyValueStore<string, string>
        return {
          init: (processorContext) => {
            context = processorContext
            store = context.getStore<KeyValueStore<string, string>>('last')
          },
          process: async (record) => {
            const metadata = context.recordMetadata
            await new Promise<void>((resolve) => releases.push(resolve))
            seen.push({ value: record.value, metadata, afterAwait: context.recordMetadata })
            await store.put('value', record.value)
            context.forward(record)
          },
        }
      },
    )
    .addSink('out', {
      topic: 'out',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['slow'],
    })
    .build()
  const produced: ProduceRecord[] = []
  const one = new StreamTask(taskOptions(topology, 1, produced))
  const two = new StreamTask(taskOptions(topology, 2, produced))
  await one.init()
  await two.init()
  one.enqueue('in', [fetched('in', 7, 100, 'one', 1)])
  two.enqueue('in', [fetched('in', 9, 200, 'two', 2)])
  expect(one.pump(10, 0)).toBe(1)
  expect(two.pump(10, 0)).toBe(1)
  expect(one.inFlight + two.inFlight).toBe(2)
  // Finish them in the other order than they started.
  releases[1]!()
  releases[0]!()
  await Promise.all([one.idle(), two.idle()])
  expect(seen).toEqual([
    {
      value: 'two',
      metadata: { topic: 'in', partition: 2, offset: 9n },
      afterAwait: { topic: 'in', partition: 2, offset: 9n },
    },
    {
      value: 'one',
      metadata: { topic: 'in', partition: 1, offset: 7n },
      afterAwait: { topic: 'in', partition: 1, offset: 7n },
    },
  ])
  // The store write of each record carried its own input position into the changelog header.
  const changelog = produced.filter((record) => record.topic === 'app-last-changelog')
  expect(changelog.map((record) => [record.partition, decoder.decode(record.headers![1]![1]!)])).toEqual([
    [2, '9'],
    [1, '7'],
  ])
  expect(one.commitPoint().inputs).toEqual([
    { topic: 'in', partition: 1, offset: 8n, completed: [], streamTime: 100 },
  ])
  await one.close()
  await two.close()
})

it("executor: a record runs in the async context its task was made in, and leaves the caller's as it was", async () => {
  const application = new AsyncLocalStorage<string>()
  const seen: Array<string | undefined> = []
  let release!: () => void
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor('slow', { parents: ['in'] }, (): Processor<string, string, string, string> => {
      let context: ProcessorContext<string, string>
      return {
        init: (processorContext) => {
          context = processorContext
        },
        process: async () => {
          seen.push(application.getStore())
          await new Promise<void>((resolve) => {
            release = resolve
          })
          seen.push(application.getStore(), String(context.recordMetadata?.offset))
        },
      }
    })
    .build()
  const task = application.run('made', () => new StreamTask(taskOptions(topology, 1, [])))
  await task.init()
  task.enqueue('in', [fetched('in', 7, 100, 'one', 1)])
  const after = application.run('caller', () => {
    expect(task.pump(10, 0)).toBe(1)
    // Entering and leaving the record's scope put the caller's frame back, with no scope left in it.
    return { value: application.getStore(), scope: currentScope() }
  })
  expect(after).toEqual({ value: 'caller', scope: undefined })
  release()
  await task.idle()
  expect(seen).toEqual(['made', 'made', '7'])
  await task.close()
})

it('executor: stream time never passes a record in flight; stream-time punctuation fires after it finished', async () => {
  const events: string[] = []
  let release: (() => void) | undefined
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor('p', { parents: ['in'] }, (): Processor<string, string, string, string> => {
      let context: ProcessorContext<string, string>
      return {
        init: (processorContext) => {
          context = processorContext
          context.schedule(50, 'stream-time', (time) => {
            events.push(`punctuate@${time}`)
          })
        },
        process: async (record) => {
          events.push(`start ${record.value} st=${context.streamTime}`)
          if (record.value === 'slow') await new Promise<void>((resolve) => (release = resolve))
          events.push(`end ${record.value}`)
        },
      }
    })
    .build()
  const task = new StreamTask(taskOptions(topology, 0, []))
  await task.init()
  task.enqueue('in', [fetched('in', 0, 10, 'slow', 0), fetched('in', 1, 100, 'fast', 0)])
  task.pump(10, 0)
  await new Promise((resolve) => setImmediate(resolve))
  expect(events).toEqual(['start slow st=10'])
  release!()
  await drain(task)
  expect(events).toEqual([
    'start slow st=10',
    'end slow',
    'punctuate@10',
    'start fast st=100',
    'end fast',
    'punctuate@100',
  ])
  await task.close()
})

it('executor: a processor call that does not settle within processingTimeoutMs is a KSTREAMS_TIMEOUT error under the policy', async () => {
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor('hangs', { parents: ['in'] }, (): Processor<string, string, string, string> => {
      let context: ProcessorContext<string, string>
      return {
        init: (processorContext) => {
          context = processorContext
        },
        process: async (record) => {
          if (record.value === 'hang') await new Promise(() => {})
          context.forward(record)
        },
      }
    })
    .addSink('out', {
      topic: 'out',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['hangs'],
    })
    .build()
  const produced: ProduceRecord[] = []
  const failures: unknown[] = []
  const task = new StreamTask({
    ...taskOptions(topology, 0, produced),
    errorPolicies: { ...policies, processing: 'dead-letter' },
    processingTimeoutMs: 50,
    onFailure: (error) => failures.push(error),
  })
  await task.init()
  task.enqueue('in', [fetched('in', 0, 1, 'hang', 0), fetched('in', 1, 2, 'ok', 0)])
  await drain(task)
  expect(failures).toEqual([])
  const dead = produced.filter((record) => record.topic === 'dlq')
  expect(dead).toHaveLength(1)
  expect(decoder.decode(dead[0]!.headers!.find(([name]) => name === 'kstreams.error.class')![1]!)).toContain(
    'KSTREAMS_TIMEOUT',
  )
  expect(
    produced.filter((record) => record.topic === 'out').map((record) => decoder.decode(record.value!)),
  ).toEqual(['ok'])
  expect(task.commitPoint().inputs[0]!.offset).toBe(2n)

  const failing = new StreamTask({
    ...taskOptions(topology, 0, []),
    processingTimeoutMs: 50,
    onFailure: (error) => failures.push(error),
  })
  await failing.init()
  failing.enqueue('in', [fetched('in', 0, 1, 'hang', 0)])
  failing.pump(10, 0)
  await failing.idle()
  expect(failures).toHaveLength(1)
  expect((failures[0] as { code: string }).code).toBe('KSTREAMS_TIMEOUT')
  // The timed-out record is not done: a commit does not pass it.
  expect(failing.commitPoint().inputs).toEqual([])
  await task.close()
  await failing.close()
})

it('commit coordinator: flushes every task in parallel, awaits acks, then commits exactly the snapshot with versioned metadata', async () => {
  const order: string[] = []
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64() }))
    .addProcessor(
      'count',
      { parents: ['in'], stores: ['counts'] },
      (): Processor<string, string, never, never> => {
        let counts: KeyValueStore<string, bigint>
        return {
          init: (context) => {
            counts = context.getStore<KeyValueStore<string, bigint>>('counts')
          },
          process: async (record) => {
            await counts.put(record.value, ((await counts.get(record.value)) ?? 0n) + 1n)
          },
        }
      },
    )
    .build()
  const produced: ProduceRecord[] = []
  const collector = {
    send: (record: ProduceRecord) => {
      order.push(`send ${record.topic}`)
      produced.push(record)
    },
  }
  const tasks = [0, 1].map(
    (partition) =>
      new StreamTask({
        ...taskOptions(topology, partition, produced),
        collector,
        cacheMaxBytes: 1024 * 1024,
      }),
  )
  for (const task of tasks) await task.init()
  tasks[0]!.enqueue('in', [fetched('in', 0, 5, 'a', 0), fetched('in', 1, 6, 'a', 0)])
  tasks[1]!.enqueue('in', [fetched('in', 3, 9, 'b', 1)])
  for (const task of tasks) await drain(task)
  const committed: CommitRequest[][] = []
  const coordinator = new CommitCoordinator({
    flushProduced: async () => {
      order.push('acks')
    },
    endOffset: () => undefined,
    commitOffsets: async (offsets) => {
      order.push('commit')
      committed.push(offsets)
    },
    logger: silentLogger,
  })
  const outcome = await coordinator.commit(tasks)
  expect(outcome).toMatchObject({ committed: 2, fenced: [], deferred: false })
  // Changelog records were handed over (flush) before the acks were awaited, and those before the commit.
  expect(order).toEqual(['send app-counts-changelog', 'send app-counts-changelog', 'acks', 'commit'])
  expect(committed[0]!.map(({ partition, offset }) => [partition, offset])).toEqual([
    [0, 2n],
    [1, 4n],
  ])
  const metadata = decodeCommitMetadata(committed[0]![0]!.metadata, 2n)
  expect(metadata).toEqual({ version: 3, streamTime: 6, completed: [] })
  // Nothing new: the next commit commits nothing.
  expect((await coordinator.commit(tasks)).committed).toBe(0)

  // A retriable commit failure defers the offsets to the next commit; they are not marked committed.
  tasks[0]!.enqueue('in', [fetched('in', 2, 7, 'c', 0)])
  await drain(tasks[0]!)
  let fail = true
  const flaky = new CommitCoordinator({
    flushProduced: async () => {},
    endOffset: () => undefined,
    commitOffsets: async (offsets) => {
      if (fail) {
        const { KafkaError } = await import('../src/index.js')
        throw new KafkaError('coordinator moved', { retriable: true })
      }
      committed.push(offsets)
    },
    logger: silentLogger,
  })
  expect((await flaky.commit(tasks)).deferred).toBe(true)
  fail = false
  expect((await flaky.commit(tasks)).committed).toBe(1)
  expect(committed.at(-1)!.map(({ offset }) => offset)).toEqual([3n])
  for (const task of tasks) await task.close()
})

it('commit metadata: versioned, reads the older formats, carries completed offsets above the committed one', async () => {
  const { encodeCommitMetadata } = await import('../src/runtime/commit-metadata.js')
  const text = encodeCommitMetadata({
    offset: 100n,
    completed: [102n, 103n, 104n, 105n, 109n],
    streamTime: 7,
  })
  // The shorter form: here the bitset (distances 2-5 and 9: bits 1-4 and 8).
  expect(JSON.parse(text)).toEqual({
    v: 3,
    streamTime: 7,
    bits: Buffer.from([0b11110, 0b1]).toString('base64'),
  })
  expect(decodeCommitMetadata(text, 100n)).toEqual({
    version: 3,
    streamTime: 7,
    completed: [102n, 103n, 104n, 105n, 109n],
  })
  expect(decodeCommitMetadata('{"v":2,"streamTime":7,"completed":"2-5,9"}', 100n)).toEqual({
    version: 2,
    streamTime: 7,
    completed: [102n, 103n, 104n, 105n, 109n],
  })
  expect(decodeCommitMetadata('{"v":1,"streamTime":7,"completed":[2,5]}', 100n)).toEqual({
    version: 1,
    streamTime: 7,
    completed: [102n, 105n],
  })
  expect(decodeCommitMetadata('{"streamTime":42}')).toEqual({ version: 0, streamTime: 42, completed: [] })
  expect(decodeCommitMetadata('not json')).toBeUndefined()
  // Past the broker's limit, the highest runs are left out (and reported), never the whole map.
  // Sparse enough that neither form fits: runs of ~6 characters, a bitset of 6,668.
  const many = Array.from({ length: 2000 }, (_, index) => BigInt(index * 20 + 1))
  let truncated = 0
  const long = encodeCommitMetadata({ offset: 0n, completed: many, streamTime: 1 }, (offsets) => {
    truncated = offsets
  })
  expect(long.length).toBeLessThanOrEqual(4096)
  const kept = decodeCommitMetadata(long, 0n)!.completed
  expect(kept.length).toBeGreaterThan(500)
  expect(kept).toEqual(many.slice(0, kept.length))
  expect(truncated).toBe(many.length - kept.length)
})

it('a process-wide in-flight limit holds back other tasks until a record finishes', async () => {
  const releases: Array<() => void> = []
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor(
      'slow',
      { parents: ['in'] },
      (): Processor<string, string, never, never> => ({
        process: () => new Promise<void>((resolve) => releases.push(resolve)),
      }),
    )
    .build()
  const limit = new InFlightLimit(1)
  const one = new StreamTask({ ...taskOptions(topology, 0, []), inFlight: limit })
  const two = new StreamTask({ ...taskOptions(topology, 1, []), inFlight: limit })
  await one.init()
  await two.init()
  one.enqueue('in', [fetched('in', 0, 1, 'a', 0)])
  two.enqueue('in', [fetched('in', 0, 1, 'b', 1)])
  expect(one.pump(10, 0)).toBe(1)
  expect(two.pump(10, 0)).toBe(0)
  expect(limit.count).toBe(1)
  releases[0]!()
  await one.idle()
  expect(limit.count).toBe(0)
  expect(two.pump(10, 0)).toBe(1)
  releases[1]!()
  await two.idle()
  await one.close()
  await two.close()
})

it('task: store changelogs go to the changelog collector, sink output to the output one, both tagged with the task', async () => {
  const topology = new TopologyBuilder()
    .addSource('in', { topics: ['in'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('last', { keySerde: serdes.string(), valueSerde: serdes.string() }))
    .addProcessor(
      'keep',
      { parents: ['in'], stores: ['last'] },
      (): Processor<string, string, string, string> => {
        let context: ProcessorContext<string, string>
        return {
          init: (processorContext) => {
            context = processorContext
          },
          process: async (record) => {
            await context.getStore<KeyValueStore<string, string>>('last').put('value', record.value)
            context.forward(record)
          },
        }
      },
    )
    .addSink('out', {
      topic: 'out',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['keep'],
    })
    .build()
  const output: Array<[string, string | undefined]> = []
  const changelogs: Array<[string, string | undefined]> = []
  const task = new StreamTask({
    ...taskOptions(topology, 3, []),
    collector: { send: (record, _partitioner, _source, owner) => output.push([record.topic, owner]) },
    changelogCollector: {
      send: (record, _partitioner, _source, owner) => changelogs.push([record.topic, owner]),
    },
  })
  await task.init()
  task.enqueue('in', [fetched('in', 0, 100, 'a', 3), fetched('in', 1, 200, 'b', 3)])
  await drain(task)
  expect(output).toEqual([
    ['out', '0_3'],
    ['out', '0_3'],
  ])
  expect(changelogs).toEqual([
    ['app-last-changelog', '0_3'],
    ['app-last-changelog', '0_3'],
  ])
  await task.close()
})
