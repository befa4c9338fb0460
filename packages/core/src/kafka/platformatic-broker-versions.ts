// The group consumer speaks fixed protocol versions (the @platformatic/kafka modules it imports):
// a broker that lacks one of them would fail later with an obscure decoding or UNSUPPORTED_VERSION
// error, so subscribe() checks the broker's ApiVersions answer first and names what is missing.

export interface RequiredApi {
  /** Kafka's API key. */
  key: number
  name: string
  /** The version kstreams sends. */
  version: number
  /** Why an older broker lacks it, for the error message. */
  note?: string
}

/** The protocol versions kstreams' group consumer, fetcher and changelog reader send. */
export const requiredBrokerApis: readonly RequiredApi[] = [
  { key: 68, name: 'ConsumerGroupHeartbeat', version: 0, note: 'KIP-848' },
  { key: 8, name: 'OffsetCommit', version: 9 },
  { key: 9, name: 'OffsetFetch', version: 9 },
  { key: 1, name: 'Fetch', version: 17 },
  { key: 2, name: 'ListOffsets', version: 9 },
  { key: 3, name: 'Metadata', version: 12 },
  { key: 10, name: 'FindCoordinator', version: 6 },
]

/** One entry of an ApiVersions answer. */
export interface SupportedApi {
  apiKey: number
  minVersion: number
  maxVersion: number
}

/** The required APIs the broker does not offer at the version kstreams sends. */
export function missingBrokerApis(
  supported: readonly SupportedApi[],
  required: readonly RequiredApi[] = requiredBrokerApis,
): RequiredApi[] {
  const byKey = new Map(supported.map((api) => [api.apiKey, api]))
  return required.filter((api) => {
    const offered = byKey.get(api.key)
    return !offered || api.version < offered.minVersion || api.version > offered.maxVersion
  })
}

/**
 * Why kstreams cannot run against the broker at `broker` that answered `supported`, or undefined
 * when it can.
 */
export function brokerVersionProblem(broker: string, supported: readonly SupportedApi[]): string | undefined {
  const missing = missingBrokerApis(supported)
  if (missing.length === 0) return undefined
  const byKey = new Map(supported.map((api) => [api.apiKey, api]))
  const names = missing.map((api) => {
    const offered = byKey.get(api.key)
    const details = [
      api.note,
      offered ? `it offers v${offered.minVersion}-v${offered.maxVersion}` : undefined,
    ]
    const known = details.filter((detail) => detail !== undefined)
    return `${api.name} v${api.version}${known.length > 0 ? ` (${known.join('; ')})` : ''}`
  })
  const needsConsumerProtocol = missing.some((api) => api.key === 68)
  return `Kafka at ${broker} does not support ${names.join(', ')}; kstreams needs Kafka 4.0 or newer${needsConsumerProtocol ? ' with group.coordinator.rebalance.protocols including consumer' : ''}`
}
