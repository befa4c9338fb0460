// Input records and read-back checks shared by the integration tests that copy records through an app.
import type { ReadMessage } from '@kstreams/test-helpers'

/** `count` records `prefix-0…`, over 97 keys. */
export function values(count: number, prefix: string): Array<{ key: string; value: string }> {
  return Array.from({ length: count }, (_, index) => ({
    key: `key-${index % 97}`,
    value: `${prefix}-${index}`,
  }))
}

/** A `readTopicUntil` condition: every expected value was read (at least once). */
export function containsAll(expected: string[]) {
  return (messages: ReadMessage[]) => {
    const seen = new Set(messages.map((message) => message.value))
    return expected.every((value) => seen.has(value))
  }
}
