// Acknowledged commits on librdkafka: its asynchronous commit reports each result through
// `offset_commit_cb`, with the offsets the commit carried; the pending commit with the same
// offsets settles (the oldest one when none matches exactly: results come in request order).
import { type CommitRequest, KafkaError, topicPartitionKey } from '@kstreams/core'
import type { BindingError, BindingTopicPartition } from './binding.js'
import { Codes, toKafkaError } from './librdkafka-errors.js'

interface PendingCommit {
  signature: string
  resolve(): void
  reject(error: Error): void
  timer: NodeJS.Timeout
}

function signature(offsets: ReadonlyArray<{ topic: string; partition: number; offset?: number }>): string {
  return offsets
    .map(({ topic, partition, offset }) => `${topicPartitionKey(topic, partition)}@${offset}`)
    .sort()
    .join(',')
}

export class CommitTracker {
  readonly #pending: PendingCommit[] = []

  /** Hands `offsets` to `commit` and resolves when the broker acknowledged them, or `timeoutMs` passed. */
  commit(
    offsets: CommitRequest[],
    timeoutMs: number,
    commit: (list: BindingTopicPartition[]) => void,
  ): Promise<void> {
    const list = offsets.map(({ topic, partition, offset, metadata }) => ({
      topic,
      partition,
      offset: Number(offset),
      ...(metadata !== null ? { metadata } : {}),
    }))
    return new Promise<void>((resolve, reject) => {
      const pending: PendingCommit = {
        signature: signature(list),
        resolve,
        reject,
        timer: setTimeout(() => {
          if (this.#remove(pending)) {
            reject(
              new KafkaError(`the commit was not acknowledged within ${timeoutMs} ms`, { retriable: true }),
            )
          }
        }, timeoutMs),
      }
      this.#pending.push(pending)
      try {
        commit(list)
      } catch (error) {
        this.#remove(pending)
        reject(toKafkaError('committing failed', error as BindingError))
      }
    })
  }

  /** librdkafka's `offset_commit_cb`. */
  settled(error: BindingError | undefined | null, offsets: BindingTopicPartition[] | undefined): void {
    const key = signature(offsets ?? [])
    const pending = this.#pending.find((candidate) => candidate.signature === key) ?? this.#pending[0]
    if (!pending || !this.#remove(pending)) return
    const failed =
      error && error.code !== Codes.NO_OFFSET ? error : offsets?.find((entry) => entry.error)?.error
    if (failed && failed.code !== Codes.NO_OFFSET) pending.reject(toKafkaError('committing failed', failed))
    else pending.resolve()
  }

  rejectAll(reason: string): void {
    for (const pending of this.#pending.splice(0)) {
      clearTimeout(pending.timer)
      pending.reject(new KafkaError(reason))
    }
  }

  #remove(pending: PendingCommit): boolean {
    const index = this.#pending.indexOf(pending)
    if (index < 0) return false
    this.#pending.splice(index, 1)
    clearTimeout(pending.timer)
    return true
  }
}
