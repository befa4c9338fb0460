// Queries the served word counts with the typed client: `npm run query -- fox dog` prints the
// count of each word, and with no words the ten most frequent ones. The client's types come from
// the topology's type: `get` takes a string and gives a bigint.
//
//   QUERY_ENDPOINT=http://127.0.0.1:7070 npm run query -- fox dog
import { createQueryClient } from '@kstreams/core'
import type { WordCountTopology } from './topology.js'

const endpoint = process.env.QUERY_ENDPOINT ?? 'http://127.0.0.1:7070'
const client = createQueryClient<WordCountTopology>({ endpoints: [endpoint] })
const counts = client.store('word-counts')
const words = process.argv.slice(2)

if (words.length > 0) {
  for (const word of words) console.log(`${word}: ${(await counts.get(word)) ?? 0n}`)
} else {
  // Every instance's entries, merged in key order; sorted by count here.
  const all: Array<{ key: string; value: bigint }> = []
  for await (const entry of counts.all()) all.push(entry)
  all.sort((left, right) => (left.value === right.value ? 0 : left.value > right.value ? -1 : 1))
  for (const { key, value } of all.slice(0, 10)) console.log(`${key}: ${value}`)
  const { instances } = await client.metadata()
  console.log(`(${all.length} words over ${instances.length} instance(s))`)
}
