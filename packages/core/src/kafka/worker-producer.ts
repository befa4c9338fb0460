// The producer on a thread of its own (`producerThread`): the record batch encoding, CRC32C,
// socket writes and response parsing of @platformatic/kafka take a fifth to a third of the main
// thread's CPU under load; as the sender of the Java producer, they run on another thread here.
// The thread runs the same PlatformaticProducer as the main thread would (idempotence, retries,
// order of sends, delivery timeout, error classification); this side packs each batch into one
// transferred ArrayBuffer, rebuilds the thread's errors, and feeds the port's outage tracker.
import { Worker } from 'node:worker_threads'
import { KafkaError } from '../errors.js'
import type { ProducedOffset, ProduceRecord, ProducerPort } from './kafka-port.js'
import type { ConnectivityTracker } from './platformatic-connectivity.js'
import { packRecords } from './produce-batch-codec.js'
import {
  deserializeError,
  type FromProducerThread,
  type ProducerWorkerData,
  type ToProducerThread,
} from './producer-thread-protocol.js'

/**
 * The compiled worker entry, next to this module in dist (also in the installed package). Run
 * from the TypeScript sources (the package's own tests), this module's sibling is a .ts file that
 * Node cannot load with the sources' .js imports: the thread then runs the entry built in dist.
 */
export function producerWorkerUrl(from: string = import.meta.url): URL {
  return from.endsWith('.ts')
    ? new URL('../../dist/kafka/producer-worker.js', from)
    : new URL('./producer-worker.js', from)
}

/** Kept for reuse: as many as the record collector has sends in flight, and some. */
const MAX_POOLED_BUFFERS = 16
/** A batch is at most `batchMaxBytes` (900,000 by default); a rare larger one is not kept. */
const MAX_POOLED_BUFFER_BYTES = 4 * 1024 * 1024
/** Small batches get a buffer that later, larger ones can reuse. */
const MIN_BUFFER_BYTES = 64 * 1024

interface Pending {
  records: ProduceRecord[]
  resolve: (offsets: ProducedOffset[]) => void
  reject: (error: unknown) => void
}

export class WorkerProducer implements ProducerPort {
  readonly #worker: Worker
  readonly #connectivity: ConnectivityTracker
  /** Kept: the worker reports -1 once its thread has ended. */
  readonly #threadId: number
  readonly #pending = new Map<number, Pending>()
  /** Buffers of acknowledged sends, for the next batches (see #buffer). */
  readonly #free: ArrayBuffer[] = []
  #nextId = 1
  /** Why no send can be made any more: the thread died, or the producer was closed. */
  #stopped: string | undefined
  #closing: Promise<void> | undefined
  #onClosed: ((error: Error | undefined) => void) | undefined

  constructor(data: ProducerWorkerData, connectivity: ConnectivityTracker, entry: URL = producerWorkerUrl()) {
    this.#connectivity = connectivity
    this.#worker = new Worker(entry, {
      workerData: data,
      name: `kstreams producer ${data.producer.clientId}`,
    })
    this.#threadId = this.#worker.threadId
    // Idle, the thread does not keep the process alive; a send or close in progress does.
    this.#worker.unref()
    this.#worker.on('message', (message: FromProducerThread) => this.#receive(message))
    this.#worker.on('error', (error) => this.#died(`failed: ${error.message}`, error))
    this.#worker.on('messageerror', (error) =>
      this.#died(`sent an unreadable message: ${error.message}`, error),
    )
    this.#worker.on('exit', (code) => this.#died(`exited with code ${code}`))
  }

  /** The producer thread's id, for logs and tests. */
  get threadId(): number {
    return this.#threadId
  }

  send(records: ProduceRecord[]): Promise<ProducedOffset[]> {
    if (records.length === 0) return Promise.resolve([])
    if (this.#stopped !== undefined) return Promise.reject(this.#failure(records, this.#stopped))
    let batch: ArrayBuffer
    try {
      batch = packRecords(records, (bytes) => this.#buffer(bytes))
    } catch (error) {
      return Promise.reject(error)
    }
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref()
      this.#pending.set(id, { records, resolve, reject })
      this.#post({ type: 'send', id, batch }, [batch])
    })
  }

  /** Closes the thread's producer (in order, after every send made before), then ends the thread. */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    if (this.#stopped !== undefined) return
    this.#worker.ref()
    const closed = new Promise<Error | undefined>((resolve) => {
      this.#onClosed = resolve
    })
    this.#post({ type: 'close' })
    const error = await closed
    this.#stop('was closed')
    await this.#worker.terminate()
    if (error) throw error
  }

  /**
   * A buffer of at least `bytes` for the next batch: one the thread handed back, or a new one.
   * Reusing them spares allocating (and zero-filling) up to a megabyte per send on this thread
   * and freeing it on the other.
   */
  #buffer(bytes: number): ArrayBuffer {
    const free = this.#free
    for (let index = free.length - 1; index >= 0; index -= 1) {
      if (free[index]!.byteLength >= bytes) return free.splice(index, 1)[0]!
    }
    return new ArrayBuffer(Math.max(bytes, MIN_BUFFER_BYTES))
  }

  #recycle(buffer: ArrayBuffer): void {
    if (buffer.byteLength > MAX_POOLED_BUFFER_BYTES) return
    if (this.#free.length >= MAX_POOLED_BUFFERS) this.#free.shift()
    this.#free.push(buffer)
  }

  #post(message: ToProducerThread, transfer: ArrayBuffer[] = []): void {
    this.#worker.postMessage(message, transfer)
  }

  #receive(message: FromProducerThread): void {
    switch (message.type) {
      case 'sent':
        this.#recycle(message.batch)
        this.#settle(message.id)?.resolve(message.offsets)
        return
      case 'failed':
        this.#settle(message.id)?.reject(deserializeError(message.error))
        return
      case 'reachable':
        this.#connectivity.reachable()
        return
      case 'unreachable':
        this.#connectivity.unreachable(new Error(message.message), message.now)
        return
      case 'closed':
        this.#onClosed?.(message.error ? deserializeError(message.error) : undefined)
        return
    }
  }

  #settle(id: number): Pending | undefined {
    const pending = this.#pending.get(id)
    this.#pending.delete(id)
    if (this.#pending.size === 0 && this.#stopped === undefined) this.#worker.unref()
    return pending
  }

  /** The thread is gone: every send still waiting fails, and so does every later one. */
  #died(reason: string, cause?: unknown): void {
    if (this.#stopped !== undefined) return
    this.#stop(reason, cause)
    // A close waiting for the thread's answer gets none: the producer is closed all the same.
    this.#onClosed?.(undefined)
  }

  #stop(reason: string, cause?: unknown): void {
    this.#stopped ??= reason
    const pending = [...this.#pending.values()]
    this.#pending.clear()
    for (const { records, reject } of pending) reject(this.#failure(records, reason, cause))
  }

  #failure(records: ProduceRecord[], reason: string, cause?: unknown): KafkaError {
    const topics = [...new Set(records.map((record) => record.topic))].join(', ')
    return new KafkaError(
      `producing ${records.length} record(s) to ${topics} failed: the producer thread (thread ${this.#threadId}) ${reason} before the broker acknowledged them`,
      { cause, retriable: false, context: { topic: topics, thread: 'producer' } },
    )
  }
}
