// Benchmark figures of the Redis backend (run by hand: build first, Redis at REDIS_URL):
//   npx turbo run build --filter=@kstreams/store-redis && node packages/store-redis/bench/first-read-and-flush.mjs
// 1. fills one store of one task with KEYS keys (default 1,000,000), in flushes of 100,000;
// 2. a new owner opens it and reads 10,000 random keys one at a time, as a partition-mode
//    processor does on its first records: p50/p99 of those first gets;
// 3. the new owner changes 10,000 keys and flushes them with a commit point, 5 times: flush latency;
//    and once 100,000 changed keys (staged in chunks, applied in one script).
// It deletes what it wrote at the end.
import { Redis } from 'ioredis'
import { createRedisBackend, storeKeys } from '../dist/index.js'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const keyCount = Number(process.env.KEYS ?? 1_000_000)
const keyPrefix = `bench-${Date.now().toString(36)}`
const applicationId = 'bench'
const factory = createRedisBackend({ url, keyPrefix })
const context = (memberEpoch) => ({
  applicationId,
  taskId: '0_0',
  partition: 0,
  storeName: 'counts',
  directory: '/unused',
  ownership: { taskId: '0_0', memberId: `member-${memberEpoch}`, memberEpoch },
})
const key = (index) => Buffer.from(`key-${String(index).padStart(7, '0')}`)
const value = (count) => {
  const bytes = Buffer.alloc(8)
  bytes.writeBigInt64BE(BigInt(count))
  return bytes
}
let offset = 0n
const commitPoint = (memberEpoch) => {
  offset += 1000n
  return {
    taskId: '0_0',
    inputs: [{ topic: 'input', partition: 0, offset, completed: [], streamTime: Date.now() }],
    changelogs: [],
    ownership: context(memberEpoch).ownership,
  }
}
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]
const ms = (nanoseconds) => `${(Number(nanoseconds) / 1e6).toFixed(3)} ms`

const inspector = new Redis(url)
try {
  const filling = await factory.open(context(1))
  const fillStarted = process.hrtime.bigint()
  const fillFlushes = []
  for (let start = 0; start < keyCount; start += 100_000) {
    const batch = []
    for (let index = start; index < Math.min(keyCount, start + 100_000); index += 1) {
      batch.push({ key: key(index), value: value(1) })
    }
    await filling.write(batch)
    const flushStarted = process.hrtime.bigint()
    await filling.flush(commitPoint(1))
    fillFlushes.push(process.hrtime.bigint() - flushStarted)
  }
  const fillTotal = process.hrtime.bigint() - fillStarted
  await filling.close()
  const keys = storeKeys(keyPrefix, applicationId, 'counts', 0)
  console.log(
    `filled ${await inspector.hlen(keys.data)} keys in ${ms(fillTotal)} (flushes of 100,000 changed keys: median ${ms([...fillFlushes].sort((a, b) => (a < b ? -1 : 1))[Math.floor(fillFlushes.length / 2)])}); Redis used_memory ${(await inspector.info('memory')).match(/used_memory_human:(\S+)/)[1]}`,
  )

  // A new owner: nothing cached, every first get is a round trip to Redis.
  const owner = await factory.open(context(2))
  const latencies = []
  for (let read = 0; read < 10_000; read += 1) {
    const started = process.hrtime.bigint()
    const found = await owner.get(key(Math.floor(Math.random() * keyCount)))
    latencies.push(process.hrtime.bigint() - started)
    if (found === undefined) throw new Error('a key written by the fill is missing')
  }
  latencies.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  console.log(
    `first 10,000 gets of a new owner (one at a time): p50 ${ms(percentile(latencies, 50))}, p99 ${ms(percentile(latencies, 99))}, max ${ms(latencies[latencies.length - 1])}`,
  )

  const flushes = []
  for (let round = 0; round < 5; round += 1) {
    const batch = []
    for (let index = 0; index < 10_000; index += 1) {
      batch.push({ key: key(Math.floor(Math.random() * keyCount)), value: value(round + 2) })
    }
    await owner.write(batch)
    const started = process.hrtime.bigint()
    await owner.flush(commitPoint(2))
    flushes.push(process.hrtime.bigint() - started)
  }
  flushes.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  console.log(
    `flush of 10,000 changed keys with the commit point (one script): median ${ms(flushes[2])}, min ${ms(flushes[0])}, max ${ms(flushes[4])}`,
  )
  const large = []
  for (let index = 0; index < 100_000; index += 1)
    large.push({ key: key((index * 7) % keyCount), value: value(9) })
  await owner.write(large)
  const largeStarted = process.hrtime.bigint()
  await owner.flush(commitPoint(2))
  console.log(
    `flush of 100,000 changed keys (staged in chunks of 10,000, applied in one script): ${ms(process.hrtime.bigint() - largeStarted)}`,
  )
  await owner.close()
} finally {
  const keys = storeKeys(keyPrefix, applicationId, 'counts', 0)
  await inspector.unlink(keys.data, keys.index, keys.meta)
  await inspector.quit()
}
