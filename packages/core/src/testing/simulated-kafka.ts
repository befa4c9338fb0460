// An in-memory Kafka behind the Kafka port, for deterministic simulation: topics with partitions
// as arrays of records, one consumer group per group id that assigns and revokes (revoke awaited
// first, then assign), committed offsets with metadata, and producers whose acknowledgements come
// after seeded delays and may fail. Faults are injected through the cluster object (crash a
// process, crash it on its next commit, fence its members) and through the seeded options.
//
// Each `port()` is one simulated process: every client created from it dies with it, as a
// SIGKILL would take the whole process down. The runtime runs on real timers; the simulated
// delays stay in the low milliseconds so a run takes a fraction of a second.
import { FencedError, KafkaError } from '../errors.js'
import {
  type AdminPort,
  type BrokerConnectivity,
  type BrokerOutage,
  type CommitRequest,
  type FetchedBatch,
  type FetchedRecord,
  type GroupConsumer,
  type GroupConsumerOptions,
  type GroupListener,
  type KafkaPort,
  type OffsetAndMetadata,
  type PartitionReader,
  type ProducedOffset,
  type ProduceRecord,
  type ProducerOptions,
  type ProducerPort,
  type TopicDescription,
  type TopicPartition,
  topicPartitionKey,
} from '../kafka/kafka-port.js'
import { defaultPartition } from '../kafka/partitioner.js'
import { SeededRandom } from './seeded-random.js'

export interface SimulatedKafkaOptions {
  /** Seeds every random decision of the cluster (delays, which sends fail, crash outcomes). @default 1 */
  seed?: number
  /** Range of the delay before a send is acknowledged, in ms, drawn per send. @default [0, 2] */
  produceDelayMs?: readonly [number, number]
  /** Range of the delay of a commit and of a committed-offset fetch, in ms. @default [0, 1] */
  commitDelayMs?: readonly [number, number]
  /** Probability that a send fails with a retriable KafkaError, drawn per send. @default 0 */
  produceFailureRate?: number
  /** Sends that fail, by their number in the cluster (the first send of any producer is 0). */
  failSends?: Iterable<number>
  /** Probability that a failing send was written all the same (its acknowledgement was lost). @default 0.5 */
  lostAckRate?: number
  /** Records per partition in one poll at most. @default 200 */
  maxPollRecords?: number
  /** Broker configs the admin reports (`describeBrokerConfigs`). @default { 'offset.metadata.max.bytes': '4096' } */
  brokerConfigs?: Record<string, string>
}

/** What a record looks like when the test writes it straight into the cluster. */
export interface SimulatedRecord {
  key: Uint8Array | string | null
  value: Uint8Array | string | null
  partition?: number
  timestamp?: number
  headers?: ReadonlyArray<readonly [string, Uint8Array | null]>
}

/** One injected fault or membership change, in the order it happened. */
export interface SimulationEvent {
  /** Milliseconds since the cluster was created. */
  atMs: number
  kind:
    | 'join'
    | 'leave'
    | 'rebalance'
    | 'crash'
    | 'crash-on-commit'
    | 'fence'
    | 'produce-failure'
    | 'lost-ack'
    | 'violation'
  process?: string
  detail?: string
}

/** Counts of the faults injected so far, to show that a property run was not vacuous. */
export interface SimulationFaultCounts {
  crashes: number
  /** Crashes that happened inside a commit call: after the flush, before the offsets were stored. */
  crashesOnCommit: number
  fences: number
  produceFailures: number
  /** Failed sends whose records were written all the same. */
  lostAcks: number
  /** Rebalances (the group's epoch moved) while some member owned partitions. */
  rebalances: number
}

/** What a crash on commit dropped: the commit it refused and the group's offsets just before. */
export interface CommitCrash {
  process: string
  groupId: string
  atMs: number
  dropped: CommitRequest[]
  committedBefore: Map<string, OffsetAndMetadata | undefined>
}

/** A member as the group sees it, for assertions and diagnostics. */
export interface SimulatedMemberState {
  memberId: string
  memberEpoch: number
  process: string
  /** Partitions it fetches (assigned through `onAssigned`). */
  assigned: TopicPartition[]
  /** Partitions the assignor wants it to have. */
  target: TopicPartition[]
  /** True while it still revokes or assigns towards its target. */
  reconciling: boolean
}

export interface SimulatedGroupState {
  groupId: string
  epoch: number
  members: SimulatedMemberState[]
  /** Every member owns exactly its target and none is reconciling. */
  stable: boolean
}

const encoder = new TextEncoder()

function toBytes(value: Uint8Array | string | null): Uint8Array | null {
  return typeof value === 'string' ? encoder.encode(value) : value
}

function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

function sleep(milliseconds: number): Promise<void> {
  if (milliseconds <= 0) return nextMacrotask()
  return new Promise((resolve) => setTimeout(resolve, milliseconds))
}

function crashedError(process: string): KafkaError {
  return new KafkaError(`simulated process "${process}" crashed; its clients are dead`, { retriable: false })
}

function partitionKeyOf(partition: TopicPartition): string {
  return topicPartitionKey(partition.topic, partition.partition)
}

function parseKey(key: string): TopicPartition {
  const separator = key.lastIndexOf('\u0000')
  return { topic: key.slice(0, separator), partition: Number(key.slice(separator + 1)) }
}

interface SimulatedTopic {
  name: string
  partitions: FetchedRecord[][]
  configs: Record<string, string>
  nextNullKeyPartition: number
}

/** Wakes waiting polls when records arrive or assignments change. */
class Signal {
  readonly #waiters = new Set<() => void>()

  wait(milliseconds: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        this.#waiters.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, milliseconds)
      this.#waiters.add(wake)
    })
  }

  wake(): void {
    for (const wake of [...this.#waiters]) wake()
  }
}

/** One simulated OS process: the clients of one `port()`. */
class SimulatedProcess {
  readonly name: string
  crashed = false
  readonly consumers = new Set<SimulatedGroupConsumer>()
  readonly producers = new Set<SimulatedProducer>()
  crashOnCommit: { skip: number; resolve: (crash: CommitCrash) => void } | undefined

  constructor(name: string) {
    this.name = name
  }

  check(): void {
    if (this.crashed) throw crashedError(this.name)
  }
}

/** A port bound to one simulated process; pass it as `kafka` in the app's config. */
export interface SimulatedKafkaPort extends KafkaPort {
  /** The process name, as events and member states report it. */
  readonly processName: string
  readonly connectivity: BrokerConnectivity
}

/**
 * An in-memory Kafka cluster. Create topics, give each app instance its own `port()`, and inject
 * faults through `crash`, `crashOnNextCommit`, `fence` and the seeded options.
 *
 * @example
 * const kafka = new SimulatedKafka({ seed: 7, failSends: [40] })
 * kafka.createTopic('input', 4)
 * kafka.produce('input', [{ key: 'a', value: '1' }])
 * const port = kafka.port('instance-1')
 * const app = createApp(topology, { applicationId: 'app', bootstrapServers: ['sim:9092'], kafka: port })
 * await app.start()
 * kafka.crashOnNextCommit(port) // the next commit of that instance kills it instead
 */
export class SimulatedKafka {
  readonly random: SeededRandom
  readonly #options: Required<Omit<SimulatedKafkaOptions, 'seed' | 'failSends'>>
  readonly #failSends: Set<number>
  readonly #sendRandom: SeededRandom
  readonly #commitRandom: SeededRandom
  readonly #crashRandom: SeededRandom
  readonly #topics = new Map<string, SimulatedTopic>()
  readonly #groups = new Map<string, SimulatedGroup>()
  readonly #processes = new Map<string, SimulatedProcess>()
  readonly #started = Date.now()
  readonly dataArrived = new Signal()
  readonly #writers = new WeakMap<FetchedRecord, string>()
  #sends = 0
  #members = 0
  #outage: BrokerOutage | undefined
  /** Every injected fault and membership change, in order. */
  readonly events: SimulationEvent[] = []
  /** Things a correct runtime never does (commit of a partition it does not own, offsets going back). */
  readonly violations: string[] = []
  readonly faults: SimulationFaultCounts = {
    crashes: 0,
    crashesOnCommit: 0,
    fences: 0,
    produceFailures: 0,
    lostAcks: 0,
    rebalances: 0,
  }

  constructor(options: SimulatedKafkaOptions = {}) {
    this.random = new SeededRandom(options.seed ?? 1)
    this.#options = {
      produceDelayMs: options.produceDelayMs ?? [0, 2],
      commitDelayMs: options.commitDelayMs ?? [0, 1],
      produceFailureRate: options.produceFailureRate ?? 0,
      lostAckRate: options.lostAckRate ?? 0.5,
      maxPollRecords: options.maxPollRecords ?? 200,
      brokerConfigs: { 'offset.metadata.max.bytes': '4096', ...options.brokerConfigs },
    }
    this.#failSends = new Set(options.failSends ?? [])
    this.#sendRandom = this.random.fork('send')
    this.#commitRandom = this.random.fork('commit')
    this.#crashRandom = this.random.fork('crash')
  }

  /** A broker config as the admin reports it. */
  brokerConfig(key: string): string | undefined {
    return this.#options.brokerConfigs[key]
  }

  // ---- topics and records ------------------------------------------------------------------

  /** Creates a topic (an existing one is left as it is). */
  createTopic(name: string, partitions: number, configs: Record<string, string> = {}): void {
    if (this.#topics.has(name)) return
    if (!Number.isInteger(partitions) || partitions <= 0) {
      throw new KafkaError(`topic "${name}" needs a positive number of partitions, got ${partitions}`)
    }
    this.#topics.set(name, {
      name,
      partitions: Array.from({ length: partitions }, () => []),
      configs: { ...configs },
      nextNullKeyPartition: 0,
    })
  }

  hasTopic(name: string): boolean {
    return this.#topics.has(name)
  }

  partitionCount(topic: string): number {
    return this.#topic(topic).partitions.length
  }

  /** The topic's configs as created. */
  topicConfigs(topic: string): Record<string, string> {
    return { ...this.#topic(topic).configs }
  }

  /**
   * The partition a record without one goes to: Kafka's Java default for keyed records,
   * `(murmur2(key) & 0x7fffffff) % partitions`; records without a key go round-robin.
   */
  partitionFor(topic: string, key: Uint8Array | null): number {
    const found = this.#topic(topic)
    const count = found.partitions.length
    if (key === null) {
      const partition = found.nextNullKeyPartition % count
      found.nextNullKeyPartition = (partition + 1) % count
      return partition
    }
    return defaultPartition(key, count)
  }

  /** Writes records straight into the log (no delay, no fault): the test's input. */
  produce(topic: string, records: SimulatedRecord[]): ProducedOffset[] {
    return this.#append(
      records.map((record) => ({
        topic,
        partition: record.partition,
        key: toBytes(record.key),
        value: toBytes(record.value),
        timestamp: record.timestamp,
        headers: record.headers,
      })),
    )
  }

  /** The records of a partition (or of every partition, partition by partition), as stored. */
  records(topic: string, partition?: number): FetchedRecord[] {
    const found = this.#topic(topic)
    if (partition !== undefined) return [...(found.partitions[partition] ?? [])]
    return found.partitions.flat()
  }

  /** The offset after the last record of the partition. */
  endOffset(topic: string, partition: number): bigint {
    return BigInt(this.#topic(topic).partitions[partition]?.length ?? 0)
  }

  /** The group's committed offset and metadata of a partition, if any. */
  committed(groupId: string, topic: string, partition: number): OffsetAndMetadata | undefined {
    return this.#groups.get(groupId)?.committed.get(topicPartitionKey(topic, partition))
  }

  // ---- processes and faults ----------------------------------------------------------------

  /** A Kafka port for one simulated process: give each app instance its own. */
  port(name = `process-${this.#processes.size + 1}`): SimulatedKafkaPort {
    if (this.#processes.has(name)) throw new KafkaError(`a simulated process named "${name}" exists already`)
    const process = new SimulatedProcess(name)
    this.#processes.set(name, process)
    const connectivity: BrokerConnectivity = { outage: () => this.#outage }
    return {
      processName: name,
      connectivity,
      createConsumer: (options) => {
        const consumer = new SimulatedGroupConsumer(this, process, options)
        process.consumers.add(consumer)
        return consumer
      },
      createReader: () => new SimulatedReader(this, process),
      createProducer: (options) => {
        const producer = new SimulatedProducer(this, process, options)
        process.producers.add(producer)
        return producer
      },
      createAdmin: () => new SimulatedAdmin(this, process),
    }
  }

  /** True once the process crashed. */
  isCrashed(port: SimulatedKafkaPort): boolean {
    return this.#process(port).crashed
  }

  /**
   * Kills the process at once, as SIGKILL: its members leave the group without any listener call
   * (their partitions go to the others), a seeded prefix of its unacknowledged sends is written
   * and the rest is lost, and every later call of its clients rejects.
   */
  crash(port: SimulatedKafkaPort | string, detail = 'killed'): void {
    const process = typeof port === 'string' ? this.#processes.get(port) : this.#process(port)
    if (!process || process.crashed) return
    process.crashed = true
    this.faults.crashes += 1
    this.#event('crash', process.name, detail)
    for (const producer of process.producers) producer.crashed(this.#crashRandom)
    for (const consumer of process.consumers) consumer.crashed()
    this.dataArrived.wake()
  }

  /**
   * Crashes the process inside its next commit call (after skipping `skip` commits): the runtime
   * has flushed its stores and awaited its acknowledgements, and the offsets are not stored.
   * Resolves when that happened, with what the commit would have stored.
   */
  crashOnNextCommit(port: SimulatedKafkaPort, options: { skip?: number } = {}): Promise<CommitCrash> {
    const process = this.#process(port)
    return new Promise((resolve) => {
      process.crashOnCommit = { skip: options.skip ?? 0, resolve }
    })
  }

  /**
   * Fences the process's members, as a session expiry seen by a live member: their commits fail
   * with a FencedError, they fetch nothing, `onLost` is called, their partitions go to the others,
   * and they rejoin as new members.
   */
  fence(port: SimulatedKafkaPort): void {
    const process = this.#process(port)
    if (process.crashed) return
    this.faults.fences += 1
    this.#event('fence', process.name)
    for (const consumer of process.consumers) consumer.fenced()
  }

  /** While true, every request fails with a retriable KafkaError and `connectivity` reports an outage. */
  setUnavailable(unavailable: boolean): void {
    if (unavailable && !this.#outage) {
      this.#outage = { sinceMs: Date.now(), brokers: 'sim:9092', lastError: 'simulated outage' }
    } else if (!unavailable) {
      this.#outage = undefined
    }
  }

  /** The group's members, their assignments and whether it is stable. */
  group(groupId: string): SimulatedGroupState {
    const group = this.#groups.get(groupId)
    if (!group) return { groupId, epoch: 0, members: [], stable: true }
    return group.state()
  }

  // ---- internals shared with the clients ----------------------------------------------------

  /** @internal */
  groupFor(groupId: string): SimulatedGroup {
    let group = this.#groups.get(groupId)
    if (!group) {
      group = new SimulatedGroup(this, groupId)
      this.#groups.set(groupId, group)
    }
    return group
  }

  /** @internal */
  nextMemberId(clientId: string): string {
    this.#members += 1
    return `${clientId}-member-${this.#members}`
  }

  /** @internal */
  topicOrUndefined(name: string): SimulatedTopic | undefined {
    return this.#topics.get(name)
  }

  /** @internal */
  checkAvailable(action: string): void {
    if (this.#outage) {
      this.#outage.lastError = `${action}: simulated outage`
      throw new KafkaError(`cannot ${action}: Kafka at sim:9092 did not answer (simulated outage)`, {
        retriable: true,
      })
    }
  }

  /** @internal The delay and fate of the next send. */
  drawSend(): { delayMs: number; fails: boolean; writtenAnyway: boolean; index: number } {
    const index = this.#sends
    this.#sends += 1
    const [min, max] = this.#options.produceDelayMs
    const delayMs = this.#sendRandom.between(min, max)
    const fails = this.#failSends.has(index) || this.#sendRandom.chance(this.#options.produceFailureRate)
    const writtenAnyway = this.#sendRandom.chance(this.#options.lostAckRate)
    return { delayMs, fails, writtenAnyway, index }
  }

  /** @internal */
  commitDelay(): number {
    const [min, max] = this.#options.commitDelayMs
    return this.#commitRandom.between(min, max)
  }

  /** @internal */
  get maxPollRecords(): number {
    return this.#options.maxPollRecords
  }

  /** @internal Takes the armed crash of a commit call, if this call is the chosen one. */
  takeCommitCrash(process: SimulatedProcess): ((crash: CommitCrash) => void) | undefined {
    const armed = process.crashOnCommit
    if (!armed) return undefined
    if (armed.skip > 0) {
      armed.skip -= 1
      return undefined
    }
    process.crashOnCommit = undefined
    this.faults.crashesOnCommit += 1
    return armed.resolve
  }

  /** @internal */
  sinceStart(): number {
    return Date.now() - this.#started
  }

  /** @internal */
  event(kind: SimulationEvent['kind'], process?: string, detail?: string): void {
    this.#event(kind, process, detail)
  }

  /** @internal */
  violation(message: string): void {
    this.violations.push(message)
    this.#event('violation', undefined, message)
  }

  /** @internal Appends records to their partitions; returns the base offset per partition. */
  append(records: ProduceRecord[], writer: string): ProducedOffset[] {
    return this.#append(records, writer)
  }

  /** The process whose producer wrote the record (undefined for records written by `produce`). */
  writerOf(record: FetchedRecord): string | undefined {
    return this.#writers.get(record)
  }

  #append(records: ProduceRecord[], writer?: string): ProducedOffset[] {
    // Check every record first, so a bad one writes nothing of the batch.
    const placed = records.map((record) => {
      const topic = this.#topics.get(record.topic)
      if (!topic) {
        throw new KafkaError(`topic "${record.topic}" does not exist (UNKNOWN_TOPIC_OR_PARTITION)`, {
          context: { topic: record.topic },
        })
      }
      const partition = record.partition ?? this.partitionFor(record.topic, record.key)
      if (!Number.isInteger(partition) || partition < 0 || partition >= topic.partitions.length) {
        throw new KafkaError(
          `topic "${record.topic}" has no partition ${partition} (UNKNOWN_TOPIC_OR_PARTITION)`,
          { context: { topic: record.topic, partition } },
        )
      }
      return { record, log: topic.partitions[partition]!, partition }
    })
    const base = new Map<string, ProducedOffset>()
    const now = Date.now()
    for (const { record, log, partition } of placed) {
      const offset = BigInt(log.length)
      const stored: FetchedRecord = {
        topic: record.topic,
        partition,
        offset,
        timestamp: record.timestamp ?? now,
        // Copied when the broker receives them: bytes the caller changes afterwards stay as sent.
        key: record.key === null ? null : new Uint8Array(record.key),
        value: record.value === null ? null : new Uint8Array(record.value),
        headers: (record.headers ?? []).map(
          ([name, value]) => [name, value === null ? null : new Uint8Array(value)] as const,
        ),
      }
      log.push(stored)
      if (writer !== undefined) this.#writers.set(stored, writer)
      const key = topicPartitionKey(record.topic, partition)
      if (!base.has(key)) base.set(key, { topic: record.topic, partition, baseOffset: offset })
    }
    this.dataArrived.wake()
    return [...base.values()]
  }

  #topic(name: string): SimulatedTopic {
    const found = this.#topics.get(name)
    if (!found) throw new KafkaError(`topic "${name}" does not exist`, { context: { topic: name } })
    return found
  }

  #process(port: SimulatedKafkaPort): SimulatedProcess {
    const process = this.#processes.get(port.processName)
    if (!process) throw new KafkaError(`port "${port.processName}" does not belong to this cluster`)
    return process
  }

  #event(kind: SimulationEvent['kind'], process?: string, detail?: string): void {
    this.events.push({
      atMs: this.sinceStart(),
      kind,
      ...(process === undefined ? {} : { process }),
      ...(detail === undefined ? {} : { detail }),
    })
  }
}

/** A consumer group: members in join order, the assignor, owners and committed offsets. */
class SimulatedGroup {
  readonly groupId: string
  readonly #cluster: SimulatedKafka
  epoch = 0
  readonly members: SimulatedGroupConsumer[] = []
  readonly committed = new Map<string, OffsetAndMetadata>()
  /** Who holds each partition: from its claim until it released it (revoked, lost or crashed). */
  readonly owners = new Map<string, SimulatedGroupConsumer>()
  readonly released = new Signal()

  constructor(cluster: SimulatedKafka, groupId: string) {
    this.#cluster = cluster
    this.groupId = groupId
  }

  join(member: SimulatedGroupConsumer): void {
    this.members.push(member)
    this.#cluster.event('join', member.processName, member.memberId)
    this.rebalance()
  }

  remove(member: SimulatedGroupConsumer, kind: 'leave' | 'crash' | 'fence'): void {
    const index = this.members.indexOf(member)
    if (index >= 0) this.members.splice(index, 1)
    for (const [key, owner] of [...this.owners]) if (owner === member) this.owners.delete(key)
    this.released.wake()
    if (kind === 'leave') this.#cluster.event('leave', member.processName, member.memberId)
    this.rebalance()
  }

  /**
   * Spreads the partitions of every subscribed topic over the live members subscribed to it:
   * partition p of a topic goes to the (p mod n)-th of its n members in join order, so equal
   * partition numbers of co-partitioned topics land together.
   */
  rebalance(): void {
    this.epoch += 1
    if (this.owners.size > 0) this.#cluster.faults.rebalances += 1
    this.#cluster.event('rebalance', undefined, `epoch ${this.epoch}, ${this.members.length} member(s)`)
    const targets = new Map<SimulatedGroupConsumer, Set<string>>(
      this.members.map((member) => [member, new Set<string>()]),
    )
    const topics = new Set(this.members.flatMap((member) => member.topics))
    for (const name of [...topics].sort()) {
      const topic = this.#cluster.topicOrUndefined(name)
      if (!topic) continue
      const subscribed = this.members.filter((member) => member.topics.includes(name))
      for (let partition = 0; partition < topic.partitions.length; partition += 1) {
        targets.get(subscribed[partition % subscribed.length]!)!.add(topicPartitionKey(name, partition))
      }
    }
    for (const [member, target] of targets) member.setTarget(target, this.epoch)
  }

  state(): SimulatedGroupState {
    const members = this.members.map((member) => member.state())
    return {
      groupId: this.groupId,
      epoch: this.epoch,
      members,
      stable: members.every(
        (member) => !member.reconciling && member.assigned.length === member.target.length,
      ),
    }
  }
}

interface FetchPosition {
  topic: string
  partition: number
  position: bigint
  paused: boolean
}

class SimulatedGroupConsumer implements GroupConsumer {
  readonly #cluster: SimulatedKafka
  readonly #process: SimulatedProcess
  readonly #options: GroupConsumerOptions
  readonly #listener: GroupListener
  #group: SimulatedGroup | undefined
  memberId = ''
  #memberEpoch = 0
  /** Partitions being fetched (assigned through onAssigned), by partition key. */
  readonly #positions = new Map<string, FetchPosition>()
  /** Partitions claimed in the group (owned), including those still in onAssigned. */
  readonly #claimed = new Set<string>()
  #target = new Set<string>()
  #reconciling: Promise<void> | undefined
  #member = false
  #fenced = false
  #closed = false
  #failure: Error | undefined
  #pollRotation = 0

  constructor(cluster: SimulatedKafka, process: SimulatedProcess, options: GroupConsumerOptions) {
    this.#cluster = cluster
    this.#process = process
    this.#options = options
    this.#listener = options.listener
  }

  get processName(): string {
    return this.#process.name
  }

  get topics(): readonly string[] {
    return this.#options.topics
  }

  async subscribe(): Promise<void> {
    await nextMacrotask()
    this.#process.check()
    this.#cluster.checkAvailable(`join group "${this.#options.groupId}"`)
    if (this.#member || this.#closed) return
    this.#join()
  }

  #join(): void {
    this.#group = this.#cluster.groupFor(this.#options.groupId)
    this.memberId = this.#cluster.nextMemberId(this.#options.clientId)
    this.#member = true
    this.#fenced = false
    this.#group.join(this)
  }

  generation(): { memberId: string; memberEpoch: number } {
    return { memberId: this.memberId, memberEpoch: this.#memberEpoch }
  }

  assignment(): TopicPartition[] {
    return [...this.#positions.values()].map(({ topic, partition }) => ({ topic, partition }))
  }

  pause(partitions: TopicPartition[]): void {
    for (const partition of partitions) {
      const state = this.#positions.get(partitionKeyOf(partition))
      if (state) state.paused = true
    }
  }

  resume(partitions: TopicPartition[]): void {
    for (const partition of partitions) {
      const state = this.#positions.get(partitionKeyOf(partition))
      if (state) state.paused = false
    }
    this.#cluster.dataArrived.wake()
  }

  seek(partition: TopicPartition, offset: bigint): void {
    const state = this.#positions.get(partitionKeyOf(partition))
    if (state) state.position = offset
  }

  async poll(maxWaitMs: number): Promise<FetchedBatch[]> {
    await nextMacrotask()
    this.#process.check()
    if (this.#failure) throw this.#failure
    let batches = this.#fetch()
    if (batches.length === 0 && maxWaitMs > 0) {
      await this.#cluster.dataArrived.wait(maxWaitMs)
      this.#process.check()
      if (this.#failure) throw this.#failure
      batches = this.#fetch()
    }
    return batches
  }

  #fetch(): FetchedBatch[] {
    if (this.#fenced || this.#closed || this.#process.crashed) return []
    const states = [...this.#positions.values()]
    if (states.length === 0) return []
    // Rotate the first partition, so one busy partition does not always come first.
    this.#pollRotation = (this.#pollRotation + 1) % states.length
    const ordered = [...states.slice(this.#pollRotation), ...states.slice(0, this.#pollRotation)]
    const batches: FetchedBatch[] = []
    for (const state of ordered) {
      if (state.paused) continue
      const log = this.#cluster.topicOrUndefined(state.topic)?.partitions[state.partition]
      if (!log) continue
      const end = BigInt(log.length)
      if (state.position >= end) continue
      const from = Number(state.position)
      const records = log.slice(from, from + this.#cluster.maxPollRecords)
      state.position = BigInt(from + records.length)
      batches.push({ topic: state.topic, partition: state.partition, records, highWatermark: end })
    }
    return batches
  }

  async committed(partitions: TopicPartition[]): Promise<Map<string, OffsetAndMetadata | null>> {
    await sleep(this.#cluster.commitDelay())
    this.#process.check()
    this.#cluster.checkAvailable('fetch committed offsets')
    const group = this.#cluster.groupFor(this.#options.groupId)
    const result = new Map<string, OffsetAndMetadata | null>()
    for (const partition of partitions) {
      const key = partitionKeyOf(partition)
      const entry = group.committed.get(key)
      result.set(key, entry ? { ...entry } : null)
    }
    return result
  }

  async commit(offsets: CommitRequest[]): Promise<void> {
    if (offsets.length === 0) return
    const group = this.#cluster.groupFor(this.#options.groupId)
    const crash = this.#cluster.takeCommitCrash(this.#process)
    if (crash) {
      const committedBefore = new Map<string, OffsetAndMetadata | undefined>()
      for (const offset of offsets) {
        const key = partitionKeyOf(offset)
        committedBefore.set(key, group.committed.get(key))
      }
      this.#cluster.crash(this.#process.name, 'on commit')
      this.#cluster.event('crash-on-commit', this.#process.name, `${offsets.length} offset(s) dropped`)
      crash({
        process: this.#process.name,
        groupId: this.#options.groupId,
        atMs: this.#cluster.sinceStart(),
        dropped: offsets.map((offset) => ({ ...offset })),
        committedBefore,
      })
      throw crashedError(this.#process.name)
    }
    await sleep(this.#cluster.commitDelay())
    this.#process.check()
    this.#cluster.checkAvailable('commit offsets')
    if (this.#fenced || !this.#member) {
      throw new FencedError(
        `member ${this.memberId} of group "${this.#options.groupId}" was fenced (epoch ${this.#memberEpoch} is stale); its partitions are lost`,
        { context: { groupId: this.#options.groupId } },
      )
    }
    for (const offset of offsets) {
      const key = partitionKeyOf(offset)
      const owner = group.owners.get(key)
      if (owner !== this) {
        this.#cluster.violation(
          `${this.memberId} committed ${offset.topic}[${offset.partition}]@${offset.offset} without owning it`,
        )
      }
      const end = this.#cluster.endOffset(offset.topic, offset.partition)
      if (offset.offset > end) {
        this.#cluster.violation(
          `${this.memberId} committed ${offset.topic}[${offset.partition}]@${offset.offset} beyond the end (${end})`,
        )
      }
      const previous = group.committed.get(key)
      if (previous && offset.offset < previous.offset) {
        this.#cluster.violation(
          `${this.memberId} moved the committed offset of ${offset.topic}[${offset.partition}] back from ${previous.offset} to ${offset.offset}`,
        )
      }
      group.committed.set(key, { offset: offset.offset, metadata: offset.metadata })
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#process.crashed || !this.#member) return
    await this.#reconciling
    if (this.#process.crashed || !this.#member) return
    const owned = this.assignment()
    if (owned.length > 0) {
      if (this.#failure) await this.#listener.onLost(owned).catch(() => {})
      else await this.#listener.onRevoked(owned).catch(() => {})
    }
    this.#positions.clear()
    this.#claimed.clear()
    this.#member = false
    this.#group?.remove(this, 'leave')
  }

  // ---- membership, driven by the group -------------------------------------------------------

  state(): SimulatedMemberState {
    return {
      memberId: this.memberId,
      memberEpoch: this.#memberEpoch,
      process: this.#process.name,
      assigned: this.assignment(),
      target: [...this.#target].map(parseKey),
      reconciling: this.#reconciling !== undefined,
    }
  }

  setTarget(target: Set<string>, epoch: number): void {
    this.#target = target
    this.#memberEpoch = epoch
    this.#reconcile()
  }

  crashed(): void {
    if (!this.#member) return
    this.#member = false
    this.#positions.clear()
    this.#claimed.clear()
    this.#group?.remove(this, 'crash')
  }

  /** Session expired: commits fail, nothing is fetched, onLost, then the member rejoins. */
  fenced(): void {
    if (!this.#member || this.#fenced || this.#closed) return
    this.#fenced = true
    const group = this.#group!
    void (async () => {
      await this.#reconciling
      const lost = this.assignment()
      this.#positions.clear()
      if (lost.length > 0 && !this.#process.crashed) {
        await this.#listener.onLost(lost).catch((error: unknown) => this.#fail(error))
      }
      // The old owner's in-flight sends settle before its partitions move: in Kafka the session
      // timeout that fences a member lasts far longer than any produce request.
      await Promise.all([...this.#process.producers].map((producer) => producer.settled()))
      this.#member = false
      this.#claimed.clear()
      group.remove(this, 'fence')
      if (this.#process.crashed || this.#closed) return
      await sleep(1)
      if (this.#process.crashed || this.#closed) return
      this.#join()
    })()
  }

  #fail(error: unknown): void {
    this.#failure ??= error instanceof Error ? error : new Error(String(error))
  }

  #live(): boolean {
    return this.#member && !this.#fenced && !this.#closed && !this.#process.crashed && !this.#failure
  }

  /** Owns exactly its target. */
  #reached(): boolean {
    if (this.#claimed.size !== this.#target.size) return false
    for (const key of this.#target) if (!this.#claimed.has(key)) return false
    return true
  }

  /** Moves towards the target: revoke first (awaited), release, then claim and assign. */
  #reconcile(): void {
    if (this.#reconciling) return
    const group = this.#group!
    const run = async () => {
      while (this.#live()) {
        const target = this.#target
        const revoked = [...this.#claimed].filter((key) => !target.has(key))
        if (revoked.length > 0) {
          const partitions = revoked.filter((key) => this.#positions.has(key)).map(parseKey)
          if (partitions.length > 0) await this.#listener.onRevoked(partitions)
          if (!this.#live()) return
          for (const key of revoked) {
            this.#positions.delete(key)
            this.#claimed.delete(key)
            if (group.owners.get(key) === this) group.owners.delete(key)
          }
          group.released.wake()
        }
        const wanted = [...target].filter((key) => !this.#claimed.has(key))
        const free = wanted.filter((key) => !group.owners.has(key))
        if (free.length > 0) {
          for (const key of free) {
            group.owners.set(key, this)
            this.#claimed.add(key)
          }
          const partitions = free.map(parseKey)
          const committed = await this.committed(partitions)
          if (!this.#live()) return
          await this.#listener.onAssigned(partitions, committed)
          if (!this.#live()) return
          for (const key of free) {
            if (!this.#claimed.has(key)) continue
            const { topic, partition } = parseKey(key)
            const log = this.#cluster.topicOrUndefined(topic)?.partitions[partition] ?? []
            const start =
              committed.get(key)?.offset ??
              ((this.#options.offsetReset ?? 'earliest') === 'latest' ? BigInt(log.length) : 0n)
            this.#positions.set(key, { topic, partition, position: start, paused: false })
          }
          this.#cluster.dataArrived.wake()
        }
        if (this.#target !== target) continue
        if (wanted.length > free.length) {
          // Some wanted partitions are still held by members revoking them.
          await group.released.wait(5)
          continue
        }
        return
      }
    }
    this.#reconciling = run()
      .catch((error: unknown) => this.#fail(error))
      .finally(() => {
        this.#reconciling = undefined
        // A target set after the run's last look but before this callback was not seen by it
        // (setTarget found the run still in place): reconcile again, or the member never gets it.
        if (this.#live() && !this.#reached()) this.#reconcile()
      })
  }
}

interface PendingSend {
  records: ProduceRecord[]
  /** Decided at a crash: the records were written before the process died. */
  landed: boolean
  /** A send before it failed, so this one fails too (the idempotent producer's sequence broke). */
  doomed: boolean
  settled: Promise<void>
}

class SimulatedProducer implements ProducerPort {
  readonly #cluster: SimulatedKafka
  readonly #process: SimulatedProcess
  readonly #pending: PendingSend[] = []
  #tail: Promise<void> = Promise.resolve()
  #closed = false

  constructor(cluster: SimulatedKafka, process: SimulatedProcess, _options: ProducerOptions) {
    this.#cluster = cluster
    this.#process = process
  }

  /**
   * Acknowledges in send order, each after its seeded delay. A failing send fails the sends
   * queued behind it too, as the idempotent producer fails later batches when one expired, so
   * what reaches a partition is always a prefix of what was sent. Sends made after the failure
   * are accepted again, as by the Java producer once it bumped its epoch: a caller that goes on
   * sending after a failure leaves a gap in the partition.
   */
  send(records: ProduceRecord[]): Promise<ProducedOffset[]> {
    if (this.#process.crashed) return Promise.reject(crashedError(this.#process.name))
    if (this.#closed) return Promise.reject(new KafkaError('the producer is closed'))
    if (records.length === 0) return Promise.resolve([])
    const fate = this.#cluster.drawSend()
    const copies = records.map((record) => ({ ...record }))
    const previous = this.#tail
    const entry: PendingSend = { records: copies, landed: false, doomed: false, settled: Promise.resolve() }
    const result = (async () => {
      await Promise.all([sleep(fate.delayMs), previous])
      const index = this.#pending.indexOf(entry)
      if (index >= 0) this.#pending.splice(index, 1)
      this.#process.check()
      this.#cluster.checkAvailable('produce')
      const topics = [...new Set(copies.map((record) => record.topic))].join(', ')
      if (entry.doomed) {
        throw new KafkaError(
          `producing ${copies.length} record(s) to ${topics} failed: an earlier batch failed (OUT_OF_ORDER_SEQUENCE_NUMBER)`,
          { retriable: true, context: { topic: topics } },
        )
      }
      if (fate.fails) {
        this.#cluster.faults.produceFailures += 1
        if (fate.writtenAnyway) {
          this.#cluster.faults.lostAcks += 1
          this.#cluster.append(copies, this.#process.name)
        }
        this.#cluster.event(
          fate.writtenAnyway ? 'lost-ack' : 'produce-failure',
          this.#process.name,
          `send #${fate.index}: ${copies.length} record(s) to ${topics}`,
        )
        for (const queued of this.#pending) queued.doomed = true
        throw new KafkaError(
          `producing ${copies.length} record(s) to ${topics} failed: simulated REQUEST_TIMED_OUT`,
          { retriable: true, context: { topic: topics } },
        )
      }
      return this.#cluster.append(copies, this.#process.name)
    })()
    entry.settled = result.then(
      () => {},
      () => {},
    )
    this.#tail = entry.settled
    this.#pending.push(entry)
    return result
  }

  /** Resolves when every send so far has settled. */
  settled(): Promise<void> {
    return this.#tail
  }

  /** The process died: a seeded prefix of the unacknowledged sends was written, the rest is lost. */
  crashed(random: SeededRandom): void {
    const landing = random.int(this.#pending.length + 1)
    for (const entry of this.#pending.slice(0, landing)) {
      if (entry.doomed) break
      entry.landed = true
      try {
        this.#cluster.append(entry.records, this.#process.name)
      } catch {
        break
      }
    }
    this.#pending.length = 0
  }

  async close(): Promise<void> {
    this.#closed = true
    if (this.#process.crashed) return
    await this.#tail
  }
}

class SimulatedReader implements PartitionReader {
  readonly #cluster: SimulatedKafka
  readonly #process: SimulatedProcess
  readonly #positions = new Map<string, FetchPosition>()

  constructor(cluster: SimulatedKafka, process: SimulatedProcess) {
    this.#cluster = cluster
    this.#process = process
  }

  async assign(partitions: Array<TopicPartition & { offset: bigint | undefined }>): Promise<void> {
    await nextMacrotask()
    this.#process.check()
    this.#cluster.checkAvailable('assign partitions')
    for (const { topic, partition, offset } of partitions) {
      if (!this.#cluster.topicOrUndefined(topic)?.partitions[partition]) {
        throw new KafkaError(`topic "${topic}" has no partition ${partition}`, {
          context: { topic, partition },
        })
      }
      this.#positions.set(topicPartitionKey(topic, partition), {
        topic,
        partition,
        position: offset ?? 0n,
        paused: false,
      })
    }
  }

  unassign(partitions: TopicPartition[]): void {
    for (const partition of partitions) this.#positions.delete(partitionKeyOf(partition))
  }

  position(partition: TopicPartition): bigint | undefined {
    return this.#positions.get(partitionKeyOf(partition))?.position
  }

  async poll(maxWaitMs: number): Promise<FetchedBatch[]> {
    await nextMacrotask()
    this.#process.check()
    let batches = this.#fetch()
    if (batches.length === 0 && maxWaitMs > 0) {
      await this.#cluster.dataArrived.wait(maxWaitMs)
      this.#process.check()
      batches = this.#fetch()
    }
    return batches
  }

  #fetch(): FetchedBatch[] {
    const batches: FetchedBatch[] = []
    for (const state of this.#positions.values()) {
      const log = this.#cluster.topicOrUndefined(state.topic)?.partitions[state.partition] ?? []
      const end = BigInt(log.length)
      if (state.position >= end) continue
      const from = Number(state.position)
      const records = log.slice(from, from + this.#cluster.maxPollRecords)
      state.position = BigInt(from + records.length)
      batches.push({ topic: state.topic, partition: state.partition, records, highWatermark: end })
    }
    return batches
  }

  async endOffsets(partitions: TopicPartition[]): Promise<Map<string, bigint>> {
    await nextMacrotask()
    this.#process.check()
    this.#cluster.checkAvailable('list offsets')
    const result = new Map<string, bigint>()
    for (const partition of partitions) {
      result.set(partitionKeyOf(partition), this.#cluster.endOffset(partition.topic, partition.partition))
    }
    return result
  }

  async close(): Promise<void> {
    this.#positions.clear()
  }
}

class SimulatedAdmin implements AdminPort {
  readonly #cluster: SimulatedKafka
  readonly #process: SimulatedProcess

  constructor(cluster: SimulatedKafka, process: SimulatedProcess) {
    this.#cluster = cluster
    this.#process = process
  }

  async describeBrokerConfigs(configKeys: string[]): Promise<Record<string, string>> {
    await nextMacrotask()
    this.#process.check()
    this.#cluster.checkAvailable('describe broker configs')
    const configs: Record<string, string> = {}
    for (const key of configKeys) {
      const value = this.#cluster.brokerConfig(key)
      if (value !== undefined) configs[key] = value
    }
    return configs
  }

  async describeTopics(topics: string[], configKeys?: string[]): Promise<Map<string, TopicDescription>> {
    await nextMacrotask()
    this.#process.check()
    this.#cluster.checkAvailable('describe topics')
    const result = new Map<string, TopicDescription>()
    for (const name of topics) {
      const topic = this.#cluster.topicOrUndefined(name)
      if (!topic) continue
      const description: TopicDescription = { name, partitions: topic.partitions.length }
      if (configKeys && configKeys.length > 0) {
        const configs: Record<string, string> = {}
        for (const key of configKeys) {
          const value = topic.configs[key]
          if (value !== undefined) configs[key] = value
        }
        description.configs = configs
      }
      result.set(name, description)
    }
    return result
  }

  async createTopics(topics: Array<TopicDescription & { replicationFactor?: number }>): Promise<void> {
    await nextMacrotask()
    this.#process.check()
    this.#cluster.checkAvailable('create topics')
    for (const topic of topics) this.#cluster.createTopic(topic.name, topic.partitions, topic.configs ?? {})
  }

  async close(): Promise<void> {}
}
