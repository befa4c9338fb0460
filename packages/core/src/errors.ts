// Every error kstreams throws extends KStreamsError, carries a code from a closed list, a cause,
// whether retrying can help, and the context a person needs to find the problem.

const marker = Symbol.for('kstreams.error')

export const ErrorCodes = {
  CONFIG: 'KSTREAMS_CONFIG',
  TOPOLOGY: 'KSTREAMS_TOPOLOGY',
  SERDE: 'KSTREAMS_SERDE',
  PROCESSING: 'KSTREAMS_PROCESSING',
  PRODUCTION: 'KSTREAMS_PRODUCTION',
  STORE: 'KSTREAMS_STORE',
  KAFKA: 'KSTREAMS_KAFKA',
  STATE: 'KSTREAMS_STATE',
  FENCED: 'KSTREAMS_FENCED',
  TIMEOUT: 'KSTREAMS_TIMEOUT',
  RETRY_EXHAUSTED: 'KSTREAMS_RETRY_EXHAUSTED',
  QUERY: 'KSTREAMS_QUERY',
} as const

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

/** Where an error happened. Every field is optional; set what is known. */
export interface ErrorContext {
  topic?: string
  partition?: number
  offset?: bigint | number
  taskId?: string
  processor?: string
  store?: string
  option?: string
  [key: string]: unknown
}

export interface KStreamsErrorOptions {
  cause?: unknown
  retriable?: boolean
  context?: ErrorContext
}

export class KStreamsError extends Error {
  readonly code: ErrorCode
  readonly retriable: boolean
  readonly context: ErrorContext
  readonly [marker] = true

  constructor(code: ErrorCode, message: string, options: KStreamsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.retriable = options.retriable ?? false
    this.context = options.context ?? {}
  }

  /** True for any kstreams error, even from another copy of the package. */
  static isInstance(value: unknown): value is KStreamsError {
    return typeof value === 'object' && value !== null && (value as { [marker]?: unknown })[marker] === true
  }
}

/** A bad option: names the option and what was expected. */
export class ConfigError extends KStreamsError {
  constructor(message: string, options: KStreamsErrorOptions = {}) {
    super(ErrorCodes.CONFIG, message, options)
  }
}

/** A wrongly wired topology: unknown parent or store, cycle, duplicate name, missing serde, topics. */
export class TopologyError extends KStreamsError {
  constructor(message: string, options: KStreamsErrorOptions = {}) {
    super(ErrorCodes.TOPOLOGY, message, options)
  }
}

/** Bytes that a serde could not turn into a value, or a value it could not turn into bytes. */
export class SerdeError extends KStreamsError {
  constructor(message: string, options: KStreamsErrorOptions = {}) {
    super(ErrorCodes.SERDE, message, options)
  }
}

/** A processor threw or rejected while processing a record. */
export class ProcessingError extends KStreamsError {
  constructor(message: string, options: KStreamsErrorOptions = {}) {
    super(ErrorCodes.PROCESSING, message, options)
  }
}

/** A record could not be produced (the broker refused it, or the send failed for good). */
export class ProductionError extends KStreamsError {
  constructor(message: string, options: KStreamsErrorOptions = {}) {
    super(ErrorCodes.PRODUCTION, message, options)
  }
}

/** A state store could not be opened, read or written. */
export class StoreError extends KStreamsError {
  constructor(message: string, options: KStreamsErrorOptions = {}) {
    super(ErrorCodes.STORE, message, options)
  }
}

/** The Kafka client or broker failed: unreachable, fenced, refused. */
export class KafkaError extends KStreamsError {
  constructor(message: string, options: KStreamsErrorOptions = {}) {
    super(ErrorCodes.KAFKA, message, options)
  }
}

/** An operation that the application's current state does not allow (e.g. start twice). */
export class IllegalStateError extends KStreamsError {
  constructor(message: string, options: KStreamsErrorOptions = {}) {
    super(ErrorCodes.STATE, message, options)
  }
}

/**
 * This instance no longer owns what it tried to write: a newer owner of the task (or a newer
 * group generation) fenced it. Raised by stores whose backend fences zombie owners, and by the
 * group consumer when the broker says this member's epoch is stale. The runtime treats the
 * affected tasks as lost (closed without committing) and goes on; the application does not fail.
 */
export class FencedError extends KStreamsError {
  constructor(message: string, options: KStreamsErrorOptions = {}) {
    super(ErrorCodes.FENCED, message, options)
  }
}

/** Something did not settle in time: a processor call past `processingTimeoutMs`, for example. */
export class TimeoutError extends KStreamsError {
  constructor(message: string, options: KStreamsErrorOptions = {}) {
    super(ErrorCodes.TIMEOUT, message, options)
  }
}

/**
 * A processor with a `retry` option failed on a record in every attempt. `cause` is the last
 * attempt's error and `context.attempts` how many were made; the processing error policy applies.
 */
export class RetryExhaustedError extends KStreamsError {
  readonly attempts: number

  constructor(message: string, attempts: number, options: KStreamsErrorOptions = {}) {
    super(ErrorCodes.RETRY_EXHAUSTED, message, { ...options, context: { ...options.context, attempts } })
    this.attempts = attempts
  }
}

/**
 * An interactive query failed: a bad request (`context.status` 4xx), an instance that does not own
 * the key (retriable: the client asks the owner), or a query server that could not be reached.
 * `context.serverCode` is the code the server answered with, when it answered.
 */
export class QueryError extends KStreamsError {
  constructor(message: string, options: KStreamsErrorOptions = {}) {
    super(ErrorCodes.QUERY, message, options)
  }
}

/**
 * True for a `FencedError` (code `KSTREAMS_FENCED`), also when it is the cause (up to a few levels
 * deep) of another error, e.g. a processing error wrapping a store's refusal.
 */
export function isFencedError(error: unknown): boolean {
  let cause = error
  for (let depth = 0; cause !== undefined && cause !== null && depth < 5; depth += 1) {
    if (KStreamsError.isInstance(cause) && cause.code === ErrorCodes.FENCED) return true
    cause = (cause as { cause?: unknown }).cause
  }
  return false
}
