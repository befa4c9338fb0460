// The messages between WorkerProducer (main thread) and its producer thread (producer-worker.ts),
// and errors across the thread boundary: a structured clone keeps an Error's message and stack but
// drops its class and the fields kstreams and the client's error checks read (`code`, `retriable`,
// `context`, `canRetry`, `apiId`, nested `errors`), so errors travel as plain descriptions and
// are rebuilt on the main thread with the same class, code, message and context.
import {
  ConfigError,
  type ErrorCode,
  ErrorCodes,
  FencedError,
  IllegalStateError,
  KafkaError,
  KStreamsError,
  type KStreamsErrorOptions,
  ProcessingError,
  ProductionError,
  QueryError,
  SerdeError,
  StoreError,
  TimeoutError,
  TopologyError,
} from '../errors.js'
import type { ProducedOffset, ProducerOptions } from './kafka-port.js'

/** What the producer thread is started with: plain data only (no functions cross a thread). */
export interface ProducerWorkerData {
  port: {
    bootstrapServers: string[]
    connectTimeoutMs?: number
    requestTimeoutMs?: number
    compression?: ProducerOptions['compression']
  }
  producer: ProducerOptions
}

export type ToProducerThread = { type: 'send'; id: number; batch: ArrayBuffer } | { type: 'close' }

export type FromProducerThread =
  /** `batch`: the send's buffer, handed back for the next batch once the broker acknowledged it. */
  | { type: 'sent'; id: number; offsets: ProducedOffset[]; batch: ArrayBuffer }
  | { type: 'failed'; id: number; error: SerializedError }
  | { type: 'reachable' }
  | { type: 'unreachable'; message: string; now: number }
  | { type: 'closed'; error?: SerializedError }

export interface SerializedError {
  /** A KStreamsError (any copy of the package): rebuilt as the class of its code. */
  kstreams: boolean
  name: string
  message: string
  stack?: string
  code?: unknown
  retriable?: boolean
  context?: Record<string, unknown>
  /** Own fields of the client's errors (`canRetry`, `apiId`, `path`, `response`, …) that clone. */
  fields?: Record<string, unknown>
  errors?: SerializedError[]
  cause?: SerializedError
  /** Something thrown that is not an Error. */
  thrown?: string
}

const MAX_DEPTH = 8
const skipped = new Set(['name', 'message', 'stack', 'cause', 'errors', 'code', 'retriable', 'context'])

function cloneable(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'function' ? undefined : value
  try {
    return structuredClone(value)
  } catch {
    return undefined
  }
}

export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error) && !KStreamsError.isInstance(error)) {
    return { kstreams: false, name: 'Error', message: String(error), thrown: String(error) }
  }
  const source = error as Error & { code?: unknown; errors?: unknown; [key: string]: unknown }
  const serialized: SerializedError = {
    kstreams: KStreamsError.isInstance(error),
    name: source.name,
    message: source.message,
  }
  if (source.stack !== undefined) serialized.stack = source.stack
  if (source.code !== undefined) serialized.code = cloneable(source.code)
  if (KStreamsError.isInstance(error)) {
    serialized.retriable = error.retriable
    serialized.context = cloneable(error.context) as Record<string, unknown> | undefined
  }
  const fields: Record<string, unknown> = {}
  for (const key of Object.keys(source)) {
    if (skipped.has(key)) continue
    const value = cloneable(source[key])
    if (value !== undefined) fields[key] = value
  }
  if (Object.keys(fields).length > 0) serialized.fields = fields
  if (depth < MAX_DEPTH) {
    if (Array.isArray(source.errors))
      serialized.errors = source.errors.map((inner) => serializeError(inner, depth + 1))
    if (source.cause !== undefined) serialized.cause = serializeError(source.cause, depth + 1)
  }
  return serialized
}

type KStreamsErrorClass = new (message: string, options?: KStreamsErrorOptions) => KStreamsError

const classes: Partial<Record<ErrorCode, KStreamsErrorClass>> = {
  [ErrorCodes.CONFIG]: ConfigError,
  [ErrorCodes.TOPOLOGY]: TopologyError,
  [ErrorCodes.SERDE]: SerdeError,
  [ErrorCodes.PROCESSING]: ProcessingError,
  [ErrorCodes.PRODUCTION]: ProductionError,
  [ErrorCodes.STORE]: StoreError,
  [ErrorCodes.KAFKA]: KafkaError,
  [ErrorCodes.STATE]: IllegalStateError,
  [ErrorCodes.FENCED]: FencedError,
  [ErrorCodes.TIMEOUT]: TimeoutError,
  [ErrorCodes.QUERY]: QueryError,
}

/** The error `serialized` describes, as close to the original as this thread can make it. */
export function deserializeError(serialized: SerializedError): Error {
  if (serialized.thrown !== undefined) return new Error(serialized.thrown)
  const cause = serialized.cause === undefined ? undefined : deserializeError(serialized.cause)
  let error: Error
  if (serialized.kstreams) {
    // An unknown code (a newer copy of the package) keeps its code as a KafkaError would not.
    const known = classes[serialized.code as ErrorCode]
    const options = { cause, retriable: serialized.retriable, context: serialized.context }
    error = known
      ? new known(serialized.message, options)
      : new KStreamsError(serialized.code as ErrorCode, serialized.message, options)
  } else {
    const inner = serialized.errors?.map(deserializeError)
    error = inner
      ? new AggregateError(inner, serialized.message, cause === undefined ? undefined : { cause })
      : new Error(serialized.message, cause === undefined ? undefined : { cause })
    if (serialized.code !== undefined) (error as { code?: unknown }).code = serialized.code
  }
  // Rebuilt as its base class: keep the original's name (e.g. DeliveryTimeout, ProtocolError).
  error.name = serialized.name
  if (serialized.stack !== undefined) error.stack = serialized.stack
  if (serialized.fields) Object.assign(error, serialized.fields)
  if (serialized.kstreams && serialized.errors)
    (error as { errors?: unknown }).errors = serialized.errors.map(deserializeError)
  return error
}
