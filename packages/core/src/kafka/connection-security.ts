// TLS and SASL options of the connections to Kafka: checked once, by name, and kept where no log
// line, error message, JSON dump or console.log of the configuration can show a secret.
import { inspect } from 'node:util'
import { ConfigError } from '../errors.js'

/** PEM text (a string or its bytes). */
export type Pem = string | Uint8Array

/**
 * TLS for every connection to the brokers (the `SSL` or `SASL_SSL` security protocol). Node's
 * `tls.connect` options of the same names; file contents, not paths.
 *
 * @example tls: { ca: readFileSync('ca.pem', 'utf8'), cert: readFileSync('client.pem', 'utf8'), key: readFileSync('client-key.pem', 'utf8') }
 */
export interface TlsOptions {
  /** The CA certificate(s) that signed the brokers' certificates. @default Node's root CAs */
  ca?: Pem | Pem[]
  /** The client's certificate chain, for brokers that require one (`ssl.client.auth=required`). */
  cert?: Pem
  /** The client certificate's private key (PEM). */
  key?: Pem
  /** The password of an encrypted `key`. */
  passphrase?: string
  /**
   * The host name the brokers' certificates are checked against (and sent as SNI), when it is not
   * the host of the address connected to, e.g. `'kafka.internal'` for `10.0.0.5:9093`.
   * @default the host of each broker's address
   */
  servername?: string
  /**
   * Whether a certificate that does not verify fails the connection. Turning it off makes TLS
   * worthless against an attacker; it exists for throwaway test brokers only. @default true
   */
  rejectUnauthorized?: boolean
}

/** A secret, or a function that returns it (called at every authentication, so it can rotate). */
export type SecretProvider = string | (() => string | Promise<string>)

/** SASL with a user name and password: PLAIN (only over TLS, it sends the password as it is) or SCRAM. */
export interface SaslPasswordOptions {
  mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'
  username: string
  password: SecretProvider
}

/** SASL/OAUTHBEARER: `token` returns a current access token (a JWT) from your identity provider. */
export interface SaslOAuthBearerOptions {
  mechanism: 'OAUTHBEARER'
  /**
   * Called for every authentication (new connections, and re-authentication before the broker's
   * session lifetime ends): return a token that is valid now.
   * @example token: async () => (await identityProvider.clientCredentials()).access_token
   */
  token: SecretProvider
  /** SASL extensions sent with the token (KIP-342), e.g. `{ logicalCluster: 'lkc-123' }`. */
  extensions?: { [name: string]: string }
}

export type SaslOptions = SaslPasswordOptions | SaslOAuthBearerOptions

export interface SecurityOptions {
  tls?: TlsOptions | boolean
  sasl?: SaslOptions
}

const tlsKeys = ['ca', 'cert', 'key', 'passphrase', 'servername', 'rejectUnauthorized'] as const
const saslMechanisms = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'] as const

function fail(option: string, message: string): never {
  throw new ConfigError(`option "${option}" ${message}`, { context: { option } })
}

/** What a value is, for a message that must not show the value itself (it may be a secret). */
function kind(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (value instanceof Uint8Array) return 'bytes'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}

function rejectUnknownKeys(option: string, value: object, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key))
      fail(
        `${option}.${key}`,
        `is not a known option; ${option} takes ${known.map((name) => `"${name}"`).join(', ')}`,
      )
  }
}

function checkPem(option: string, value: unknown, label: string): void {
  const text =
    typeof value === 'string'
      ? value
      : value instanceof Uint8Array
        ? Buffer.from(value).toString('latin1')
        : undefined
  if (text === undefined) fail(option, `must be PEM text (a string or bytes), got ${kind(value)}`)
  if (
    !text.includes(`-----BEGIN ${label}`) &&
    !(label === 'PRIVATE KEY' && /-----BEGIN [A-Z ]*PRIVATE KEY/.test(text))
  )
    fail(
      option,
      `must be the PEM text of a ${label.toLowerCase()} (starting "-----BEGIN ${label}"), not a file path: read the file first, e.g. readFileSync(path, 'utf8')`,
    )
}

function checkSecret(option: string, value: unknown): void {
  if (typeof value === 'function') return
  if (typeof value !== 'string' || value.length === 0)
    fail(option, `must be a non-empty string or a function that returns one, got ${kind(value)}`)
}

function resolveTls(value: unknown): TlsOptions | undefined {
  if (value === undefined || value === false) return undefined
  if (value === true) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(
      'tls',
      `must be true or an object of TLS options (ca, cert, key, passphrase, servername), got ${kind(value)}`,
    )
  rejectUnknownKeys('tls', value, tlsKeys)
  const tls = value as TlsOptions
  if (tls.ca !== undefined) {
    const list = Array.isArray(tls.ca) ? tls.ca : [tls.ca]
    if (list.length === 0) fail('tls.ca', 'must hold at least one certificate')
    for (const [index, entry] of list.entries())
      checkPem(Array.isArray(tls.ca) ? `tls.ca[${index}]` : 'tls.ca', entry, 'CERTIFICATE')
  }
  if (tls.cert !== undefined) checkPem('tls.cert', tls.cert, 'CERTIFICATE')
  if (tls.key !== undefined) checkPem('tls.key', tls.key, 'PRIVATE KEY')
  if ((tls.cert === undefined) !== (tls.key === undefined))
    fail(
      tls.cert === undefined ? 'tls.cert' : 'tls.key',
      'is required with tls.cert and tls.key: a client certificate needs its key, and the key its certificate',
    )
  if (tls.passphrase !== undefined && typeof tls.passphrase !== 'string')
    fail('tls.passphrase', `must be a string, got ${kind(tls.passphrase)}`)
  if (tls.servername !== undefined && (typeof tls.servername !== 'string' || tls.servername.length === 0))
    fail('tls.servername', `must be a host name, got ${JSON.stringify(tls.servername)}`)
  if (tls.rejectUnauthorized !== undefined && typeof tls.rejectUnauthorized !== 'boolean')
    fail('tls.rejectUnauthorized', `must be a boolean, got ${JSON.stringify(tls.rejectUnauthorized)}`)
  return { ...tls }
}

function resolveSasl(value: unknown): SaslOptions | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail('sasl', `must be an object with a mechanism (${saslMechanisms.join(', ')}), got ${kind(value)}`)
  const { mechanism } = value as { mechanism?: unknown }
  if (typeof mechanism !== 'string' || !(saslMechanisms as readonly string[]).includes(mechanism))
    fail(
      'sasl.mechanism',
      `must be one of ${saslMechanisms.map((name) => `'${name}'`).join(', ')}, got ${JSON.stringify(mechanism)}`,
    )
  if (mechanism === 'OAUTHBEARER') {
    rejectUnknownKeys('sasl', value, ['mechanism', 'token', 'extensions'])
    const sasl = value as SaslOAuthBearerOptions
    checkSecret('sasl.token', sasl.token)
    if (sasl.extensions !== undefined) {
      if (typeof sasl.extensions !== 'object' || sasl.extensions === null || Array.isArray(sasl.extensions))
        fail('sasl.extensions', `must be an object of string values, got ${kind(sasl.extensions)}`)
      for (const [name, extension] of Object.entries(sasl.extensions))
        if (typeof extension !== 'string')
          fail(`sasl.extensions.${name}`, `must be a string, got ${kind(extension)}`)
    }
    return { ...sasl }
  }
  rejectUnknownKeys('sasl', value, ['mechanism', 'username', 'password'])
  const sasl = value as SaslPasswordOptions
  if (typeof sasl.username !== 'string' || sasl.username.length === 0)
    fail('sasl.username', `must be a non-empty string, got ${kind(sasl.username)}`)
  checkSecret('sasl.password', sasl.password)
  return { ...sasl }
}

const redacted = '[redacted]'

/**
 * The checked TLS and SASL options. The options themselves sit in private fields: `JSON.stringify`,
 * `console.log` and `util.inspect` of a configuration holding this show what is configured
 * (mechanism, user, which TLS files are set) and never a password, token, key or passphrase.
 */
export class ConnectionSecurity {
  readonly #tls: TlsOptions | undefined
  readonly #sasl: SaslOptions | undefined

  private constructor(tls: TlsOptions | undefined, sasl: SaslOptions | undefined) {
    this.#tls = tls
    this.#sasl = sasl
  }

  /** Checks `options.tls` and `options.sasl`; throws a ConfigError naming the first bad one. */
  static resolve(options: SecurityOptions): ConnectionSecurity {
    return new ConnectionSecurity(resolveTls(options.tls), resolveSasl(options.sasl))
  }

  static readonly none = new ConnectionSecurity(undefined, undefined)

  get tls(): Readonly<TlsOptions> | undefined {
    return this.#tls
  }

  get sasl(): Readonly<SaslOptions> | undefined {
    return this.#sasl
  }

  /** The SASL mechanism and user, for messages: never a secret. */
  get saslIdentity(): string | undefined {
    const sasl = this.#sasl
    if (!sasl) return undefined
    return sasl.mechanism === 'OAUTHBEARER'
      ? 'OAUTHBEARER (token callback)'
      : `${sasl.mechanism} as user "${sasl.username}"`
  }

  /** What is configured, with every secret replaced. */
  toJSON(): { tls: object | false; sasl: object | false } {
    const tls = this.#tls
    const sasl = this.#sasl
    return {
      tls: tls
        ? Object.fromEntries(
            Object.entries(tls).map(([name, value]) =>
              name === 'servername' || name === 'rejectUnauthorized' ? [name, value] : [name, redacted],
            ),
          )
        : false,
      sasl: sasl
        ? sasl.mechanism === 'OAUTHBEARER'
          ? {
              mechanism: sasl.mechanism,
              token: redacted,
              ...(sasl.extensions ? { extensions: redacted } : {}),
            }
          : { mechanism: sasl.mechanism, username: sasl.username, password: redacted }
        : false,
    }
  }

  toString(): string {
    return `ConnectionSecurity ${JSON.stringify(this.toJSON())}`
  }

  [inspect.custom](): string {
    return this.toString()
  }
}
