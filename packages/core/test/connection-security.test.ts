import { inspect } from 'node:util'
import { AuthenticationError, MultipleErrors, NetworkError, UserError } from '@platformatic/kafka'
import { describe, expect, it } from 'vitest'
import { ConfigError, KafkaError, resolveConfig, type StreamsConfig } from '../src/index.js'
import { isRetriable, isUnreachable } from '../src/kafka/platformatic-connectivity.js'
import { classifyGroupFailure, describeError } from '../src/kafka/platformatic-errors.js'
import { securityClientOptions, securityFailure } from '../src/kafka/platformatic-security.js'

const base: StreamsConfig = { applicationId: 'secure-app', bootstrapServers: ['127.0.0.1:9093'] }
const caPem = '-----BEGIN CERTIFICATE-----\nMIIBcaPemCaPem\n-----END CERTIFICATE-----\n'
const keyPem = '-----BEGIN PRIVATE KEY-----\nS3cr3tKeyMaterial\n-----END PRIVATE KEY-----\n'
const password = 'pa55-word-never-shown'
const token = 'eyJ-token-never-shown'

function configError(config: object): ConfigError {
  try {
    resolveConfig({ ...base, ...config } as StreamsConfig)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe('TLS and SASL options', () => {
  it.each([
    [{ tls: 'yes' }, 'tls', 'must be true or an object'],
    [{ tls: { ca: '/etc/kafka/ca.pem' } }, 'tls.ca', 'not a file path'],
    [{ tls: { ca: [] } }, 'tls.ca', 'at least one certificate'],
    [{ tls: { ca: [caPem, 42] } }, 'tls.ca[1]', 'must be PEM text'],
    [{ tls: { cert: caPem } }, 'tls.key', 'needs its key'],
    [{ tls: { cert: caPem, key: 'key.pem' } }, 'tls.key', 'private key'],
    [{ tls: { servername: '' } }, 'tls.servername', 'host name'],
    [{ tls: { rejectUnauthorised: false } }, 'tls.rejectUnauthorised', 'not a known option'],
    [{ sasl: { mechanism: 'GSSAPI' } }, 'sasl.mechanism', "'SCRAM-SHA-512'"],
    [{ sasl: { mechanism: 'SCRAM-SHA-256', password } }, 'sasl.username', 'non-empty string'],
    [{ sasl: { mechanism: 'PLAIN', username: 'app', password: '' } }, 'sasl.password', 'non-empty'],
    [{ sasl: { mechanism: 'PLAIN', username: 'app', password, token } }, 'sasl.token', 'not a known option'],
    [{ sasl: { mechanism: 'OAUTHBEARER' } }, 'sasl.token', 'function that returns one'],
    [{ sasl: { mechanism: 'OAUTHBEARER', token, extensions: { a: 1 } } }, 'sasl.extensions.a', 'string'],
  ])('rejects %j naming %s', (options, option, message) => {
    const error = configError(options)
    expect(error.context.option).toBe(option)
    expect(error.message).toContain(`"${option}"`)
    expect(error.message).toContain(message)
    // The message describes a bad secret, never shows it.
    expect(error.message).not.toContain(password)
    expect(error.message).not.toContain(token)
  })

  it('rejects tls and sasl beside a custom kafka port, which would ignore them', () => {
    const kafka = {} as StreamsConfig['kafka']
    expect(configError({ kafka, tls: true }).message).toContain('pass TLS and SASL to that client')
    expect(configError({ kafka, sasl: { mechanism: 'PLAIN', username: 'a', password } }).context.option).toBe(
      'sasl',
    )
  })

  it('passes TLS and each SASL mechanism through to the client options', () => {
    const tokenProvider = () => token
    const tls = resolveConfig({
      ...base,
      tls: { ca: caPem, cert: caPem, key: keyPem, servername: 'kafka.internal' },
    })
    expect(securityClientOptions(tls.security)).toEqual({
      tls: { ca: caPem, cert: caPem, key: keyPem },
      tlsServerName: 'kafka.internal',
    })
    expect(securityClientOptions(resolveConfig({ ...base, tls: true }).security)).toEqual({ tls: {} })
    expect(securityClientOptions(resolveConfig(base).security)).toEqual({})
    for (const mechanism of ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const) {
      const config = resolveConfig({ ...base, tls: true, sasl: { mechanism, username: 'app', password } })
      expect(securityClientOptions(config.security).sasl).toEqual({ mechanism, username: 'app', password })
    }
    const oauth = resolveConfig({
      ...base,
      sasl: { mechanism: 'OAUTHBEARER', token: tokenProvider, extensions: { logicalCluster: 'lkc-1' } },
    })
    expect(securityClientOptions(oauth.security).sasl).toEqual({
      mechanism: 'OAUTHBEARER',
      token: tokenProvider,
      oauthBearerExtensions: { logicalCluster: 'lkc-1' },
    })
  })

  it('never shows a secret in JSON, inspection or string form of the configuration', () => {
    const config = resolveConfig({
      ...base,
      tls: { ca: caPem, cert: caPem, key: keyPem, passphrase: password },
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'orders-app', password },
    })
    const oauth = resolveConfig({ ...base, sasl: { mechanism: 'OAUTHBEARER', token } })
    for (const shown of [
      JSON.stringify(config),
      inspect(config, { depth: 10, showHidden: true }),
      String(config.security),
      JSON.stringify(oauth),
      inspect(oauth, { depth: 10, showHidden: true }),
    ]) {
      expect(shown).not.toContain(password)
      expect(shown).not.toContain('S3cr3tKeyMaterial')
      expect(shown).not.toContain(token)
    }
    // What is configured stays visible.
    expect(JSON.stringify(config)).toContain('"mechanism":"SCRAM-SHA-512","username":"orders-app"')
    expect(config.security.saslIdentity).toBe('SCRAM-SHA-512 as user "orders-app"')
  })
})

describe('a refused TLS handshake or login', () => {
  const refusedLogin = new MultipleErrors('Cannot connect to any broker.', [
    new NetworkError('Connection to 127.0.0.1:9095 failed.', {
      cause: new AuthenticationError('SASL authentication failed.'),
    }),
  ])
  const tlsError = Object.assign(new Error('self-signed certificate in certificate chain'), {
    code: 'SELF_SIGNED_CERT_IN_CHAIN',
  })
  const untrusted = new MultipleErrors('Cannot connect to any broker.', [
    new NetworkError('Connection to 127.0.0.1:9094 failed.', { cause: tlsError }),
  ])
  const plaintextPort = new NetworkError('Connection to 127.0.0.1:9092 failed.', {
    cause: new UserError('TLS handshake failed. Please verify the broker supports TLS.'),
  })

  it.each([
    ['a wrong password', refusedLogin, 'authentication', 'SASL: the broker refused the login'],
    ['an untrusted certificate', untrusted, 'tls', 'set tls.ca'],
    ['a plaintext listener', plaintextPort, 'tls', 'is a TLS listener'],
  ])('is final and says what to check: %s', (_name, error, kind, message) => {
    expect(securityFailure(error)?.kind).toBe(kind)
    // However kstreams wrapped it, it is no outage and no retry can help.
    for (const candidate of [
      error,
      new KafkaError('cannot describe topic "t"', { cause: error, retriable: true }),
    ]) {
      expect(isUnreachable(candidate)).toBe(false)
      expect(isRetriable(candidate)).toBe(false)
      expect(classifyGroupFailure(candidate)).toBe('fatal')
      expect(describeError(candidate)).toContain(message)
    }
  })

  it('leaves a plain outage an outage', () => {
    const refused = new MultipleErrors('Cannot connect to any broker.', [
      new NetworkError('Connection to 127.0.0.1:9092 failed.', {
        cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      }),
    ])
    expect(securityFailure(refused)).toBeUndefined()
    expect(isUnreachable(refused)).toBe(true)
    expect(classifyGroupFailure(refused)).toBe('unreachable')
  })
})
