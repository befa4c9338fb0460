// Reading @platformatic/kafka errors: a response with per-partition error codes arrives as a
// ResponseError (an AggregateError of ProtocolErrors, each with a path into the response).
import { ErrorCodes, KStreamsError } from '../errors.js'
import { securityFailure } from './platformatic-security.js'

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
  const security = securityFailure(error)
  if (security) return security.message
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

/**
 * How the group consumer reacts to a failed group request (heartbeat, offset commit, offset fetch):
 * - `unknown-member`: the coordinator forgot this member (its session expired): its partitions are
 *   lost, and it rejoins with a new member id;
 * - `fenced-epoch`: a newer epoch of this member exists (FENCED_MEMBER_EPOCH, or ILLEGAL_GENERATION
 *   from a coordinator speaking the classic protocol): lost, rejoins at epoch 0 with the same id;
 * - `stale-epoch`: the request carried an epoch the coordinator already moved past (a rebalance is
 *   under way); KIP-848 allows retrying it once the next heartbeat brought the new epoch;
 * - `retriable`: a broker answered but cannot serve the request now (coordinator moving or loading);
 * - `unreachable`: no broker answered at all (refused, reset, timed out);
 * - `fatal`: anything else; retrying does not help.
 */
export type GroupFailure =
  | 'unknown-member'
  | 'fenced-epoch'
  | 'stale-epoch'
  | 'retriable'
  | 'unreachable'
  | 'fatal'

const retriableGroupErrors = new Set([
  ...coordinatorErrors,
  'REQUEST_TIMED_OUT',
  'NETWORK_EXCEPTION',
  'REBALANCE_IN_PROGRESS',
  // An offset fetch that asks for stable offsets waits out pending transactional commits.
  'UNSTABLE_OFFSET_COMMIT',
])

// Platformatic's own codes for a socket that failed or a request that got no answer in time, and
// Node's codes for the same when they surface unwrapped.
const unreachableCodes = new Set([
  'PLT_KFK_NETWORK',
  'PLT_KFK_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
])

/**
 * Every error in `error`'s chain: itself, its `cause`s and the `errors` of aggregates. Our own
 * KafkaErrors keep the client's error as `cause`, which `protocolFailures` does not follow.
 */
function errorChain(error: unknown, depth = 0): unknown[] {
  if (typeof error !== 'object' || error === null || depth > 6) return []
  const candidate = error as { cause?: unknown; errors?: unknown[] }
  const inner = [...(Array.isArray(candidate.errors) ? candidate.errors : []), candidate.cause]
  return [error, ...inner.flatMap((next) => errorChain(next, depth + 1))]
}

/** The reaction to a failed group request; see {@link GroupFailure}. */
export function classifyGroupFailure(error: unknown): GroupFailure {
  // Ours: raised before sending, for a request of a membership that was lost meanwhile.
  if (KStreamsError.isInstance(error) && error.code === ErrorCodes.FENCED) return 'fenced-epoch'
  if (securityFailure(error)) return 'fatal'
  const chain = errorChain(error)
  const names = new Set(chain.flatMap((entry) => protocolFailures(entry).map((failure) => failure.id)))
  if (names.has('UNKNOWN_MEMBER_ID')) return 'unknown-member'
  if (names.has('FENCED_MEMBER_EPOCH') || names.has('ILLEGAL_GENERATION')) return 'fenced-epoch'
  if (names.has('STALE_MEMBER_EPOCH')) return 'stale-epoch'
  if (names.size > 0)
    return [...names].every((name) => retriableGroupErrors.has(name)) ? 'retriable' : 'fatal'
  if (chain.some((entry) => unreachableCodes.has(String((entry as { code?: unknown }).code))))
    return 'unreachable'
  // Answers that carried no error code but no usable result either ("no coordinator yet").
  if (KStreamsError.isInstance(error) && error.retriable) return 'retriable'
  return 'fatal'
}

/** True for the failures after which this member no longer owns its partitions. */
export function isFencing(failure: GroupFailure): boolean {
  return failure === 'unknown-member' || failure === 'fenced-epoch' || failure === 'stale-epoch'
}

/** True when the failure had no answer from any broker: what the connectivity tracker counts. */
export function isUnreachable(error: unknown): boolean {
  return classifyGroupFailure(error) === 'unreachable'
}
