import { AuthenticationError, NetworkError, ResponseError } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { KafkaError, KStreamsError, ProductionError } from '../src/errors.js'
import { isRetriable, isUnreachable } from '../src/kafka/platformatic-connectivity.js'
import { describeError, protocolFailures } from '../src/kafka/platformatic-errors.js'
import { securityFailure } from '../src/kafka/platformatic-security.js'
import { deserializeError, serializeError } from '../src/kafka/producer-thread-protocol.js'

/** As the error reaches the main thread: described, structured-cloned by postMessage, rebuilt. */
function acrossThreads(error: unknown): Error {
  return deserializeError(structuredClone(serializeError(error)))
}

/** What kstreams' error checks read of a failure. */
function checks(error: unknown) {
  return {
    retriable: isRetriable(error),
    unreachable: isUnreachable((error as { cause?: unknown }).cause),
    protocol: protocolFailures((error as { cause?: unknown }).cause),
    described: describeError(error),
    security: securityFailure(error),
  }
}

function producing(cause: unknown, retriable: boolean): KafkaError {
  return new KafkaError(`producing 3 record(s) to out failed: ${describeError(cause)}`, {
    cause,
    retriable,
    context: { topic: 'out', brokers: '127.0.0.1:9092', elapsedMs: 12, offset: 7n },
  })
}

describe('producer thread errors', () => {
  it('rebuild a refused send as the same KafkaError, with the client error inside still classified', () => {
    const refused = new ResponseError(0, 9, { '/topics/0/partitions/0': [10, 'too big'] }, { topics: [] })
    const original = producing(refused, false)
    const rebuilt = acrossThreads(original)
    expect(rebuilt).toBeInstanceOf(KafkaError)
    expect(KStreamsError.isInstance(rebuilt)).toBe(true)
    expect(rebuilt).toMatchObject({
      name: 'KafkaError',
      code: 'KSTREAMS_KAFKA',
      retriable: false,
      message: original.message,
      context: original.context,
      stack: original.stack,
    })
    expect(checks(rebuilt)).toEqual(checks(original))
    expect(checks(rebuilt).protocol).toEqual([{ id: 'MESSAGE_TOO_LARGE', path: '/topics/0/partitions/0' }])
    expect((rebuilt.cause as Error).message).toBe(refused.message)
    expect((rebuilt.cause as { errors: unknown[] }).errors).toHaveLength(1)
  })

  it('keep an outage an outage, and a refused login a security failure', () => {
    const outage = producing(new NetworkError('Connection to 127.0.0.1:9092 refused'), true)
    expect(checks(acrossThreads(outage))).toEqual(checks(outage))
    expect(checks(acrossThreads(outage)).unreachable).toBe(true)
    const login = producing(new AuthenticationError('SASL authentication failed'), false)
    expect(checks(acrossThreads(login))).toEqual(checks(login))
    expect(checks(acrossThreads(login)).security?.kind).toBe('authentication')
  })

  it('keep the class of a subclass by its code, and its own name', () => {
    class DeliveryTimeout extends KafkaError {}
    const rebuilt = acrossThreads(new DeliveryTimeout('no acknowledgement', { retriable: true }))
    expect(rebuilt).toBeInstanceOf(KafkaError)
    expect(rebuilt).toMatchObject({ name: 'DeliveryTimeout', retriable: true, code: 'KSTREAMS_KAFKA' })
    // The record collector passes a production error on as it is.
    const production = acrossThreads(new ProductionError('sink topic "x" does not exist'))
    expect(production).toBeInstanceOf(ProductionError)
    expect(production).toMatchObject({
      code: 'KSTREAMS_PRODUCTION',
      message: 'sink topic "x" does not exist',
    })
  })

  it('describe what is not an Error, and fields that cannot be cloned, without failing', () => {
    expect(acrossThreads('a string').message).toBe('a string')
    const odd = Object.assign(new Error('odd'), { callback: () => {}, socket: { write() {} }, id: 3 })
    const rebuilt = acrossThreads(odd) as Error & { id?: number; callback?: unknown; socket?: unknown }
    expect(rebuilt).toMatchObject({ message: 'odd', id: 3 })
    expect(rebuilt.callback).toBeUndefined()
    expect(rebuilt.socket).toBeUndefined()
  })
})
