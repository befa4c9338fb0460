import { describe, expect, it } from 'vitest'
import { ConfigError, KStreamsError, resolveConfig, type StreamsConfig } from '../src/index.js'
import { checkNodeVersion } from '../src/runtime/kstreams-app.js'

const valid: StreamsConfig = { applicationId: 'orders-app', bootstrapServers: ['127.0.0.1:9092'] }

function configError(config: unknown): ConfigError {
  try {
    resolveConfig(config as StreamsConfig)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    expect(KStreamsError.isInstance(error)).toBe(true)
    return error as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe('resolveConfig', () => {
  it('fills in documented defaults', () => {
    const config = resolveConfig(valid)
    expect(config).toMatchObject({
      applicationId: 'orders-app',
      bootstrapServers: ['127.0.0.1:9092'],
      commitIntervalMs: 5000,
      maxBufferedRecordsPerPartition: 2000,
      fetchMaxBytes: 16 * 1024 * 1024,
      fetchMaxBytesPerPartition: 512 * 1024,
      producerBatchSize: 10_000,
      producerLingerMs: 5,
      offsetReset: 'earliest',
      handleSignals: true,
      errorPolicies: {
        deserialization: 'fail',
        processing: 'fail',
        production: 'fail',
        deadLetterTopic: 'orders-app-dlq',
      },
    })
  })

  it('accepts bootstrap servers as a comma-separated string', () => {
    expect(resolveConfig({ ...valid, bootstrapServers: 'a:9092, b:9093' }).bootstrapServers).toEqual([
      'a:9092',
      'b:9093',
    ])
  })

  it('names the option and what was expected', () => {
    const missingId = configError({ bootstrapServers: ['127.0.0.1:9092'] })
    expect(missingId.context.option).toBe('applicationId')
    expect(missingId.message).toContain('"applicationId"')

    const badServers = configError({ applicationId: 'app', bootstrapServers: ['localhost'] })
    expect(badServers.context.option).toBe('bootstrapServers')
    expect(badServers.message).toContain('host:port')

    const badInterval = configError({ ...valid, commitIntervalMs: -5 })
    expect(badInterval.context.option).toBe('commitIntervalMs')
    expect(badInterval.message).toContain('positive integer')
    expect(badInterval.message).toContain('-5')

    const badPolicy = configError({ ...valid, processingErrorPolicy: 'ignore' })
    expect(badPolicy.context.option).toBe('processingErrorPolicy')
    expect(badPolicy.message).toContain("'dead-letter'")

    const badProductionPolicy = configError({ ...valid, productionErrorPolicy: 'dead-letter' })
    expect(badProductionPolicy.context.option).toBe('productionErrorPolicy')

    expect(configError({ ...valid, deadLetterTopic: 'bad topic' }).context.option).toBe('deadLetterTopic')
    expect(configError({ ...valid, offsetReset: 'middle' }).context.option).toBe('offsetReset')
    expect(configError(null).message).toContain('applicationId')
  })

  it('rejects a misspelled option, naming it and the closest valid one', () => {
    const typo = configError({ ...valid, comitIntervalMs: 100 })
    expect(typo.context.option).toBe('comitIntervalMs')
    expect(typo.message).toContain('did you mean "commitIntervalMs"')
    const renamed = configError({ ...valid, sessionTimeoutMs: 10_000 })
    expect(renamed.message).toContain('joinTimeoutMs')
    expect(renamed.message).toContain('group.consumer.session.timeout.ms')
  })

  it('checks the options of this wave', () => {
    const config = resolveConfig(valid)
    expect(config).toMatchObject({
      joinTimeoutMs: 45_000,
      processingTimeoutMs: 60_000,
      deliveryTimeoutMs: 120_000,
      brokerUnavailableTimeoutMs: 120_000,
      producerCompression: 'none',
      changelogMinCompactionLagMs: 900_000,
    })
    expect(resolveConfig({ ...valid, processingTimeoutMs: 0 }).processingTimeoutMs).toBe(0)
    expect(configError({ ...valid, producerCompression: 'brotli' }).context.option).toBe(
      'producerCompression',
    )
    expect(configError({ ...valid, onFatalError: 'exit' }).context.option).toBe('onFatalError')
  })

  it("bounds V8's heap unless told otherwise (0 leaves a part to V8)", () => {
    expect(resolveConfig(valid)).toMatchObject({ maxSemiSpaceSizeMb: 16, heapGrowingPercent: 150 })
    expect(resolveConfig({ ...valid, maxSemiSpaceSizeMb: 0, heapGrowingPercent: 0 })).toMatchObject({
      maxSemiSpaceSizeMb: 0,
      heapGrowingPercent: 0,
    })
    expect(configError({ ...valid, maxSemiSpaceSizeMb: -1 }).context.option).toBe('maxSemiSpaceSizeMb')
    expect(configError({ ...valid, maxSemiSpaceSizeMb: 1.5 }).context.option).toBe('maxSemiSpaceSizeMb')
    expect(configError({ ...valid, heapGrowingPercent: -10 }).context.option).toBe('heapGrowingPercent')
  })

  it('refuses a Node.js older than 22, naming the version required and the one running', () => {
    expect(() => checkNodeVersion('20.20.2')).toThrow(ConfigError)
    expect(() => checkNodeVersion('20.20.2')).toThrow(
      'Node.js 22 or newer; this process runs Node.js 20.20.2',
    )
    expect(() => checkNodeVersion('22.0.0')).not.toThrow()
    expect(() => checkNodeVersion('24.21.0')).not.toThrow()
  })
})
