import { describe, expect, it } from 'vitest'
import { bigtableMaxHeaderBytes, describeRowKey, escapeRowKeyPart, RowKeys } from '../src/row-keys.js'

const bytes = (...values: number[]) => Uint8Array.from(values)

describe('row keys', () => {
  it('puts data rows under <applicationId>/<store>/<partition>/ and the meta row beside them', () => {
    const rows = new RowKeys('orders-app', 'counts', 7)
    expect(rows.dataPrefix.toString()).toBe('orders-app/counts/7/')
    expect(rows.metaRowKey.toString()).toBe('orders-app/counts/7#meta')
    expect(rows.rowKey(bytes(0x61, 0x00, 0xff))).toEqual(
      Buffer.from([...Buffer.from('orders-app/counts/7/'), 0x61, 0x00, 0xff]),
    )
    expect(rows.keyOf(rows.rowKey(bytes(0x00, 0x01)))).toEqual(bytes(0x00, 0x01))
  })

  it('escapes "/", "#" and "%" in names, so that no prefix of one store partition is another one\'s', () => {
    expect(escapeRowKeyPart('a/b#c%d')).toBe('a%2Fb%23c%25d')
    // Without escaping, application "a/b" with store "c" and application "a" with store "b/c" would share rows.
    const first = new RowKeys('a/b', 'c', 1)
    const second = new RowKeys('a', 'b/c', 1)
    expect(first.dataPrefix.toString()).toBe('a%2Fb/c/1/')
    expect(second.dataPrefix.toString()).toBe('a/b%2Fc/1/')
    // Partition 1 and partition 10 of the same store: neither prefix starts the other.
    const one = new RowKeys('app', 'store', 1).dataPrefix.toString()
    const ten = new RowKeys('app', 'store', 10).dataPrefix.toString()
    expect(ten.startsWith(one)).toBe(false)
    expect(one.startsWith(ten)).toBe(false)
  })

  it('keeps every data row of a partition between its prefix and its end, and the meta row outside', () => {
    const rows = new RowKeys('app', 'store', 3)
    const keys = [bytes(), bytes(0x00), bytes(0xff, 0xff, 0xff), bytes(0x2f)]
    for (const key of keys) {
      const rowKey = rows.rowKey(key)
      expect(Buffer.compare(rows.dataPrefix, rowKey)).toBeLessThanOrEqual(0)
      expect(Buffer.compare(rowKey, rows.dataEnd)).toBeLessThan(0)
    }
    expect(Buffer.compare(rows.metaRowKey, rows.dataPrefix)).toBeLessThan(0)
    // Partition 30 sorts after the end of partition 3.
    expect(Buffer.compare(new RowKeys('app', 'store', 30).dataPrefix, rows.dataEnd)).toBeGreaterThan(0)
  })

  it('orders the rows of a partition as the keys: unsigned bytes, shorter first', () => {
    const rows = new RowKeys('app', 'store', 0)
    const keys = [bytes(0xff), bytes(0x00), bytes(0x00, 0x00), bytes(0x7f), bytes(0x80), bytes(0x01)]
    const byKey = [...keys].sort(Buffer.compare).map((key) => Buffer.from(key).toString('hex'))
    const byRow = keys
      .map((key) => rows.rowKey(key))
      .sort(Buffer.compare)
      .map((rowKey) => Buffer.from(rows.keyOf(rowKey)).toString('hex'))
    expect(byRow).toEqual(byKey)
  })

  it('describes a row key with printable ASCII as it is and other bytes as \\xHH', () => {
    expect(describeRowKey(Buffer.from([...Buffer.from('app/s/0/'), 0x00, 0x41, 0xff, 0x5c]))).toBe(
      'app/s/0/\\x00A\\xff\\x5c',
    )
    expect(describeRowKey(Buffer.alloc(500, 0x61))).toMatch(/… \(500 bytes\)$/)
    expect(bigtableMaxHeaderBytes).toBe(1024)
  })
})
