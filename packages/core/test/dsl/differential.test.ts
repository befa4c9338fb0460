// Differential tests against Kafka Streams' documented results, for the topologies without joins
// (the join topologies come with the joins).
import { describe, expect, it } from 'vitest'
import { type KeyValueStore, serdes } from '../../src/index.js'
import { builder, withDriver } from './helpers.js'

describe('against Kafka Streams', () => {
  // The word count of Kafka Streams' quickstart ("Run the Demo Application",
  // https://kafka.apache.org/documentation/streams/quickstart, WordCountDemo.java in
  // apache/kafka streams/examples): lines are lower-cased and split on non-word characters,
  // grouped by word and counted. The quickstart pipes the three lines below and shows the
  // updates of the count table, one per word occurrence:
  //   all 1, streams 1, lead 1, to 1, kafka 1, hello 1, kafka 2, streams 2, join 1, kafka 3, summit 1.
  // That listing is Kafka Streams with its record cache flushed after each line (the docs say the
  // number of updates depends on caching and the commit interval), so the final table is compared
  // as well; this driver forwards every update, which is the listing exactly.
  it('word count: the quickstart WordCountDemo gives the documented updates and final table', async () => {
    const { builder: b } = builder()
    b.stream('streams-plaintext-input', { key: serdes.string(), value: serdes.string() })
      .flatMapValues((line) => line.toLowerCase().split(/\W+/).filter(Boolean), { named: 'split' })
      .groupBy((_key, word) => word, { named: 'words', key: serdes.string(), value: serdes.string() })
      .count({ as: 'counts-store', named: 'count' })
      .toStream({ named: 'updates' })
      // The demo writes counts as Java Longs: int64 here too, so a Java consumer reads them as is.
      .mapValues((count) => (count === null ? null : BigInt(count)), { named: 'as-long' })
      .to('streams-wordcount-output', { value: serdes.int64(), named: 'output' })
    const topology = b.build()
    await withDriver(topology, async (driver) => {
      const input = driver.createInputTopic('streams-plaintext-input', serdes.string(), serdes.string())
      for (const line of ['all streams lead to kafka', 'hello kafka streams', 'join kafka summit']) {
        await input.pipeInput(null as unknown as string, line)
      }
      const output = driver.createOutputTopic('streams-wordcount-output', serdes.string(), serdes.int64())
      expect(output.readKeyValues().map(([word, count]) => `${word} ${count}`)).toEqual([
        'all 1',
        'streams 1',
        'lead 1',
        'to 1',
        'kafka 1',
        'hello 1',
        'kafka 2',
        'streams 2',
        'join 1',
        'kafka 3',
        'summit 1',
      ])
      const store = await driver.getStore<KeyValueStore<string, number>>('counts-store')
      const table: { [word: string]: number } = {}
      for await (const { key, value } of store.all()) table[key] = value
      expect(table).toEqual({ all: 1, streams: 2, lead: 1, to: 1, kafka: 3, hello: 1, join: 1, summit: 1 })
    })
  })
})
