import { FencedError, KafkaError, KStreamsError } from '@kstreams/core'
import { describe, expect, it } from 'vitest'
import type { BindingError } from '../src/binding.js'
import { createLibrdkafkaKafkaPort } from '../src/index.js'
import { Codes, toKafkaError } from '../src/librdkafka-errors.js'
import { consumerConfig } from '../src/librdkafka-group-consumer.js'
import { producerConfig } from '../src/librdkafka-producer.js'

function bindingError(code: number, message = 'broker said no'): BindingError {
  return Object.assign(new Error(message), { code })
}

describe('createLibrdkafkaKafkaPort', () => {
  it('names a missing or empty bootstrapServers', () => {
    expect(() => createLibrdkafkaKafkaPort({ bootstrapServers: [] })).toThrow(
      expect.objectContaining({
        code: 'KSTREAMS_CONFIG',
        message: expect.stringContaining('"bootstrapServers"'),
      }),
    )
  })

  it('names a wrong groupProtocol and maxHeldRecords', () => {
    expect(() =>
      createLibrdkafkaKafkaPort({ bootstrapServers: ['b:9092'], groupProtocol: 'eager' as 'classic' }),
    ).toThrow(/"groupProtocol" must be "consumer" or "classic", not "eager"/)
    expect(() => createLibrdkafkaKafkaPort({ bootstrapServers: ['b:9092'], maxHeldRecords: 0 })).toThrow(
      /"maxHeldRecords" must be a positive integer, not 0/,
    )
  })
})

describe('the librdkafka client settings', () => {
  it('makes every producer idempotent with acks=all and the delivery timeout as message.timeout.ms', () => {
    const config = producerConfig(
      { 'bootstrap.servers': 'b:9092', 'enable.idempotence': false },
      { clientId: 'p', lingerMs: 2, compression: 'lz4', deliveryTimeoutMs: 30_000 },
    )
    expect(config).toMatchObject({
      'client.id': 'p',
      'enable.idempotence': true,
      acks: 'all',
      'linger.ms': 2,
      'compression.codec': 'lz4',
      'message.timeout.ms': 30_000,
      dr_cb: true,
    })
  })

  it('commits only when the runtime says so, on the chosen group protocol', () => {
    const options = {
      groupId: 'g',
      clientId: 'c',
      topics: ['t'],
      listener: { onAssigned: async () => {}, onRevoked: async () => {}, onLost: async () => {} },
      maxHeldRecords: 10,
    }
    const kip848 = consumerConfig({ 'enable.auto.commit': true }, { ...options, groupProtocol: 'consumer' })
    expect(kip848).toMatchObject({
      'group.id': 'g',
      'group.protocol': 'consumer',
      'enable.auto.commit': false,
      'enable.auto.offset.store': false,
      'auto.offset.reset': 'earliest',
    })
    // The consumer protocol rejects client-side assignors.
    expect(kip848).not.toHaveProperty('partition.assignment.strategy')
    expect(consumerConfig({}, { ...options, groupProtocol: 'classic', offsetReset: 'latest' })).toMatchObject(
      {
        'partition.assignment.strategy': 'cooperative-sticky',
        'auto.offset.reset': 'latest',
      },
    )
  })
})

describe('librdkafka errors', () => {
  it('are a FencedError when the broker no longer accepts the member', () => {
    for (const code of [
      Codes.STALE_MEMBER_EPOCH,
      Codes.FENCED_MEMBER_EPOCH,
      Codes.UNKNOWN_MEMBER_ID,
      Codes.ILLEGAL_GENERATION,
    ]) {
      const error = toKafkaError('committing failed', bindingError(code))
      expect(error, String(code)).toBeInstanceOf(FencedError)
      expect(KStreamsError.isInstance(error)).toBe(true)
    }
  })

  it('are a retriable KafkaError when the broker is away, naming what failed', () => {
    const error = toKafkaError(
      'committing failed',
      bindingError(Codes.ALL_BROKERS_DOWN, 'all brokers down'),
      {
        topic: 't',
      },
    )
    expect(error).toBeInstanceOf(KafkaError)
    expect(error).toMatchObject({
      code: 'KSTREAMS_KAFKA',
      retriable: true,
      context: { topic: 't' },
      message: 'committing failed: all brokers down (librdkafka code -187)',
    })
    expect(toKafkaError('creating', bindingError(42)).retriable).toBe(false)
  })
})
