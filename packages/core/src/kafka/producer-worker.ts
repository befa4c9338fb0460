// The producer thread's entry (see worker-producer.ts): a PlatformaticProducer exactly as the
// main thread would build it, fed with the batches WorkerProducer packs. Batches arrive in the
// order they were sent and are handed to the producer in that order, which keeps them in order.
import { type MessagePort, parentPort, workerData } from 'node:worker_threads'
import { ConnectivityTracker } from './platformatic-connectivity.js'
import { createThreadProducer } from './platformatic-kafka-port.js'
import { unpackRecords } from './produce-batch-codec.js'
import {
  type FromProducerThread,
  type ProducerWorkerData,
  serializeError,
  type ToProducerThread,
} from './producer-thread-protocol.js'

/**
 * The outage tracker of the thread: its own view (the producer reads the last error from it for
 * its delivery timeout message), and every report passed on to the port's tracker on the main
 * thread, which the runtime watches.
 */
class ForwardingTracker extends ConnectivityTracker {
  readonly #port: MessagePort

  constructor(servers: string[], port: MessagePort) {
    super(servers)
    this.#port = port
  }

  override reachable(): void {
    super.reachable()
    post(this.#port, { type: 'reachable' })
  }

  override unreachable(error: unknown, now = Date.now()): void {
    super.unreachable(error, now)
    post(this.#port, {
      type: 'unreachable',
      message: error instanceof Error ? error.message : String(error),
      now,
    })
  }
}

function post(port: MessagePort, message: FromProducerThread): void {
  port.postMessage(message)
}

function run(port: MessagePort, data: ProducerWorkerData): void {
  const tracker = new ForwardingTracker(data.port.bootstrapServers, port)
  const producer = createThreadProducer(data.port, data.producer, tracker)
  port.on('message', (message: ToProducerThread) => {
    if (message.type === 'send') {
      const { id, batch } = message
      producer.send(unpackRecords(batch)).then(
        // Acknowledged: the client is done with the records (views of `batch`), so the buffer can
        // go back to be packed again. A failed send keeps it: past a delivery timeout the client
        // may still be retrying with those very bytes.
        (offsets) =>
          port.postMessage({ type: 'sent', id, offsets, batch } satisfies FromProducerThread, [batch]),
        (error: unknown) => post(port, { type: 'failed', id, error: serializeError(error) }),
      )
      return
    }
    producer.close().then(
      () => post(port, { type: 'closed' }),
      (error: unknown) => post(port, { type: 'closed', error: serializeError(error) }),
    )
  })
}

if (parentPort === null) {
  throw new Error('producer-worker.js is the entry of kstreams’ producer thread, not a module to import')
}
run(parentPort, workerData as ProducerWorkerData)
