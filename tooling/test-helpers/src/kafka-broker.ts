// A private Kafka broker for one test file, for tests that stop and restart their broker: the
// shared broker on 9092 serves every other test and must never go away. It is the same broker as
// tooling/services/kafka.sh runs, on other ports and in a directory of its own.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import {
  createTopicsOn,
  produceStrings,
  type ReadMessage,
  readTopicUntil,
  type TestMessage,
  type TestTopicSpec,
} from './kafka.js'

const run = promisify(execFile)
const script = fileURLToPath(new URL('../../services/kafka.sh', import.meta.url))

export interface DedicatedKafkaOptions {
  /** The broker's port. @default 19092 */
  port?: number
  /** The controller's port. @default port + 1 */
  controllerPort?: number
  /** Broker properties over tooling/services/kafka/server.properties, e.g. shorter session timeouts. */
  properties?: Record<string, string | number>
  /**
   * Also a TLS listener on `port + 2` (clients must present a certificate signed by the broker's
   * CA) and a SASL_SSL listener on `port + 3` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, unsecured
   * OAUTHBEARER), with certificates made by keytool and a random password at start; the result's
   * `security` has what a client needs. The plaintext listener on `port` stays, for test tools.
   */
  security?: boolean
  /** How long a start may take until the broker is ready, in seconds. @default 120 */
  readyTimeoutS?: number
}

/** What a client of a `startDedicatedKafka({ security: true })` broker needs. */
export interface DedicatedKafkaSecurity {
  /** The TLS listener (client certificate required). */
  tlsBootstrapServers: string[]
  /** The SASL_SSL listener. */
  saslSslBootstrapServers: string[]
  /** PEM texts: the CA that signed the broker's and the client's certificates, and the client's. */
  ca: string
  clientCert: string
  clientKey: string
  /** The SASL user (PLAIN and SCRAM) and its password (random per start). */
  username: string
  password: string
  /** An unsigned JWT for `sub` that the broker's unsecured OAUTHBEARER validator accepts. */
  oauthToken(subject?: string): string
}

/** A broker started by `startDedicatedKafka`. */
export interface DedicatedKafka {
  bootstrapServers: string[]
  /** With `security: true`: the secure listeners and credentials. */
  security?: DedicatedKafkaSecurity
  /** Stops the broker; with `keep` its log directory stays for `start({ keep: true })` (it always does). */
  stop(options?: { keep?: boolean }): Promise<void>
  /** Starts it again: on its previous data with `keep`, else empty. Waits until it is ready. */
  start(options?: { keep?: boolean }): Promise<void>
  /** Stops it and deletes its directory: call it in `afterAll`. */
  close(): Promise<void>
  /** Uniquely named topics on this broker (gone with the broker at `close`). */
  createTopics(...specs: TestTopicSpec[]): Promise<string[]>
  produceStrings(topic: string, messages: TestMessage[]): Promise<void>
  readTopicUntil(
    topic: string,
    done: (messages: ReadMessage[]) => boolean,
    timeoutMs?: number,
  ): Promise<ReadMessage[]>
  /** The last lines of the broker's log, for a failing test's message. */
  logTail(lines?: number): Promise<string>
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/**
 * Starts a second, private broker with kafka.sh (10 to 20 s on 2 cores). Call it in `beforeAll`
 * and `close()` the result in `afterAll`.
 *
 * @example
 * let kafka: DedicatedKafka
 * beforeAll(async () => { kafka = await startDedicatedKafka({ port: 19092 }) })
 * afterAll(() => kafka?.close())
 */
export async function startDedicatedKafka(options: DedicatedKafkaOptions = {}): Promise<DedicatedKafka> {
  const port = options.port ?? 19092
  const controllerPort = options.controllerPort ?? port + 1
  const securePorts = options.security ? { tls: port + 2, saslSsl: port + 3 } : undefined
  for (const [what, candidate] of [
    ['port', port],
    ['controllerPort', controllerPort],
    ...(securePorts
      ? ([
          ['port + 2 (TLS)', securePorts.tls],
          ['port + 3 (SASL_SSL)', securePorts.saslSsl],
        ] as const)
      : []),
  ] as const) {
    if (await portInUse(candidate))
      throw new Error(`startDedicatedKafka: ${what} ${candidate} on 127.0.0.1 is taken; pass another ${what}`)
  }
  const directory = await mkdtemp(join(tmpdir(), 'kstreams-dedicated-kafka-'))
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KAFKA_PORT: String(port),
    KAFKA_CONTROLLER_PORT: String(controllerPort),
    KSTREAMS_SERVICES_DIR: directory,
    ...(securePorts
      ? { KAFKA_TLS_PORT: String(securePorts.tls), KAFKA_SASL_SSL_PORT: String(securePorts.saslSsl) }
      : {}),
    KAFKA_READY_TIMEOUT_S: String(options.readyTimeoutS ?? 120),
    KAFKA_EXTRA_PROPERTIES: Object.entries(options.properties ?? {})
      .map(([name, value]) => `${name}=${value}`)
      .join('\n'),
  }
  // env.sh treats either of these as "use that external broker" and would start nothing.
  delete env.KAFKA_BOOTSTRAP_SERVERS
  delete env.KSTREAMS_EXTERNAL_KAFKA
  const kafkaSh = async (...args: string[]) => {
    try {
      await run('bash', [script, ...args], { env })
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string }
      throw new Error(`kafka.sh ${args.join(' ')} (port ${port}) failed:\n${stdout ?? ''}${stderr ?? ''}`)
    }
  }
  const logFile = join(directory, 'kafka', 'kafka.log')
  try {
    await kafkaSh('start')
  } catch (error) {
    // A broker that did not get ready in time may still be running: it must not outlive the test.
    await kafkaSh('stop').catch(() => {})
    await rm(directory, { recursive: true, force: true })
    throw error
  }
  const bootstrapServers = [`127.0.0.1:${port}`]
  const security = securePorts ? await readSecurity(join(directory, 'kafka', 'tls')) : undefined
  let closed = false
  return {
    bootstrapServers,
    security,
    stop: ({ keep = true } = {}) => kafkaSh('stop', ...(keep ? ['--keep'] : [])),
    start: ({ keep = true } = {}) => kafkaSh('start', ...(keep ? ['--keep'] : [])),
    async close() {
      if (closed) return
      closed = true
      await kafkaSh('stop').finally(() => rm(directory, { recursive: true, force: true }))
    },
    createTopics: (...specs) => createTopicsOn(bootstrapServers, specs),
    produceStrings: (topic, messages) => produceStrings(topic, messages, bootstrapServers),
    readTopicUntil: (topic, done, timeoutMs) => readTopicUntil(topic, done, timeoutMs, bootstrapServers),
    async logTail(lines = 40) {
      const { stdout } = await run('tail', ['-n', String(lines), logFile]).catch(() => ({ stdout: '' }))
      return stdout
    },
  }
}

async function readSecurity(directory: string): Promise<DedicatedKafkaSecurity> {
  const described = JSON.parse(await readFile(join(directory, 'security.json'), 'utf8')) as {
    tlsPort: number
    saslSslPort: number
    caFile: string
    clientCertFile: string
    clientKeyFile: string
    username: string
    password: string
  }
  const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return {
    tlsBootstrapServers: [`127.0.0.1:${described.tlsPort}`],
    saslSslBootstrapServers: [`127.0.0.1:${described.saslSslPort}`],
    ca: await readFile(described.caFile, 'utf8'),
    clientCert: await readFile(described.clientCertFile, 'utf8'),
    clientKey: await readFile(described.clientKeyFile, 'utf8'),
    username: described.username,
    password: described.password,
    oauthToken(subject = described.username) {
      const now = Math.floor(Date.now() / 1000)
      return `${base64url({ alg: 'none' })}.${base64url({ sub: subject, iat: now, exp: now + 3600 })}.`
    },
  }
}
