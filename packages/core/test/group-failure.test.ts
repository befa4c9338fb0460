import { MultipleErrors, NetworkError, ProtocolError, ResponseError, TimeoutError } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { KafkaError } from '../src/errors.js'
import { classifyGroupFailure, isFencing } from '../src/kafka/platformatic-errors.js'
import { retryDelayMs } from '../src/kafka/platformatic-retry.js'

const OFFSET_COMMIT = 8

/** What @platformatic/kafka throws for a response that carries `name` as its error code. */
function answeredWith(name: string): ResponseError {
  const code = new ProtocolError(name).apiCode as number
  return new ResponseError(OFFSET_COMMIT, 9, { '/topics/0/partitions/0': [code, null] }, {})
}

describe('the reaction to a failed group request', () => {
  it.each([
    ['UNKNOWN_MEMBER_ID', 'unknown-member'],
    ['FENCED_MEMBER_EPOCH', 'fenced-epoch'],
    ['ILLEGAL_GENERATION', 'fenced-epoch'],
    ['STALE_MEMBER_EPOCH', 'stale-epoch'],
  ] as const)('treats %s as fencing (%s): lost and rejoin, never fatal', (name, expected) => {
    expect(classifyGroupFailure(answeredWith(name))).toBe(expected)
    expect(isFencing(classifyGroupFailure(answeredWith(name)))).toBe(true)
    // However deep the client or kstreams wrapped it.
    const wrapped = new KafkaError('could not commit', {
      cause: new MultipleErrors('x', [answeredWith(name)]),
    })
    expect(classifyGroupFailure(wrapped)).toBe(expected)
  })

  it.each([
    'NOT_COORDINATOR',
    'COORDINATOR_NOT_AVAILABLE',
    'COORDINATOR_LOAD_IN_PROGRESS',
    'REQUEST_TIMED_OUT',
  ])('retries %s: the broker answered, the coordinator is moving', (name) => {
    expect(classifyGroupFailure(answeredWith(name))).toBe('retriable')
  })

  it('counts refused connections and timeouts as unreachable, wrapped or not', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
    expect(classifyGroupFailure(refused)).toBe('unreachable')
    const network = new NetworkError('Connection failed', { cause: refused })
    expect(classifyGroupFailure(new MultipleErrors('Cannot connect to any broker.', [network]))).toBe(
      'unreachable',
    )
    expect(classifyGroupFailure(new TimeoutError('Request timed out'))).toBe('unreachable')
    const ours = new KafkaError('cannot reach Kafka', { cause: network, retriable: true })
    expect(classifyGroupFailure(ours)).toBe('unreachable')
  })

  it('treats other error codes and unknown errors as fatal, a retriable answer without code as retriable', () => {
    expect(classifyGroupFailure(answeredWith('GROUP_AUTHORIZATION_FAILED'))).toBe('fatal')
    expect(classifyGroupFailure(new Error('bug'))).toBe('fatal')
    expect(classifyGroupFailure(new KafkaError('no coordinator yet', { retriable: true }))).toBe('retriable')
  })
})

describe('the retry backoff', () => {
  it('doubles from 100 ms up to a 5 s cap, within ±20% jitter', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 10, 60].map((attempt) => retryDelayMs(attempt, {}, () => 0.5))).toEqual([
      100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000,
    ])
    expect(retryDelayMs(3, {}, () => 0)).toBe(640)
    expect(retryDelayMs(3, {}, () => 0.999_999)).toBe(960)
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const delay = retryDelayMs(attempt)
      expect(delay).toBeGreaterThanOrEqual(80)
      expect(delay).toBeLessThanOrEqual(6000)
    }
  })
})
