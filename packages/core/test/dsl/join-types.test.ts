// Type-level tests of the DSL's joins: `npm run typecheck` fails when a type below is wrong or a
// line marked @ts-expect-error compiles (a wrong joiner signature, a wrong key type in a join).
import { describe, expectTypeOf, it } from 'vitest'
import {
  joinWindows,
  type KStream,
  type KTable,
  StreamsBuilder,
  serdes,
  silentLogger,
} from '../../src/index.js'

interface Order {
  customer: string
  product: string
  amount: number
}
interface Customer {
  name: string
  region: string
}

describe('DSL join types', () => {
  it('joiners are typed by both sides; a missing row is null in left and outer joins', () => {
    const builder = new StreamsBuilder({ logger: silentLogger })
    const orders = builder.stream('orders', { key: serdes.string(), value: serdes.json<Order>() })
    const payments = builder.stream('payments', { key: serdes.string(), value: serdes.float64() })
    const customers = builder.table('customers', { key: serdes.string(), value: serdes.json<Customer>() })
    const products = builder.globalTable('products', { key: serdes.string(), value: serdes.float64() })
    const windows = joinWindows(1000)

    expectTypeOf(orders.join(payments, (order, paid) => order.amount - paid, windows)).toEqualTypeOf<
      KStream<string, number>
    >()
    orders.leftJoin(payments, (_order, paid) => expectTypeOf(paid).toEqualTypeOf<number | null>(), windows)
    orders.outerJoin(
      payments,
      (order, paid) => {
        expectTypeOf(order).toEqualTypeOf<Order | null>()
        expectTypeOf(paid).toEqualTypeOf<number | null>()
      },
      windows,
    )
    expectTypeOf(
      orders.join(customers, (order, customer) => `${order.amount}@${customer.region}`),
    ).toEqualTypeOf<KStream<string, string>>()
    orders.leftJoin(customers, (_order, customer) => expectTypeOf(customer).toEqualTypeOf<Customer | null>())
    expectTypeOf(
      orders.join(
        products,
        (_key, order) => order.product,
        (order, price) => order.amount * price,
      ),
    ).toEqualTypeOf<KStream<string, number>>()
    const regions = builder.table('regions', { key: serdes.string(), value: serdes.string() })
    expectTypeOf(customers.join(regions, (customer, region) => customer.name + region)).toEqualTypeOf<
      KTable<string, string>
    >()
    const orderTable = builder.table('order-table', { key: serdes.string(), value: serdes.json<Order>() })
    expectTypeOf(
      orderTable.join(
        customers,
        (order) => order.customer,
        (order, customer) => `${order.amount}@${customer.region}`,
      ),
    ).toEqualTypeOf<KTable<string, string>>()
  })

  it('a wrong joiner signature or a wrong key type is a compile error', () => {
    const builder = new StreamsBuilder({ logger: silentLogger })
    const orders = builder.stream('orders', { key: serdes.string(), value: serdes.json<Order>() })
    const customers = builder.table('customers', { key: serdes.string(), value: serdes.json<Customer>() })
    const byNumber = builder.table('by-number', { key: serdes.int32(), value: serdes.json<Customer>() })
    const numbered = builder.stream('numbered', { key: serdes.int32(), value: serdes.float64() })
    const products = builder.globalTable('products', { key: serdes.string(), value: serdes.float64() })

    // @ts-expect-error the table's value is a Customer, not a number
    orders.join(customers, (_order: Order, customer: number) => customer)
    // @ts-expect-error a left join may give null for the customer
    orders.leftJoin(customers, (_order, customer: Customer) => customer.name)
    // @ts-expect-error the table's key is a number, the stream's a string
    orders.join(byNumber, (order, customer) => order.amount + customer.name)
    // @ts-expect-error the other stream's key is a number
    orders.join(numbered, (order, value) => order.amount + value, joinWindows(10))
    // @ts-expect-error the key mapper must return the global table's key type (string)
    orders.join(
      products,
      (_key, order) => order.amount,
      (order, price) => order.amount * price,
    )
    // @ts-expect-error the foreign key must be the other table's key type (string)
    builder.table('t', { key: serdes.string(), value: serdes.json<Order>() }).join(
      customers,
      (order) => order.amount,
      (order) => order,
    )
  })

  it('the README joins example compiles and builds', () => {
    interface ShopOrder {
      id: string
      productId: string
      amount: number
    }
    const builder = new StreamsBuilder({ logger: silentLogger })
    const orders = builder.stream('orders', { key: serdes.string(), value: serdes.json<ShopOrder>() })
    const payments = builder.stream('payments', { key: serdes.string(), value: serdes.float64() })
    const customers = builder.table('customers', {
      key: serdes.string(),
      value: serdes.json<Customer>(),
      materialized: { as: 'customers' },
    })
    const products = builder.globalTable('products', {
      key: serdes.string(),
      value: serdes.json<{ name: string }>(),
      materialized: { as: 'products' },
    })
    const enriched = orders
      .leftJoin(
        payments,
        (order, paid) => ({ ...order, paid: paid ?? 0 }),
        joinWindows(600_000, { graceMs: 60_000 }),
        {
          named: 'order-payment',
        },
      )
      .join(customers, (order, customer) => ({ ...order, region: customer.region }), {
        named: 'order-customer',
      })
      .leftJoin(
        products,
        (_id, order) => order.productId,
        (order, product) => ({ ...order, product: product?.name ?? null }),
      )
    expectTypeOf(enriched).toEqualTypeOf<
      KStream<
        string,
        {
          product: string | null
          region: string
          paid: number
          id: string
          productId: string
          amount: number
        }
      >
    >()
    enriched.to('enriched', { value: serdes.json() })
    builder.build()
  })
})
