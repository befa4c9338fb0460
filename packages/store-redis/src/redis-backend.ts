// A remote, durable backend on Redis. Writes are buffered per task and written down at flush, in one
// atomic script together with the commit point and guarded by the task's ownership token, so Redis
// always holds the state of a commit (or, after an early write-down, a later one), never part of one,
// and a zombie owner cannot overwrite its successor's state.
import { randomUUID } from 'node:crypto'
import {
  type BackendCapabilities,
  type BackendContext,
  type BackendEntry,
  type BackendRangeOptions,
  type BackendWrite,
  type CommitPoint,
  FencedError,
  type OwnershipToken,
  type StoreBackend,
  type StoreBackendFactory,
  StoreError,
} from '@kstreams/core'
import { isRetriable, RedisConnection } from './redis-connection.js'
import { type StoreKeys, storeKeys } from './redis-keys.js'
import { applyScript, claimScript, countScript, rangeScript } from './redis-scripts.js'
import {
  type RedisStoreOptions,
  type ResolvedRedisStoreOptions,
  resolveOptions,
} from './redis-store-options.js'
import { type BufferedWrite, WriteBuffer } from './write-buffer.js'

const capabilities: BackendCapabilities = Object.freeze({ persistent: true, reverseRange: true })

// Staging keys of a flush that never finished (the process died) expire by themselves.
const stageExpiryMs = 60 * 60 * 1000
const rangePageBytes = 4 * 1024 * 1024
const getManyChunkKeys = 1000

export class RedisBackend implements StoreBackend {
  readonly contractVersion = 1 as const
  readonly capabilities = capabilities
  readonly #connection: RedisConnection
  readonly #context: BackendContext
  readonly #options: ResolvedRedisStoreOptions
  readonly #keys: StoreKeys
  readonly #token: OwnershipToken
  // Writes not yet sent; and the ones a write-down is sending now (reads still see them).
  #buffer = new WriteBuffer()
  #sending: WriteBuffer | undefined
  // Write-downs (flushes and early ones) run one at a time, in the order they were asked for.
  #writeDowns: Promise<void> = Promise.resolve()
  #fenced: FencedError | undefined
  #closing: Promise<void> | undefined

  private constructor(
    connection: RedisConnection,
    context: BackendContext,
    options: ResolvedRedisStoreOptions,
  ) {
    this.#connection = connection
    this.#context = context
    this.#options = options
    this.#keys = storeKeys(options.keyPrefix, context.applicationId, context.storeName, context.partition)
    this.#token = context.ownership
  }

  /**
   * Connects (sharing the factory's client) and claims the store of this task for its owner.
   * @throws FencedError when Redis names a newer owner of the task
   * @throws StoreError (retriable) when Redis stays unreachable for `unavailableTimeoutMs`
   */
  static async open(
    connection: RedisConnection,
    context: BackendContext,
    options: ResolvedRedisStoreOptions,
  ): Promise<RedisBackend> {
    connection.acquire()
    const backend = new RedisBackend(connection, context, options)
    try {
      await backend.#claim()
      return backend
    } catch (error) {
      await connection.release()
      throw error
    }
  }

  async #claim(): Promise<void> {
    const token = this.#token
    const reply = await this.#call(
      'open',
      undefined,
      (connection) =>
        connection.script(
          claimScript,
          [this.#keys.meta],
          [String(token.memberEpoch), token.memberId, token.taskId, String(Date.now())],
        ),
      true,
    )
    const [claimed, epoch, memberId, taskId] = reply as [number, Buffer, Buffer, Buffer]
    if (claimed !== 1) throw this.#fencedError('open', { epoch, memberId, taskId })
  }

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    const buffered = this.#lookup(key)
    if (buffered !== undefined) return copyOrMissing(buffered.value)
    const value = await this.#call(
      'get',
      key,
      (connection) => connection.client.hgetBuffer(this.#keys.data, toBuffer(key)),
      true,
    )
    return value ?? undefined
  }

  async getMany(keys: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    const values: Array<Uint8Array | undefined> = new Array(keys.length)
    const missing: number[] = []
    for (let index = 0; index < keys.length; index += 1) {
      const buffered = this.#lookup(keys[index]!)
      if (buffered === undefined) missing.push(index)
      else values[index] = copyOrMissing(buffered.value)
    }
    for (let start = 0; start < missing.length; start += getManyChunkKeys) {
      const chunk = missing.slice(start, start + getManyChunkKeys)
      const fields = chunk.map((index) => toBuffer(keys[index]!))
      const found = await this.#call(
        'getMany',
        fields[0],
        (connection) => connection.client.hmgetBuffer(this.#keys.data, ...fields),
        true,
      )
      for (let position = 0; position < chunk.length; position += 1) {
        values[chunk[position]!] = found[position] ?? undefined
      }
    }
    return values
  }

  async write(batch: readonly BackendWrite[]): Promise<void> {
    const buffer = this.#buffer
    // Copies: callers reuse their arrays as soon as write() returned.
    for (const { key, value } of batch)
      buffer.set(Buffer.from(key), value === null ? null : Buffer.from(value))
    if (this.#buffer.bytes > this.#options.maxBufferBytes) {
      // Memory stays bounded: write the buffer down now (without a commit point), waiting for an
      // unreachable Redis up to unavailableTimeoutMs.
      await this.#writeDown(undefined, 'write')
    }
  }

  async *range(options: BackendRangeOptions = {}): AsyncGenerator<BackendEntry> {
    const { from, to } = options
    const reverse = options.reverse === true
    if (from !== undefined && to !== undefined && Buffer.compare(from, to) >= 0) return
    const buffered = this.#bufferedBetween(from, to, reverse)
    let bufferedIndex = 0
    const before = (left: Buffer, right: Buffer) =>
      reverse ? Buffer.compare(left, right) > 0 : Buffer.compare(left, right) < 0
    // The Redis side, page by page: each page starts after the last key of the previous one, so a
    // write between pages never makes the scan repeat or skip a key it did not touch.
    let lower: Buffer = from === undefined ? Buffer.from('-') : Buffer.concat([Buffer.from('['), from])
    let upper: Buffer = to === undefined ? Buffer.from('+') : Buffer.concat([Buffer.from('('), to])
    let page: BackendEntry[] = []
    let pageIndex = 0
    let exhausted = false
    for (;;) {
      while (pageIndex >= page.length && !exhausted) {
        const next = await this.#rangePage(lower, upper, reverse)
        page = next.entries
        pageIndex = 0
        if (next.last === undefined) exhausted = true
        else {
          const after = Buffer.concat([Buffer.from('('), next.last])
          if (reverse) upper = after
          else lower = after
        }
      }
      const stored = pageIndex < page.length ? page[pageIndex] : undefined
      const pending = bufferedIndex < buffered.length ? buffered[bufferedIndex] : undefined
      if (stored === undefined && pending === undefined) return
      if (pending !== undefined && (stored === undefined || !before(stored.key as Buffer, pending.key))) {
        // The task's own write wins over what Redis has for the same key.
        if (stored !== undefined && Buffer.compare(stored.key, pending.key) === 0) pageIndex += 1
        bufferedIndex += 1
        if (pending.value !== null) yield { key: Buffer.from(pending.key), value: Buffer.from(pending.value) }
      } else {
        pageIndex += 1
        yield stored!
      }
    }
  }

  /** One page of Redis entries and the last key it covered (undefined: nothing left). */
  async #rangePage(
    lower: Buffer,
    upper: Buffer,
    reverse: boolean,
  ): Promise<{ entries: BackendEntry[]; last: Buffer | undefined }> {
    const pageKeys = String(this.#options.rangePageKeys)
    const reply = (await this.#call(
      'range',
      undefined,
      (connection) =>
        connection.script(
          rangeScript,
          [this.#keys.index, this.#keys.data],
          reverse
            ? [upper, lower, pageKeys, '1', String(rangePageBytes)]
            : [lower, upper, pageKeys, '0', String(rangePageBytes)],
        ),
      true,
    )) as Array<Buffer | null>
    const entries: BackendEntry[] = []
    for (let index = 0; index < reply.length; index += 2) {
      const value = reply[index + 1]
      // A key without a value (the scripts never leave one) is skipped; the cursor still passes it.
      if (value !== null && value !== undefined) entries.push({ key: reply[index]!, value })
    }
    return { entries, last: reply.length === 0 ? undefined : (reply[reply.length - 2] ?? undefined) }
  }

  async approximateCount(): Promise<number> {
    const writes = this.#bufferedBetween(undefined, undefined, false)
    if (writes.length === 0) {
      return await this.#call(
        'approximateCount',
        undefined,
        (connection) => connection.client.hlen(this.#keys.data),
        true,
      )
    }
    let length = 0
    let change = 0
    for (let start = 0; start < writes.length; start += this.#options.flushChunkKeys) {
      const chunk = writes.slice(start, start + this.#options.flushChunkKeys)
      const puts = chunk.filter((write) => write.value !== null).map((write) => write.key)
      const deletes = chunk.filter((write) => write.value === null).map((write) => write.key)
      const reply = (await this.#call(
        'approximateCount',
        undefined,
        (connection) =>
          connection.script(countScript, [this.#keys.data], [String(puts.length), ...puts, ...deletes]),
        true,
      )) as [number, number]
      length = reply[0]
      change += reply[1]
    }
    return length + change
  }

  /**
   * Writes the buffer down together with `commitPoint`, in one atomic step that first checks that
   * Redis still names this owner.
   * @throws FencedError when a newer owner claimed the task
   * @throws StoreError (retriable) when Redis is unreachable; the buffer is kept for the next flush
   */
  async flush(commitPoint?: CommitPoint): Promise<void> {
    await this.#writeDown(commitPoint, 'flush')
  }

  async changelogCheckpoint(): Promise<bigint | undefined> {
    if (this.#context.changelogTopic === undefined) return undefined
    const offset = await this.#call(
      'changelogCheckpoint',
      undefined,
      (connection) => connection.client.hget(this.#keys.meta, 'changelogOffset'),
      true,
    )
    return offset === null ? undefined : BigInt(offset)
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      // A write-down in progress ends first; unflushed writes are dropped (as with a crash: the
      // input they came from was not committed and is processed again).
      await this.#writeDowns.catch(() => {})
      await this.#connection.release()
    })()
    return this.#closing
  }

  #lookup(key: Uint8Array): BufferedWrite | undefined {
    return this.#buffer.lookup(key) ?? this.#sending?.lookup(key)
  }

  /** The buffered writes (newest per key) with keys in `[from, to)`, in scan order. */
  #bufferedBetween(
    from: Uint8Array | undefined,
    to: Uint8Array | undefined,
    reverse: boolean,
  ): BufferedWrite[] {
    const newer = this.#buffer.between(from, to, reverse)
    const sending = this.#sending
    if (sending === undefined || sending.size === 0) return newer
    const older = sending.between(from, to, reverse)
    const merged: BufferedWrite[] = []
    let newerIndex = 0
    let olderIndex = 0
    const direction = reverse ? -1 : 1
    while (newerIndex < newer.length || olderIndex < older.length) {
      const left = newer[newerIndex]
      const right = older[olderIndex]
      const order =
        left === undefined ? 1 : right === undefined ? -1 : Buffer.compare(left.key, right.key) * direction
      if (order <= 0) {
        merged.push(left!)
        newerIndex += 1
        if (order === 0) olderIndex += 1
      } else {
        merged.push(right!)
        olderIndex += 1
      }
    }
    return merged
  }

  /** Queues a write-down of everything buffered so far (after the ones already queued). */
  #writeDown(commitPoint: CommitPoint | undefined, operation: 'flush' | 'write'): Promise<void> {
    const run = this.#writeDowns.then(() => this.#sendBuffer(commitPoint, operation))
    this.#writeDowns = run.catch(() => {})
    return run
  }

  async #sendBuffer(commitPoint: CommitPoint | undefined, operation: 'flush' | 'write'): Promise<void> {
    if (this.#fenced !== undefined) throw this.#fenced
    const writes = this.#buffer
    if (writes.size === 0 && commitPoint === undefined) return
    if (operation === 'write' && writes.bytes <= this.#options.maxBufferBytes) return
    this.#buffer = new WriteBuffer()
    this.#sending = writes
    try {
      await this.#apply(writes, commitPoint, operation)
    } catch (error) {
      // Nothing is lost: the writes go back under the ones buffered since, for the next flush.
      this.#buffer.restoreUnder(writes)
      throw error
    } finally {
      this.#sending = undefined
    }
  }

  async #apply(
    writes: WriteBuffer,
    commitPoint: CommitPoint | undefined,
    operation: 'flush' | 'write',
  ): Promise<void> {
    const puts: Buffer[] = []
    const deletes: Buffer[] = []
    for (const { key, value } of writes.writes()) {
      if (value === null) deletes.push(key)
      else puts.push(key, value)
    }
    const owner = [String(this.#token.memberEpoch), this.#token.memberId]
    const changelog =
      commitPoint === undefined || this.#context.changelogTopic === undefined
        ? undefined
        : commitPoint.changelogs.find(
            (entry) =>
              entry.topic === this.#context.changelogTopic && entry.partition === this.#context.partition,
          )
    const meta = metaFields(commitPoint, changelog?.offset)
    // A flush does not wait for an unreachable Redis (the runtime flushes again at the next commit);
    // an early write-down holds the write that needs room, up to unavailableTimeoutMs.
    const waitMs = operation === 'flush' ? 0 : this.#options.unavailableTimeoutMs
    const first = writes.size === 0 ? undefined : writes.writes().next().value?.key
    const what =
      first === undefined
        ? 'the commit point (no changed keys)'
        : `${writes.size} changed key(s), the first ${describeKey(first)}`
    const stage = this.#keys.stage(randomUUID())
    const keys = [this.#keys.meta, this.#keys.data, this.#keys.index, stage.puts, stage.deletes]
    let args: Array<string | Buffer>
    if (writes.size <= this.#options.flushChunkKeys) {
      args = [...owner, '0', String(puts.length / 2), String(meta.length / 2), ...meta, ...puts, ...deletes]
    } else {
      await this.#call(operation, what, (connection) => this.#stage(connection, stage, puts, deletes), waitMs)
      args = [...owner, '1', '0', String(meta.length / 2), ...meta]
    }
    const reply = (await this.#call(
      operation,
      what,
      (connection) => connection.script(applyScript, keys, args),
      waitMs,
    )) as [number, Buffer?, Buffer?, Buffer?]
    if (reply[0] !== 1) {
      this.#fenced = this.#fencedError(operation, { epoch: reply[1], memberId: reply[2], taskId: reply[3] })
      throw this.#fenced
    }
  }

  /** Sends the writes of a large flush to staging keys, in chunks; the apply script moves them. */
  async #stage(
    connection: RedisConnection,
    stage: { puts: string; deletes: string },
    puts: Buffer[],
    deletes: Buffer[],
  ): Promise<void> {
    const chunk = this.#options.flushChunkKeys
    const pipeline = connection.client.pipeline()
    for (let start = 0; start < puts.length; start += chunk * 2) {
      pipeline.hset(stage.puts, ...puts.slice(start, start + chunk * 2))
    }
    for (let start = 0; start < deletes.length; start += chunk) {
      pipeline.sadd(stage.deletes, ...deletes.slice(start, start + chunk))
    }
    pipeline.pexpire(stage.puts, stageExpiryMs)
    pipeline.pexpire(stage.deletes, stageExpiryMs)
    const results = (await pipeline.exec()) ?? []
    for (const [error] of results) if (error) throw error
  }

  /** Runs a command against Redis, turning its failures into StoreErrors that name what failed. */
  async #call<T>(
    operation: string,
    key: Uint8Array | string | undefined,
    command: (connection: RedisConnection) => Promise<T>,
    wait: boolean | number,
  ): Promise<T> {
    const waitMs = wait === true ? this.#options.unavailableTimeoutMs : wait === false ? 0 : wait
    try {
      return await this.#connection.run(() => command(this.#connection), waitMs)
    } catch (cause) {
      throw this.#storeError(operation, key, cause)
    }
  }

  #where(): string {
    const context = this.#context
    return `Redis store "${context.storeName}" of task ${context.taskId} (application "${context.applicationId}", keys ${this.#keys.base}…)`
  }

  #storeError(operation: string, key: Uint8Array | string | undefined, cause: unknown): StoreError {
    const retriable = isRetriable(cause)
    const message = cause instanceof Error ? cause.message : String(cause)
    // ioredis' words for "not connected now" (its offline queue is off on purpose).
    const reason = message.includes('enableOfflineQueue') ? 'not connected' : message
    const connectionReason = this.#connection.lastError?.message
    const what =
      key === undefined
        ? operation
        : typeof key === 'string'
          ? `${operation} of ${key}`
          : `${operation} of key ${describeKey(key)}`
    const text = retriable
      ? `${this.#where()}: ${what} failed: Redis at ${this.#connection.where} is unreachable (${reason}${connectionReason !== undefined && connectionReason !== reason ? `; ${connectionReason}` : ''})`
      : `${this.#where()}: ${what} failed: ${reason}`
    return new StoreError(text, {
      cause,
      retriable,
      context: {
        store: this.#context.storeName,
        taskId: this.#context.taskId,
        partition: this.#context.partition,
        operation,
        ...(key === undefined ? {} : { key: typeof key === 'string' ? key : describeKey(key) }),
      },
    })
  }

  #fencedError(
    operation: string,
    stored: { epoch?: Buffer | undefined; memberId?: Buffer | undefined; taskId?: Buffer | undefined },
  ): FencedError {
    const token = this.#token
    const storedEpoch = stored.epoch?.toString() ?? ''
    const storedMember = stored.memberId?.toString() ?? ''
    const storedTask = stored.taskId?.toString() ?? ''
    const theirs =
      storedEpoch === ''
        ? 'no owner (its owner record was deleted)'
        : `member "${storedMember}" epoch ${storedEpoch} (task ${storedTask})`
    return new FencedError(
      `${this.#where()}: ${operation} refused: the task is owned by ${theirs}, this instance holds the older token member "${token.memberId}" epoch ${token.memberEpoch}`,
      {
        context: {
          store: this.#context.storeName,
          taskId: this.#context.taskId,
          partition: this.#context.partition,
          operation,
          memberId: token.memberId,
          memberEpoch: token.memberEpoch,
          storedMemberId: storedMember,
          storedMemberEpoch: storedEpoch === '' ? undefined : Number(storedEpoch),
        },
      },
    )
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function copyOrMissing(value: Buffer | null): Uint8Array | undefined {
  return value === null ? undefined : Buffer.from(value)
}

/** A key for messages: hex, cut after 64 bytes, with its text when it is printable. */
function describeKey(key: Uint8Array): string {
  const bytes = toBuffer(key)
  const shown = bytes.subarray(0, 64)
  const hex = `0x${shown.toString('hex')}${bytes.length > 64 ? `… (${bytes.length} bytes)` : ''}`
  const text = shown.toString('utf8')
  return /^[\x20-\x7e]*$/.test(text) ? `"${text}"${bytes.length > 64 ? '…' : ''} (${hex})` : hex
}

/**
 * The meta fields a flush writes: the time, and per input partition with progress its commit point
 * (`input:<topic>:<partition>`, JSON with the offsets as strings), and the changelog offset. A
 * commit point names only the inputs that moved since the previous one, so each input keeps its
 * own field and the last position of an input that did not move stays.
 */
function metaFields(commitPoint: CommitPoint | undefined, changelogOffset: bigint | undefined): string[] {
  const fields = ['flushedAt', String(Date.now())]
  for (const input of commitPoint?.inputs ?? []) {
    fields.push(
      inputField(input.topic, input.partition),
      JSON.stringify({
        topic: input.topic,
        partition: input.partition,
        offset: input.offset.toString(),
        completed: input.completed.map((offset) => offset.toString()),
        streamTime: input.streamTime,
        memberId: commitPoint!.ownership.memberId,
        memberEpoch: commitPoint!.ownership.memberEpoch,
      }),
    )
  }
  if (changelogOffset !== undefined) fields.push('changelogOffset', changelogOffset.toString())
  return fields
}

/** The meta field holding the commit point of one input partition. */
export function inputField(topic: string, partition: number): string {
  return `input:${topic}:${partition}`
}

/**
 * Redis backends: each store of each task keeps its data in Redis under
 * `{<keyPrefix>:<applicationId>:<store>:<partition>}:data|index|meta`, buffered per task and written
 * atomically with the commit point at each commit. One client per factory is shared by its backends.
 *
 * @example
 * stores.keyValue('counts', {
 *   keySerde: serdes.string(),
 *   valueSerde: serdes.int64(),
 *   backend: createRedisBackend({ url: 'redis://127.0.0.1:6379' }),
 *   logging: false,
 * })
 */
export function createRedisBackend(options: RedisStoreOptions = {}): StoreBackendFactory {
  const resolved = resolveOptions(options)
  const connection = new RedisConnection(resolved)
  return {
    name: 'redis',
    persistent: true,
    open: (context) => RedisBackend.open(connection, context, resolved),
  }
}
