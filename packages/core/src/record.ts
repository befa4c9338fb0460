/** Header names and values in wire order. Kafka allows a name to appear more than once. */
export type Headers = ReadonlyArray<readonly [string, Uint8Array | null]>

/** Where a record was read from. Absent on records a processor creates from nothing (punctuation). */
export interface RecordMetadata {
  topic: string
  partition: number
  offset: bigint
}

/**
 * A keyed, timestamped record flowing through a topology.
 *
 * A `null` value read from Kafka is a tombstone; it reaches processors as `null` whatever the
 * serde's type says, as in Kafka Streams.
 */
export interface Record<K, V> {
  key: K
  value: V
  /** Milliseconds since the epoch. Drives stream time and windows. */
  timestamp: number
  headers: Headers
  /** Set on records read from a source topic; copied by `forward` unless replaced. */
  topic?: string
  partition?: number
  offset?: bigint
}

/** Returns the first value of header `name`, or undefined. */
export function headerValue(headers: Headers, name: string): Uint8Array | null | undefined {
  for (const [headerName, value] of headers) if (headerName === name) return value
  return undefined
}
