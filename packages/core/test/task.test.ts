import { expect, it } from 'vitest'
import type { FetchedRecord, ProduceRecord } from '../src/index.js'
import { type Processor, type ProcessorContext, serdes, silentLogger, TopologyBuilder } from '../src/index.js'
import { StreamTask } from '../src/runtime/task.js'

function fetched(topic: string, offset: number, timestamp: number, value: string): FetchedRecord {
  return {
    topic,
    partition: 2,
    offset: BigInt(offset),
    timestamp,
    key: null,
    value: new TextEncoder().encode(value),
    headers: [],
  }
}

it('processes co-partitioned inputs in timestamp order and tracks committable offsets per topic', async () => {
  const order: string[] = []
  let release: (() => void) | undefined
  const topology = new TopologyBuilder()
    .addSource('left', { topics: ['left'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addSource('right', { topics: ['right'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor('merge', { parents: ['left', 'right'] }, (): Processor<string, string, string, string> => {
      let context: ProcessorContext<string, string>
      return {
        init: (processorContext) => {
          context = processorContext
        },
        process: (record) => {
          order.push(record.value)
          if (record.value === 'wait') return new Promise<void>((resolve) => (release = resolve))
          context.forward(record)
        },
      }
    })
    .addSink('out', {
      topic: 'out',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['merge'],
    })
    .build()
  const produced: ProduceRecord[] = []
  const task = new StreamTask({
    applicationId: 'app',
    topology,
    subtopology: topology.subtopologies[0]!,
    partition: 2,
    collector: { send: (record) => produced.push(record) },
    errorPolicies: {
      deserialization: 'fail',
      processing: 'fail',
      production: 'fail',
      deadLetterTopic: 'dlq',
    },
    logger: silentLogger,
    stateDir: '/tmp',
    cacheMaxBytes: 0,
    now: () => 0,
  })
  await task.init()
  task.enqueue('left', [fetched('left', 0, 10, 'l10'), fetched('left', 1, 30, 'l30')])
  task.enqueue('right', [fetched('right', 5, 20, 'r20'), fetched('right', 6, 40, 'wait')])
  while (task.buffered('left') > 0 || task.buffered('right') > 0) {
    const outcome = task.processNext()
    if (outcome instanceof Promise) {
      expect(task.committableOffsets()).toEqual([
        { topic: 'left', partition: 2, offset: 2n },
        { topic: 'right', partition: 2, offset: 6n },
      ])
      release!()
      await outcome
    }
  }
  expect(order).toEqual(['l10', 'r20', 'l30', 'wait'])
  expect(task.streamTime).toBe(40)
  expect(produced.map((record) => new TextDecoder().decode(record.value!))).toEqual(['l10', 'r20', 'l30'])
  expect(task.committableOffsets()).toEqual([
    { topic: 'left', partition: 2, offset: 2n },
    { topic: 'right', partition: 2, offset: 7n },
  ])
  task.markCommitted('left', 2n)
  task.markCommitted('right', 7n)
  expect(task.committableOffsets()).toEqual([])
  await task.close()
})
