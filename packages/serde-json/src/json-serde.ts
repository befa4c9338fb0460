// A JSON serde with optional validation by any Standard Schema validator. The wire format is plain
// UTF-8 JSON, the same as serdes.json() of @kstreams/core writes, so topics can be shared with it
// and with other clients; the schema only decides which values are accepted.
import { ConfigError, type Serde, type SerdeContext, SerdeError } from '@kstreams/core'
import type { StandardSchemaV1 } from '@standard-schema/spec'
import { formatIssues } from './issues.js'

/** A `JSON.parse` reviver: called for every key and value, bottom up; returns the value to keep. */
export type JsonReviver = (this: unknown, key: string, value: unknown) => unknown

/** A `JSON.stringify` replacer: called for every key and value, top down; returns the value to write. */
export type JsonReplacer = (this: unknown, key: string, value: unknown) => unknown

export interface JsonSerdeOptions<T> {
  /**
   * Validates every value read (and, with `validateOnSerialize`, every value written). Any Standard
   * Schema validator fits: zod 4, valibot 1, arktype 2… The value `deserialize` returns is the
   * schema's output, so transforms, coercions and defaults apply. The validator must be
   * synchronous: a `validate` that returns a Promise (zod's async refinements, for instance) makes
   * the read throw a ConfigError, since serdes are synchronous.
   * @default none: any JSON value is accepted and returned as parsed
   */
  schema?: StandardSchemaV1<unknown, T>
  /**
   * Also validate on serialize, before anything is written: the JSON text is parsed back (with the
   * reviver) and validated the way `deserialize` will, so a value that passes is one every reader
   * with the same schema accepts. It costs a parse and a validation per record.
   * @default false
   */
  validateOnSerialize?: boolean
  /**
   * Passed to `JSON.parse`, before validation: the schema sees the revived value.
   * @default none
   */
  reviver?: JsonReviver
  /**
   * Passed to `JSON.stringify`.
   * @default none
   */
  replacer?: JsonReplacer
}

// Fatal: invalid UTF-8 is an error, not replacement characters that would then pass as valid text.
const decoder = new TextDecoder('utf-8', { fatal: true })

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function errorContext(context: SerdeContext, extra: Record<string, unknown> = {}) {
  return { topic: context.topic, target: context.target, ...extra }
}

function readError(context: SerdeContext, problem: string, cause?: unknown): SerdeError {
  return new SerdeError(`cannot read ${context.target} of topic "${context.topic}" as JSON: ${problem}`, {
    cause,
    context: errorContext(context),
  })
}

function writeError(context: SerdeContext, problem: string, cause?: unknown): SerdeError {
  return new SerdeError(`cannot write ${context.target} for topic "${context.topic}" as JSON: ${problem}`, {
    cause,
    context: errorContext(context),
  })
}

function stringify(value: unknown, replacer: JsonReplacer | undefined, context: SerdeContext): string {
  let text: string | undefined
  try {
    text = JSON.stringify(value, replacer)
  } catch (error) {
    const hint =
      typeof error === 'object' && /bigint/i.test(errorMessage(error))
        ? ' (bigint is not JSON: turn it into a string or a number in the value or in a replacer)'
        : ''
    throw writeError(context, `${errorMessage(error)}${hint}`, error)
  }
  // JSON.stringify returns undefined, not text, for undefined, functions and symbols.
  if (text === undefined) {
    throw writeError(context, `a value of type ${typeof value} has no JSON form`)
  }
  return text
}

function parse(
  text: string,
  reviver: JsonReviver | undefined,
  context: SerdeContext,
  fail: typeof readError,
): unknown {
  try {
    return JSON.parse(text, reviver)
  } catch (error) {
    if (error instanceof SyntaxError) throw fail(context, errorMessage(error), error)
    throw fail(context, `the reviver threw: ${errorMessage(error)}`, error)
  }
}

function validate<T>(
  schema: StandardSchemaV1<unknown, T>,
  value: unknown,
  context: SerdeContext,
  when: 'read' | 'written',
): T {
  let result: StandardSchemaV1.Result<T> | Promise<StandardSchemaV1.Result<T>>
  try {
    result = schema['~standard'].validate(value)
  } catch (error) {
    throw new SerdeError(
      `the schema of the ${context.target} of topic "${context.topic}" threw while validating: ${errorMessage(error)}`,
      { cause: error, context: errorContext(context) },
    )
  }
  if (result instanceof Promise) {
    // Nobody awaits this promise: without a handler its rejection would crash the process.
    result.catch(() => {})
    throw new ConfigError(
      `the schema of the ${context.target} of topic "${context.topic}" validates asynchronously ` +
        `(${schema['~standard'].vendor} returned a Promise from validate): serdes are synchronous, ` +
        'so use a schema without async refinements or transforms',
      { context: errorContext(context, { option: 'schema' }) },
    )
  }
  if (result.issues) {
    const prefix = when === 'read' ? '' : ' (checked before writing, validateOnSerialize)'
    throw new SerdeError(
      `${context.target} of topic "${context.topic}" does not match the schema${prefix}: ${formatIssues(result.issues)}`,
      { context: errorContext(context, { issues: result.issues }) },
    )
  }
  return result.value
}

/**
 * A serde of JSON values as UTF-8 text, validated by a Standard Schema validator when one is given.
 * Its type is the schema's output type, or `T` (by default `unknown`) without a schema.
 *
 * Errors are SerdeErrors naming the topic and whether the key or the value failed: malformed JSON
 * with the parser's message, invalid UTF-8, values the schema rejects with the path of each issue
 * (`$.items[2].price: Expected number`; all issues are in `error.context.issues`). Serializing a
 * value JSON cannot hold (a bigint, a cycle, undefined) is a SerdeError too; bigints are not JSON,
 * turn them into strings (a replacer can) and back (a reviver, or a schema such as
 * `z.string().transform(BigInt)`).
 *
 * @example
 * import { z } from 'zod'
 * import { jsonSerde } from '@kstreams/serde-json'
 *
 * const Order = z.object({
 *   id: z.string(),
 *   items: z.array(z.object({ sku: z.string(), price: z.number().nonnegative() })),
 *   placedAt: z.iso.datetime().transform((text) => new Date(text)),
 * })
 * // Serde<{ id: string; items: { sku: string; price: number }[]; placedAt: Date }>
 * const orderSerde = jsonSerde({ schema: Order })
 * builder.addSource('orders', { topics: ['orders'], keySerde: serdes.string(), valueSerde: orderSerde })
 */
export function jsonSerde<T = unknown>(options: JsonSerdeOptions<T> = {}): Serde<T> {
  const { schema, reviver, replacer } = options
  const validateOnSerialize = options.validateOnSerialize ?? false
  return {
    serialize(value, context) {
      const text = stringify(value, replacer, context)
      if (schema !== undefined && validateOnSerialize) {
        validate(schema, parse(text, reviver, context, writeError), context, 'written')
      }
      // Into Node's shared pool: much faster than TextEncoder.encode for the usual small value.
      return Buffer.from(text, 'utf8')
    },
    deserialize(bytes, context) {
      let text: string
      try {
        text = decoder.decode(bytes)
      } catch (error) {
        throw readError(context, `the ${bytes.byteLength} byte(s) are not valid UTF-8`, error)
      }
      const value = parse(text, reviver, context, readError)
      return schema === undefined ? (value as T) : validate(schema, value, context, 'read')
    },
  }
}
