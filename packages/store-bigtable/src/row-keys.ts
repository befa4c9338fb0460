// Where a store's rows live in the table. One table holds many applications, stores and
// partitions side by side, so every row key starts with a header that names them:
//
//   data row   <applicationId>/<store>/<partition>/<key bytes>
//   meta row   <applicationId>/<store>/<partition>#meta
//
// The application id and the store name are percent-escaped ('%', '/' and '#' become %25, %2F and
// %23), so neither contains a '/' of its own: the first three '/' of a data row key end the three
// parts, and no header is a prefix of another one. Inside a partition the rows sort by the key
// bytes that follow the header, which is the unsigned byte order (shorter first) of the keys.

/** Bigtable refuses row keys longer than 4 KiB. */
export const bigtableMaxRowKeyBytes = 4096

/**
 * The longest store key accepted, in bytes: the row key limit minus what the header may take
 * (`bigtableMaxHeaderBytes`). The same for every store, so that capabilities do not depend on names.
 */
export const bigtableMaxKeyBytes = 3072

/** The longest header (application id, store name and partition, escaped) a store may have. */
export const bigtableMaxHeaderBytes = bigtableMaxRowKeyBytes - bigtableMaxKeyBytes

/** `text` with '%', '/' and '#' percent-escaped, as the header of a row key spells it. */
export function escapeRowKeyPart(text: string): string {
  return text.replace(/[%/#]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** The row keys of one store of one partition. */
export class RowKeys {
  /** `<applicationId>/<store>/<partition>/`: every data row of this store and partition starts with it. */
  readonly dataPrefix: Buffer
  /** `<applicationId>/<store>/<partition>#meta`: the commit point and the owner of this partition. */
  readonly metaRowKey: Buffer
  /** The first row key after every data row: the exclusive end of a scan of the whole partition. */
  readonly dataEnd: Buffer

  constructor(applicationId: string, storeName: string, partition: number) {
    const header = `${escapeRowKeyPart(applicationId)}/${escapeRowKeyPart(storeName)}/${partition}`
    this.dataPrefix = Buffer.from(`${header}/`, 'utf8')
    this.metaRowKey = Buffer.from(`${header}#meta`, 'utf8')
    // The prefix ends in '/', so the next prefix is the same header followed by '0' ('/' + 1).
    this.dataEnd = Buffer.from(`${header}0`, 'utf8')
  }

  /** The data row of `key`. */
  rowKey(key: Uint8Array): Buffer {
    return Buffer.concat([this.dataPrefix, key])
  }

  /** The store key of a data row of this partition. */
  keyOf(rowKey: Uint8Array): Uint8Array {
    // A plain Uint8Array copy: callers keep it, and Buffer would compare unequal to their keys in tests.
    return new Uint8Array(rowKey.subarray(this.dataPrefix.length))
  }
}

/**
 * A row key as a person reads it in an error message: printable ASCII as it is, every other byte
 * as \xHH, cut after 200 characters.
 */
export function describeRowKey(rowKey: Uint8Array): string {
  let text = ''
  for (const byte of rowKey) {
    if (text.length >= 200) return `${text}… (${rowKey.length} bytes)`
    text +=
      byte >= 0x20 && byte < 0x7f && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, '0')}`
  }
  return text
}
