import { describe, expect, it } from 'vitest'
import {
  brokerVersionProblem,
  missingBrokerApis,
  requiredBrokerApis,
  type SupportedApi,
} from '../src/kafka/platformatic-broker-versions.js'

/** What a broker that offers exactly kstreams' versions would answer. */
const exactly: SupportedApi[] = requiredBrokerApis.map((api) => ({
  apiKey: api.key,
  minVersion: 0,
  maxVersion: api.version,
}))

describe('the broker version check', () => {
  it('accepts a broker that offers every version kstreams sends', () => {
    expect(missingBrokerApis(exactly)).toEqual([])
    expect(brokerVersionProblem('127.0.0.1:9092', exactly)).toBeUndefined()
  })

  it('names ConsumerGroupHeartbeat and the broker setting when KIP-848 is missing (Kafka 3.x)', () => {
    const withoutHeartbeat = exactly.filter((api) => api.apiKey !== 68)
    expect(brokerVersionProblem('127.0.0.1:9092', withoutHeartbeat)).toBe(
      'Kafka at 127.0.0.1:9092 does not support ConsumerGroupHeartbeat v0 (KIP-848); kstreams needs Kafka 4.0 or newer with group.coordinator.rebalance.protocols including consumer',
    )
  })

  it('names every API offered only in older versions, with the range the broker offers', () => {
    const older = exactly.map((api) =>
      api.apiKey === 1 || api.apiKey === 8 ? { ...api, maxVersion: api.maxVersion - 1 } : api,
    )
    expect(missingBrokerApis(older).map((api) => api.name)).toEqual(['OffsetCommit', 'Fetch'])
    expect(brokerVersionProblem('kafka:9092', older)).toBe(
      'Kafka at kafka:9092 does not support OffsetCommit v9 (it offers v0-v8), Fetch v17 (it offers v0-v16); kstreams needs Kafka 4.0 or newer',
    )
  })

  it('rejects a broker whose minimum version is above the one kstreams sends', () => {
    const newer = exactly.map((api) => (api.apiKey === 3 ? { ...api, minVersion: 13, maxVersion: 20 } : api))
    expect(missingBrokerApis(newer).map((api) => `${api.name} v${api.version}`)).toEqual(['Metadata v12'])
  })
})
