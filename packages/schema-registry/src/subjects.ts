/**
 * The subject of Confluent's default TopicNameStrategy: `<topic>-key` for keys, `<topic>-value`
 * for values.
 *
 * @example
 * topicNameSubject('orders', 'value') // → 'orders-value'
 */
export function topicNameSubject(topic: string, target: 'key' | 'value'): string {
  return `${topic}-${target}`
}
