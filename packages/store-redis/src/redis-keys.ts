// Where one store of one task lives in Redis. Every key shares the hash tag
// `{<prefix>:<applicationId>:<store>:<partition>}`, so a task's keys sit in one cluster slot and a
// script may touch all of them; applications and stores sharing a Redis never meet.

/** The Redis keys of one store of one task. */
export interface StoreKeys {
  /** The hash tag and common start of every key, e.g. `{kstreams:app:counts:3}`. */
  readonly base: string
  /** Hash: field = key bytes, value = value bytes. */
  readonly data: string
  /** Sorted set, every score 0, members = key bytes: ordered scans with ZRANGEBYLEX. */
  readonly index: string
  /** Hash: the owner token and the last commit point flushed. */
  readonly meta: string
  /** Staging keys of one large flush, applied in one script and deleted by it. */
  stage(nonce: string): { puts: string; deletes: string }
}

/**
 * The keys of the store `storeName` of partition `partition` of `applicationId`. The names are
 * escaped (`%`, `:`, `{` and `}` as `%25`, `%3A`, `%7B`, `%7D`), so that no two of them make the
 * same key and none ends the hash tag early.
 */
export function storeKeys(
  prefix: string,
  applicationId: string,
  storeName: string,
  partition: number,
): StoreKeys {
  const base = `{${escapeName(prefix)}:${escapeName(applicationId)}:${escapeName(storeName)}:${partition}}`
  return {
    base,
    data: `${base}:data`,
    index: `${base}:index`,
    meta: `${base}:meta`,
    stage: (nonce) => ({ puts: `${base}:stage:${nonce}:puts`, deletes: `${base}:stage:${nonce}:deletes` }),
  }
}

/** The pattern (for SCAN MATCH) of every key of every store of `applicationId`. */
export function applicationKeyPattern(prefix: string, applicationId: string): string {
  return `{${globEscape(escapeName(prefix))}:${globEscape(escapeName(applicationId))}:*`
}

export function escapeName(name: string): string {
  return name.replace(/[%:{}]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`)
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (character) => `\\${character}`)
}
