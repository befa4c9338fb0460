import { randomBytes } from 'node:crypto'

/** A short random suffix, unique per call: tests never share topics, groups, keys or buckets. */
export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
}

/** `prefix-<time>-<random>`, valid as a Kafka topic, group id, Redis key or bucket name. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${uniqueSuffix()}`.toLowerCase()
}
