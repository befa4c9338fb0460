import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { messagePath, parseProtoFile, typeAt } from '../src/message-indexes.js'

const paths = parseProtoFile(readFileSync(new URL('./fixtures/paths.proto', import.meta.url), 'utf8'))

describe('message indexes of a .proto file', () => {
  const cases: Array<[string, number[]]> = [
    ['paths.A', [0]],
    ['paths.A.A2', [0, 2]],
    ['paths.B', [1]],
    ['paths.C', [2]],
    ['paths.D', [3]],
    ['paths.D.D1.X4', [3, 1, 4]],
    ['paths.WithMap', [4]],
  ]

  it.each(cases)('place %s at %j, counting message types only', (name, indexes) => {
    expect(messagePath(paths, name)).toEqual({ indexes })
    expect(messagePath(paths, `.${name}`)).toEqual({ indexes })
    expect(typeAt(paths, indexes)).toEqual({ name })
  })

  it('report a nested message below a message with map fields as ambiguous', () => {
    expect(messagePath(paths, 'paths.WithMap.Inner')).toEqual({ ambiguousBelow: 'paths.WithMap' })
    expect(typeAt(paths, [4, 0])).toEqual({ ambiguousBelow: 'paths.WithMap' })
  })

  it('report names and paths that are not there', () => {
    expect(messagePath(paths, 'paths.Nope')).toEqual({ missing: true })
    expect(messagePath(paths, 'paths.Kind')).toEqual({ missing: true })
    expect(typeAt(paths, [9])).toEqual({ missing: true })
    expect(typeAt(paths, [1, 0])).toEqual({ missing: true })
    expect(typeAt(paths, [])).toEqual({ missing: true })
  })

  it('count only the file’s own messages, whatever it imports', () => {
    const shop = parseProtoFile(readFileSync(new URL('./fixtures/shop.proto', import.meta.url), 'utf8'))
    expect(messagePath(shop, 'shop.v1.Order')).toEqual({ indexes: [0] })
    expect(messagePath(shop, 'shop.v1.Customer')).toEqual({ indexes: [1] })
    expect(messagePath(shop, 'shop.v1.Money')).toEqual({ missing: true })
  })

  it('read files without a package', () => {
    const file = parseProtoFile('syntax = "proto3";\nmessage First {}\nmessage Second { message Deep {} }\n')
    expect(messagePath(file, 'Second.Deep')).toEqual({ indexes: [1, 0] })
    expect(typeAt(file, [0])).toEqual({ name: 'First' })
  })
})
