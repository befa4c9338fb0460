// A record schema with every kind of Avro type, its TypeScript shape, and a value of it.
const address = {
  type: 'record',
  name: 'Address',
  fields: [
    { name: 'street', type: 'string' },
    { name: 'zip', type: 'int' },
  ],
}

const card = { type: 'record', name: 'Card', fields: [{ name: 'last4', type: 'string' }] }
const iban = { type: 'record', name: 'Iban', fields: [{ name: 'country', type: 'string' }] }

export const userSchema = {
  type: 'record',
  name: 'User',
  namespace: 'com.example',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'name', type: 'string' },
    { name: 'nickname', type: ['null', 'string'], default: null },
    { name: 'role', type: { type: 'enum', name: 'Role', symbols: ['ADMIN', 'MEMBER', 'GUEST'] } },
    { name: 'tags', type: { type: 'array', items: 'string' } },
    { name: 'scores', type: { type: 'map', values: 'double' } },
    { name: 'address', type: address },
    { name: 'active', type: 'boolean' },
    { name: 'ratio', type: 'float' },
    { name: 'avatar', type: 'bytes' },
    { name: 'checksum', type: { type: 'fixed', name: 'Checksum', size: 4 } },
    { name: 'contact', type: ['string', 'int', 'null'] },
    { name: 'payment', type: [card, iban] },
  ],
}

export interface User {
  id: number
  name: string
  nickname: string | null
  role: 'ADMIN' | 'MEMBER' | 'GUEST'
  tags: string[]
  scores: Record<string, number>
  address: { street: string; zip: number }
  active: boolean
  ratio: number
  avatar: Buffer
  checksum: Buffer
  // Distinguishable branches are plain values; ambiguous ones (two records) are wrapped.
  contact: string | number | null
  payment: { 'com.example.Card': { last4: string } } | { 'com.example.Iban': { country: string } }
}

export const alice: User = {
  id: 2 ** 40,
  name: 'Alice',
  nickname: null,
  role: 'ADMIN',
  tags: ['a', 'b'],
  scores: { math: 1.5, art: -2 },
  address: { street: 'Main St', zip: 12345 },
  active: true,
  ratio: 0.5,
  avatar: Buffer.from([1, 2, 3]),
  checksum: Buffer.from([9, 8, 7, 6]),
  contact: 42,
  payment: { 'com.example.Card': { last4: '4242' } },
}
