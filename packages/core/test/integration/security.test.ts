// TLS and SASL on a private broker with a TLS listener (client certificates required) and a
// SASL_SSL listener, certificates made by keytool and a random password at its start. Each
// mechanism runs a stateful app (producer, group consumer, admin, and on the second run the
// restore reader replaying the changelog); a wrong password and an untrusted certificate fail
// start() at once with what to check; and no secret reaches a log line, an error, describe(),
// the configuration's JSON or a diagnostics event. Test data goes in and out through the
// broker's plaintext listener.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { inspect } from 'node:util'
import {
  type DedicatedKafka,
  type DedicatedKafkaSecurity,
  type ReadMessage,
  startDedicatedKafka,
  uniqueName,
} from '@kstreams/test-helpers'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import {
  channels,
  createApp,
  type KeyValueStore,
  KStreamsError,
  type Logger,
  type ProcessorContext,
  type SaslOptions,
  type StreamsConfig,
  serdes,
  stores,
  type TlsOptions,
  TopologyBuilder,
} from '../../src/index.js'

let kafka: DedicatedKafka
let security: DedicatedKafkaSecurity
/** Everything an operator could see: log lines, errors, describe(), config dumps, diagnostics events. */
const seen: string[] = []
const show = (value: unknown) =>
  typeof value === 'string' ? value : inspect(value, { depth: 12, showHidden: true })
const onEvent = (message: unknown, name: string | symbol) => seen.push(`${String(name)} ${show(message)}`)

beforeAll(async () => {
  kafka = await startDedicatedKafka({ port: 24192, security: true })
  security = kafka.security!
  for (const channel of Object.values(channels)) subscribe(channel.name, onEvent)
}, 300_000)

afterAll(async () => {
  for (const channel of Object.values(channels)) unsubscribe(channel.name, onEvent)
  await kafka?.close()
})

const capturingLogger: Logger = {
  debug: (message, fields) => seen.push(`debug ${message} ${show(fields)}`),
  info: (message, fields) => seen.push(`info ${message} ${show(fields)}`),
  warn: (message, fields) => seen.push(`warn ${message} ${show(fields)}`),
  error: (message, fields) => seen.push(`error ${message} ${show(fields)}`),
}

function countingTopology(input: string, output: string) {
  return new TopologyBuilder()
    .addSource('input', { topics: [input], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addStore(stores.keyValue('counts', { keySerde: serdes.string(), valueSerde: serdes.int64() }))
    .addProcessor('count', { parents: ['input'], stores: ['counts'] }, () => {
      let context: ProcessorContext<string, bigint>
      let counts: KeyValueStore<string, bigint>
      return {
        init: (processorContext) => {
          context = processorContext
          counts = context.getStore('counts')
        },
        process: async (record) => {
          const count = ((await counts.get(record.key)) ?? 0n) + 1n
          await counts.put(record.key, count)
          context.forward({ key: record.key, value: count, timestamp: record.timestamp, headers: [] })
        },
      }
    })
    .addSink('output', {
      topic: output,
      keySerde: serdes.string(),
      valueSerde: serdes.int64(),
      parents: ['count'],
    })
    .build()
}

function finalCounts(messages: ReadMessage[]): Map<string, bigint> {
  const counts = new Map<string, bigint>()
  for (const message of messages) counts.set(message.key!, message.valueBytes!.readBigInt64BE())
  return counts
}

interface Connection {
  bootstrapServers: string[]
  tls?: TlsOptions | boolean
  sasl?: SaslOptions
}

function appConfig(connection: Connection, applicationId: string): StreamsConfig {
  return {
    applicationId,
    ...connection,
    commitIntervalMs: 200,
    handleSignals: false,
    onFatalError: () => {},
    logger: capturingLogger,
  }
}

/**
 * Counts keys a and b in two runs of the same application: the second run restores the counts
 * of the first from the changelog (through the restore reader, on the same secure connection).
 */
async function countTwice(connection: Connection): Promise<void> {
  const [input, output] = await kafka.createTopics({ prefix: 'secure-in' }, { prefix: 'secure-out' })
  const applicationId = uniqueName('secure-app')
  const topology = countingTopology(input!, output!)
  seen.push(`describe ${show(topology.describe())}`)
  for (const [run, expected] of [
    [1, { a: 2n, b: 1n }],
    [2, { a: 3n, b: 2n }],
  ] as const) {
    const app = createApp(topology, appConfig(connection, applicationId))
    onTestFinished(() => app.close())
    seen.push(`config ${JSON.stringify(app.config)}`, `config ${show(app.config)}`)
    await app.start()
    await kafka.produceStrings(
      input!,
      run === 1
        ? [
            { key: 'a', value: '1' },
            { key: 'a', value: '2' },
            { key: 'b', value: '3' },
          ]
        : [
            { key: 'a', value: '4' },
            { key: 'b', value: '5' },
          ],
    )
    const messages = await kafka.readTopicUntil(
      output!,
      (read) => finalCounts(read).get('a') === expected.a && finalCounts(read).get('b') === expected.b,
      120_000,
    )
    expect(Object.fromEntries(finalCounts(messages))).toEqual(expected)
    await app.close()
    expect(app.state).toBe('not-running')
  }
}

async function startFailure(connection: Connection): Promise<KStreamsError> {
  const [input, output] = await kafka.createTopics({ prefix: 'refused-in' }, { prefix: 'refused-out' })
  const app = createApp(countingTopology(input!, output!), appConfig(connection, uniqueName('refused-app')))
  onTestFinished(() => app.close())
  const error = await app.start().then(
    () => undefined,
    (failure: unknown) => failure,
  )
  expect(KStreamsError.isInstance(error)).toBe(true)
  seen.push(`error ${show(error)}`, `error ${(error as Error).stack}`)
  await app.done().catch((failure: unknown) => seen.push(`done ${show(failure)}`))
  return error as KStreamsError
}

describe('TLS and SASL on a real broker', () => {
  it('runs an app over TLS with a client certificate and a server name', async () => {
    await countTwice({
      bootstrapServers: security.tlsBootstrapServers,
      // The broker's certificate names localhost and 127.0.0.1; the name checked is the one given.
      tls: { ca: security.ca, cert: security.clientCert, key: security.clientKey, servername: 'localhost' },
    })
  })

  it.each(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const)(
    'runs an app over SASL_SSL with %s',
    async (mechanism) => {
      await countTwice({
        bootstrapServers: security.saslSslBootstrapServers,
        tls: { ca: security.ca },
        sasl: { mechanism, username: security.username, password: security.password },
      })
    },
  )

  it('runs an app over SASL_SSL with OAUTHBEARER, asking the token callback for each login', async () => {
    let calls = 0
    await countTwice({
      bootstrapServers: security.saslSslBootstrapServers,
      tls: { ca: security.ca },
      sasl: {
        mechanism: 'OAUTHBEARER',
        token: async () => {
          calls += 1
          return security.oauthToken()
        },
      },
    })
    expect(calls).toBeGreaterThan(0)
  })

  it('fails start() with a final KSTREAMS_KAFKA error on a wrong password', async () => {
    const error = await startFailure({
      bootstrapServers: security.saslSslBootstrapServers,
      tls: { ca: security.ca },
      sasl: { mechanism: 'SCRAM-SHA-512', username: security.username, password: 'wrong-password-4f1c9' },
    })
    expect(error.code).toBe('KSTREAMS_KAFKA')
    expect(error.retriable).toBe(false)
    expect(error.message).toContain('SASL: the broker refused the login')
    expect(error.message).toContain('sasl.password')
    expect(error.context.reason).toBe('authentication')
    // Refused, not unreachable: it was not retried as an outage.
    expect(error.message).not.toContain('did not answer')
    expect(seen.join('\n')).not.toContain('wrong-password-4f1c9')
  })

  it('fails start() with a final KSTREAMS_KAFKA error on an untrusted broker certificate', async () => {
    const error = await startFailure({
      bootstrapServers: security.tlsBootstrapServers,
      // No ca: Node's root CAs do not know the test CA.
      tls: { cert: security.clientCert, key: security.clientKey },
    })
    expect(error.code).toBe('KSTREAMS_KAFKA')
    expect(error.retriable).toBe(false)
    expect(error.message).toContain("TLS: the broker's certificate is not trusted")
    expect(error.message).toContain('tls.ca')
    expect(error.context.reason).toBe('tls')
    expect(error.message).not.toContain('did not answer')
  })

  it('never shows a password, token or private key in logs, errors, describe(), config or diagnostics', () => {
    // The tests above filled `seen`; this one greps it (vitest runs a file's tests in order).
    const text = seen.join('\n')
    expect(text).toContain('SASL: the broker refused the login')
    expect(text).toContain('kstreams:state')
    expect(text).toContain('"mechanism":"SCRAM-SHA-512"')
    const keyBody = security.clientKey
      .split('\n')
      .find((line) => line.length > 40 && !line.startsWith('-----'))!
    for (const secret of [security.password, security.oauthToken().split('.')[1]!.slice(0, 24), keyBody]) {
      expect(secret.length).toBeGreaterThan(10)
      expect(text).not.toContain(secret)
    }
  })
})
