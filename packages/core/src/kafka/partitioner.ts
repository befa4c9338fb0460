// The default partitioner of every kstreams write (sinks, repartition topics, changelogs, the
// dead-letter topic): Kafka's Java client's, so that a key lands in the same partition whoever
// wrote it (Kafka Streams, Kafka Connect, any Java producer, librdkafka's murmur2_random).
// murmur2 below is org.apache.kafka.common.utils.Utils.murmur2, in 32-bit integer arithmetic.

const SEED = 0x9747b28c
const M = 0x5bd1e995

/** Kafka's murmur2 hash of `data` (a signed 32-bit integer, as the Java client returns it). */
export function murmur2(data: Uint8Array): number {
  const length = data.length
  let h = SEED ^ length
  const whole = length & ~3
  for (let index = 0; index < whole; index += 4) {
    let k = data[index]! | (data[index + 1]! << 8) | (data[index + 2]! << 16) | (data[index + 3]! << 24)
    k = Math.imul(k, M)
    k ^= k >>> 24
    k = Math.imul(k, M)
    h = Math.imul(h, M) ^ k
  }
  const tail = length & 3
  if (tail > 0) {
    // Java's switch falls through from the third tail byte down to the first.
    if (tail === 3) h ^= data[whole + 2]! << 16
    if (tail >= 2) h ^= data[whole + 1]! << 8
    h ^= data[whole]!
    h = Math.imul(h, M)
  }
  h ^= h >>> 13
  h = Math.imul(h, M)
  h ^= h >>> 15
  return h | 0
}

/**
 * The partition Kafka's Java client picks for a record with these key bytes:
 * `(murmur2(key) & 0x7fffffff) % partitions` (`Utils.toPositive`, not `>>> 0`).
 *
 * @example defaultPartition(new TextEncoder().encode('user-42'), 12)
 */
export function defaultPartition(key: Uint8Array, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions
}
