// The shop.v1.Order type of test/fixtures/shop.proto, its TypeScript shape under the serde's
// default toObject options, and the value an empty message reads as.
import { fileURLToPath } from 'node:url'
import { loadProtobufType } from '../src/index.js'

export const shopProto = fileURLToPath(new URL('./fixtures/shop.proto', import.meta.url))
export const pathsProto = fileURLToPath(new URL('./fixtures/paths.proto', import.meta.url))

export const orderType = loadProtobufType(shopProto, 'shop.v1.Order')
export const customerType = loadProtobufType(shopProto, 'shop.v1.Customer')

export interface Money {
  currency: string
  units: bigint
}

export interface Line {
  sku: string
  quantity: number
  price: Money | null
}

export interface Order {
  id: string
  totalCents: bigint
  sequence: bigint
  delta: bigint
  status: 'STATUS_UNSPECIFIED' | 'PLACED' | 'SHIPPED'
  lines: Line[]
  labels: Record<string, string>
  cardLast4?: string
  iban?: string
  signature: Uint8Array
  gift: boolean
  weight: number
  note?: string
  checkpoints: bigint[]
  featured: Line | null
}

export const orderDefaults: Order = {
  id: '',
  totalCents: 0n,
  sequence: 0n,
  delta: 0n,
  status: 'STATUS_UNSPECIFIED',
  lines: [],
  labels: {},
  signature: Buffer.alloc(0),
  gift: false,
  weight: 0,
  checkpoints: [],
  featured: null,
}
