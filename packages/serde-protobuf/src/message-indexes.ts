// Where a message type sits in its .proto file, as Confluent's message indexes: the index of the
// top-level message among the file's messages, then the index of each nested message among its
// parent's nested messages, in declaration order.
//
// One case cannot be computed from protobufjs' reflection: protoc turns every map field into a
// synthetic nested message (`XxxEntry`) placed among the nested messages where the field is
// declared, and Confluent serializers count those. protobufjs keeps fields and nested types apart,
// so below a message that has map fields the position of a nested message is unknown. That case is
// reported as ambiguous rather than guessed.

import type { Namespace, ReflectionObject, Type } from 'protobufjs'
import protobuf from 'protobufjs'

/** A parsed .proto file: its package namespace holds its top-level declarations. */
export interface ProtoFile {
  /** The namespace of the file's package (the root when it has none). */
  scope: Namespace
}

/** The path of a message type, or why it cannot be computed. */
export type PathResult = { indexes: number[] } | { ambiguousBelow: string } | { missing: true }

/** What a path points to in a file. */
export type TypeAtResult = { name: string } | { ambiguousBelow: string } | { missing: true }

/**
 * Parses .proto source text for its declarations only: imports are not loaded and references are
 * not resolved, which the message order does not need.
 * @throws the protobufjs parse error for text that is not a .proto file
 */
export function parseProtoFile(source: string): ProtoFile {
  const parsed = protobuf.parse(source, { keepCase: true })
  const scope = parsed.package === undefined ? parsed.root : parsed.root.lookup(parsed.package)
  // A package with no declarations has no namespace: the file then has no messages.
  return { scope: (scope as Namespace | null) ?? parsed.root }
}

/** The path of the message type named `fullName` (with or without the leading dot) in `file`. */
export function messagePath(file: ProtoFile, fullName: string): PathResult {
  const target = withDot(fullName)
  const search = (candidates: Type[], prefix: number[]): PathResult | undefined => {
    for (const [index, candidate] of candidates.entries()) {
      if (candidate.fullName === target) return { indexes: [...prefix, index] }
      if (!target.startsWith(`${candidate.fullName}.`)) continue
      if (hasMapFields(candidate)) return { ambiguousBelow: withoutDot(candidate.fullName) }
      return search(nestedMessages(candidate), [...prefix, index])
    }
    return undefined
  }
  return search(nestedMessages(file.scope), []) ?? { missing: true }
}

/** The full name (without the leading dot) of the message type at `indexes` in `file`. */
export function typeAt(file: ProtoFile, indexes: readonly number[]): TypeAtResult {
  let candidates = nestedMessages(file.scope)
  let current: Type | undefined
  for (const index of indexes) {
    if (current !== undefined && hasMapFields(current))
      return { ambiguousBelow: withoutDot(current.fullName) }
    current = candidates[index]
    if (current === undefined) return { missing: true }
    candidates = nestedMessages(current)
  }
  return current === undefined ? { missing: true } : { name: withoutDot(current.fullName) }
}

// The message types declared directly in a namespace or message, in declaration order (protobufjs
// keeps them in an object whose keys, being identifiers, keep their insertion order).
function nestedMessages(scope: Namespace | Type): Type[] {
  return scope.nestedArray.filter(isMessageType)
}

function isMessageType(object: ReflectionObject): object is Type {
  return 'fieldsArray' in object
}

function hasMapFields(type: Type): boolean {
  return type.fieldsArray.some((field) => field.map)
}

export function withoutDot(name: string): string {
  return name.startsWith('.') ? name.slice(1) : name
}

function withDot(name: string): string {
  return name.startsWith('.') ? name : `.${name}`
}
