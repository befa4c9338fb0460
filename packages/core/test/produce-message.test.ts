// Records as the client gets them: header names are encoded once, yet a name repeated within one
// record stays two headers (the client's headers are a Map keyed by Buffer).
import { expect, it } from 'vitest'
import { toMessage } from '../src/kafka/platformatic-kafka-port.js'

it('keeps repeated header names apart and null header values empty', () => {
  const bytes = (text: string) => new TextEncoder().encode(text)
  const record = {
    topic: 't',
    partition: 0,
    key: bytes('k'),
    value: null,
    timestamp: 5,
    headers: [
      ['trace', bytes('1')],
      ['trace', bytes('2')],
      ['empty', null],
    ] as Array<[string, Uint8Array | null]>,
  }
  const first = toMessage(record)
  const second = toMessage(record)
  const texts = (message: typeof first) =>
    [...(message.headers as Map<Buffer, Buffer>)].map(
      ([name, value]) => `${name.toString()}=${value.toString()}`,
    )
  expect(texts(first)).toEqual(['trace=1', 'trace=2', 'empty='])
  expect(texts(second)).toEqual(['trace=1', 'trace=2', 'empty='])
  expect(first.value).toBeUndefined()
  expect(first.timestamp).toBe(5n)
})

it('sends the bytes of every kind of view: a small array (copied), a larger one, a view at an offset', () => {
  const small = Uint8Array.of(1, 2, 3, 4)
  const large = new Uint8Array(200).map((_, index) => index)
  const backing = new Uint8Array(40).map((_, index) => 100 + index)
  const view = backing.subarray(5, 25)
  for (const bytes of [small, large, view, Buffer.from(view)]) {
    const message = toMessage({ topic: 't', partition: 0, key: bytes, value: bytes, timestamp: 1 })
    expect(Buffer.isBuffer(message.key)).toBe(true)
    expect([...(message.key as Buffer)]).toEqual([...bytes])
    expect([...(message.value as Buffer)]).toEqual([...bytes])
  }
})
