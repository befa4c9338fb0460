// The restore peer: a raw @platformatic/kafka consumer reading BENCH_INPUT from the beginning until
// BENCH_RECORDS records arrived; prints { records, seconds } and exits.
import { Consumer } from '@platformatic/kafka'

const { BENCH_INPUT, BENCH_GROUP, BENCH_RECORDS, KAFKA_BOOTSTRAP_SERVERS } = process.env
const wanted = Number(BENCH_RECORDS)
const started = Date.now()
const consumer = new Consumer({
  groupId: BENCH_GROUP!,
  clientId: `${BENCH_GROUP}-reader`,
  bootstrapBrokers: (KAFKA_BOOTSTRAP_SERVERS ?? '127.0.0.1:9092').split(','),
  maxWaitTime: 100,
})
const stream = await consumer.consume({ topics: [BENCH_INPUT!], mode: 'earliest', autocommit: false })
let records = 0
for await (const _message of stream) {
  records += 1
  if (records >= wanted) break
}
process.stdout.write(`${JSON.stringify({ records, seconds: (Date.now() - started) / 1000 })}\n`)
await stream.close()
await consumer.close(true)
process.exit(0)
