import { endpoints, uniqueName } from '@kstreams/test-helpers'
import { apiVersionsV3 } from '@platformatic/kafka'
import { describe, expect, it, onTestFinished } from 'vitest'
import { missingBrokerApis } from '../../src/kafka/platformatic-broker-versions.js'
import { Cluster } from '../../src/kafka/platformatic-cluster.js'

describe('the broker version check on the real broker', () => {
  it('finds every protocol version kstreams sends on the test broker (Kafka 4.x)', async () => {
    const cluster = new Cluster({
      bootstrapServers: endpoints.kafkaBootstrapServers,
      clientId: uniqueName('versions'),
      connectTimeoutMs: 5000,
      requestTimeoutMs: 30_000,
    })
    onTestFinished(() => cluster.close())
    const answer = await apiVersionsV3.api.async(await cluster.anyConnection(), 'kstreams-test', '1')
    expect(answer.apiKeys.length).toBeGreaterThan(50)
    expect(missingBrokerApis(answer.apiKeys)).toEqual([])
    await expect(cluster.checkBrokerVersions()).resolves.toBeUndefined()
  })
})
