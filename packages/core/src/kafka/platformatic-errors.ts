// Reading @platformatic/kafka errors: a response with per-partition error codes arrives as a
// ResponseError (an AggregateError of ProtocolErrors, each with a path into the response).

export interface ProtocolFailure {
  /** Kafka's error name, e.g. NOT_LEADER_OR_FOLLOWER. */
  id: string
  path: string
}

/**
 * The protocol error names inside `error`, however deeply the client nested them (a
 * MultipleErrors holding a ResponseError holding ProtocolErrors), or an empty list when there are none.
 */
export function protocolFailures(error: unknown, depth = 0): ProtocolFailure[] {
  const candidate = error as { errors?: unknown[]; apiId?: string; path?: string } | undefined
  if (typeof candidate !== 'object' || candidate === null || depth > 5) return []
  const own: ProtocolFailure[] =
    typeof candidate.apiId === 'string' ? [{ id: candidate.apiId, path: candidate.path ?? '' }] : []
  if (!Array.isArray(candidate.errors)) return own
  return [...own, ...candidate.errors.flatMap((inner) => protocolFailures(inner, depth + 1))]
}

/**
 * True when a metadata request failed because the topic does not exist: a protocol error, or the
 * client's own "Unknown topic" error, which it raises in place of the protocol error.
 */
export function isUnknownTopic(error: unknown): boolean {
  if (protocolFailures(error).some((failure) => failure.id === 'UNKNOWN_TOPIC_OR_PARTITION')) return true
  const candidate = error as { code?: unknown; message?: unknown } | undefined
  return (
    candidate?.code === 'PLT_KFK_USER' &&
    typeof candidate.message === 'string' &&
    candidate.message.startsWith('Unknown topic ')
  )
}

/** The response that came with a ResponseError, when the caller can use its good parts. */
export function partialResponse<T>(error: unknown): T | undefined {
  return (error as { response?: T } | undefined)?.response
}

export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const names = protocolFailures(error).map((failure) => failure.id)
  const cause = (error as { cause?: unknown }).cause
  const causeText = cause instanceof Error ? ` (${cause.message})` : ''
  return names.length > 0
    ? `${error.message}: ${[...new Set(names)].join(', ')}`
    : `${error.message}${causeText}`
}

export const coordinatorErrors = new Set([
  'NOT_COORDINATOR',
  'COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_LOAD_IN_PROGRESS',
])
