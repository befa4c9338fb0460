// TLS and SASL on @platformatic/kafka connections: the client options every client of the port
// gets (producer, admin, the group consumer's and the readers' connection pools), and telling a
// refused handshake or login (final: retrying the same credentials cannot help) from an outage.
import type { ConnectionOptions } from '@platformatic/kafka'
import type { ConnectionSecurity } from './connection-security.js'

type SecurityClientOptions = Pick<ConnectionOptions, 'tls' | 'tlsServerName' | 'sasl'>

/** The connection options for `security`; empty without TLS and SASL. */
export function securityClientOptions(security: ConnectionSecurity): SecurityClientOptions {
  const options: SecurityClientOptions = {}
  const { tls, sasl } = security
  if (tls) {
    const { servername, ...rest } = tls
    options.tls = rest as NonNullable<ConnectionOptions['tls']>
    if (servername) options.tlsServerName = servername
  }
  if (sasl) {
    options.sasl =
      sasl.mechanism === 'OAUTHBEARER'
        ? {
            mechanism: 'OAUTHBEARER',
            token: sasl.token,
            ...(sasl.extensions ? { oauthBearerExtensions: sasl.extensions } : {}),
          }
        : { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password }
  }
  return options
}

/** Node's codes for a broker certificate that does not verify (openssl's names). */
const untrustedCertificateCodes = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

export interface SecurityFailure {
  kind: 'tls' | 'authentication'
  /** What went wrong and what to check, without any secret. */
  message: string
}

interface ChainEntry {
  code?: unknown
  message?: unknown
  cause?: unknown
  errors?: unknown[]
}

function chainOf(error: unknown, depth = 0): ChainEntry[] {
  if (typeof error !== 'object' || error === null || depth > 8) return []
  const entry = error as ChainEntry
  const inner = [...(Array.isArray(entry.errors) ? entry.errors : []), entry.cause]
  return [entry, ...inner.flatMap((next) => chainOf(next, depth + 1))]
}

/**
 * The refused TLS handshake or SASL login in `error`'s chain, if there is one. Such a failure is
 * final: the client would fail the same way on every retry, so it must end the operation (and a
 * starting application) at once with this message, not count as a broker outage.
 */
export function securityFailure(error: unknown): SecurityFailure | undefined {
  const chain = chainOf(error)
  const code = (entry: ChainEntry) => String(entry.code)
  const text = (entry: ChainEntry) => (typeof entry.message === 'string' ? entry.message : '')
  const certificate = chain.find((entry) => untrustedCertificateCodes.has(code(entry)))
  if (certificate) {
    const hostName = code(certificate) === 'ERR_TLS_CERT_ALTNAME_INVALID'
    return {
      kind: 'tls',
      message: hostName
        ? `TLS: the broker's certificate does not name the host connected to (${code(certificate)}: ${text(certificate)}); connect by a name the certificate holds or set tls.servername`
        : `TLS: the broker's certificate is not trusted (${code(certificate)}: ${text(certificate)}); set tls.ca to the CA certificate that signed it`,
    }
  }
  const handshake = chain.find(
    (entry) =>
      code(entry).startsWith('ERR_SSL_') ||
      (code(entry) === 'PLT_KFK_USER' && text(entry).startsWith('TLS handshake failed')),
  )
  if (handshake) {
    return {
      kind: 'tls',
      message: `TLS: the handshake with the broker failed (${code(handshake)}: ${text(handshake)}); check that the address is a TLS listener and, if it requires a client certificate, tls.cert and tls.key`,
    }
  }
  const index = chain.findIndex((entry) => code(entry) === 'PLT_KFK_AUTHENTICATION')
  if (index >= 0) {
    const authentication = chain[index]!
    // The broker's own words, when it sent some ("invalid credentials with SASL mechanism …").
    const said = chain
      .map((entry) => (entry as { response?: { errorMessage?: unknown } }).response?.errorMessage)
      .find((message): message is string => typeof message === 'string' && message.length > 0)
    const inner = chain.slice(index + 1).find((entry) => text(entry) && text(entry) !== text(authentication))
    const detail = [text(authentication), said ?? (inner ? text(inner) : '')].filter(Boolean).join(': ')
    return {
      kind: 'authentication',
      message: `SASL: the broker refused the login (${detail}); check sasl.mechanism, sasl.username and sasl.password (or the token sasl.token returns)`,
    }
  }
  return undefined
}
