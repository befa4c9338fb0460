// Runs a kstreams app, as several instances that come and go, on a SimulatedKafka under a fault
// plan, until everything is processed and committed; then hands back what the output topics hold.
// Used by the simulation property tests.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  createApp,
  type FetchedRecord,
  type KafkaPort,
  type KeyValueStore,
  type KStreamsApp,
  type Processor,
  type ProcessorContext,
  serdes,
  silentLogger,
  stores,
  TopologyBuilder,
} from '../src/index.js'
import {
  type CommitCrash,
  SeededRandom,
  SimulatedKafka,
  type SimulatedKafkaPort,
} from '../src/testing/index.js'

export type PlannedFault = 'join' | 'leave' | 'crash' | 'crash-on-commit' | 'fence'

export interface PlannedEvent {
  kind: PlannedFault
  /** Fires once this share (0..1) of the input has an output. */
  atProgress: number
}

export type ScenarioKind = 'stateless' | 'stateful'

export interface Scenario {
  /** `stateless`: source → processor → sink. `stateful`: counts per key in a logged store. */
  kind: ScenarioKind
  /**
   * How the processor runs records: `partition` (one at a time per task) or `key` (keys
   * concurrently; with a store, an await between each read and write of a count). @default 'partition'
   */
  concurrency?: 'partition' | 'key'
  /** Seeds the cluster and the processor's slow and hung calls. */
  seed: number
  partitions: number
  records: number
  keys: number
  /** Instances started before any event. */
  instances: number
  events: PlannedEvent[]
  /** Sends (by number in the cluster) that fail with a retriable KafkaError. */
  failSends: number[]
  /** Share of processor calls that await 1–4 ms. */
  slowRate: number
  /** Share of processor calls that hang 80–200 ms. */
  hungRate: number
  /**
   * Share of processor calls that fail before any effect; the processor retries them (its
   * `retry` option, short backoff), parking the record meanwhile. @default 0
   */
  failRate?: number
}

export const INPUT = 'input'
export const OUTPUT = 'output'
export const APPLICATION_ID = 'sim-app'
export const STORE = 'counts'

/** What the processor writes for each input record. */
export interface OutputValue {
  /** The input record's id (its value). */
  id: string
  partition: number
  offset: number
  /** The key's count after this record (stateful topology only). */
  count?: number
}

export interface RunResult {
  kafka: SimulatedKafka
  /** Input records as written, by partition. */
  input: FetchedRecord[][]
  /** Output records as written, by partition, decoded. */
  output: Array<Array<{ key: string; value: OutputValue }>>
  /** Crashes that fell inside a commit call, and whether changelog entries beyond the committed input existed then. */
  commitCrashes: Array<CommitCrash & { changelogAhead: number }>
  /**
   * Instances that stopped without a graceful close (crashed, or failed on an injected fault), or
   * that lost their tasks without committing (fenced): work flushed to a changelog and not
   * committed may then be counted again, so counts may exceed the truth.
   */
  uncleanStops: number
  /** Instances that failed by themselves (app state 'error'), with their errors. */
  failures: string[]
  processorCalls: { slow: number; hung: number; failed: number }
  instancesStarted: number
}

const decoder = new TextDecoder()

interface Instance {
  name: string
  port: SimulatedKafkaPort
  app: KStreamsApp
  stateDir: string
  /** Stopped: crashed, failed or closed. */
  stopped: boolean
  closing: boolean
}

function topologyFor(scenario: Scenario, random: SeededRandom, calls: RunResult['processorCalls']) {
  const attempts = new Map<string, number>()
  /** The same record's calls are slow or hang by the seed, differently on each replay. */
  const delayFor = (partition: number, offset: number): number => {
    const key = `${partition}:${offset}`
    const attempt = attempts.get(key) ?? 0
    attempts.set(key, attempt + 1)
    const draw = random.at(partition, offset, attempt)
    if (draw < scenario.hungRate) {
      calls.hung += 1
      return 80 + Math.floor(random.at(partition, offset, attempt, 1) * 120)
    }
    if (draw < scenario.hungRate + scenario.slowRate) {
      calls.slow += 1
      return 1 + Math.floor(random.at(partition, offset, attempt, 2) * 4)
    }
    return 0
  }
  const failures = new Map<string, number>()
  /** A call fails by the seed, at most three times in a row for one record (the retry allows ten). */
  const failsNow = (partition: number, offset: number): boolean => {
    const failRate = scenario.failRate ?? 0
    if (failRate === 0) return false
    const key = `${partition}:${offset}`
    const failed = failures.get(key) ?? 0
    if (failed >= 3 || random.at(partition, offset, failed, 3) >= failRate) return false
    failures.set(key, failed + 1)
    return true
  }
  const retry = { maxAttempts: 10, backoff: { initialMs: 2, maxMs: 20 } }
  const stateful = scenario.kind === 'stateful'
  const keyMode = scenario.concurrency === 'key'
  const builder = new TopologyBuilder().addSource('input', {
    topics: [INPUT],
    keySerde: serdes.string(),
    valueSerde: serdes.string(),
  })
  const step = (): Processor<string, string, string, OutputValue> => {
    let context: ProcessorContext<string, OutputValue>
    let counts: KeyValueStore<string, bigint> | undefined
    return {
      init: (processorContext) => {
        context = processorContext
        if (stateful) counts = context.getStore<KeyValueStore<string, bigint>>(STORE)
      },
      process: async (record) => {
        // Read before any await: the metadata belongs to this call.
        const metadata = context.recordMetadata!
        const partition = metadata.partition
        const offset = Number(metadata.offset)
        const delay = delayFor(partition, offset)
        if (delay > 0) await sleep(delay)
        if (failsNow(partition, offset)) {
          calls.failed += 1
          throw new Error(`simulated transient failure at ${partition}@${offset}`)
        }
        const value: OutputValue = { id: record.value, partition, offset }
        if (counts) {
          const count = ((await counts.get(record.key)) ?? 0n) + 1n
          // Two records of one key overlapping here would lose an update: key mode must not let them.
          if (keyMode) await new Promise((resolve) => setImmediate(resolve))
          await counts.put(record.key, count)
          value.count = Number(count)
        }
        context.forward({ key: record.key, value, timestamp: record.timestamp, headers: [] })
      },
    }
  }
  if (stateful) {
    return builder
      .addStore(stores.keyValue(STORE, { keySerde: serdes.string(), valueSerde: serdes.int64() }))
      .addProcessor(
        'step',
        { parents: ['input'], stores: [STORE], concurrency: scenario.concurrency, retry },
        step,
      )
      .addSink('output', {
        topic: OUTPUT,
        keySerde: serdes.string(),
        valueSerde: serdes.json<OutputValue>(),
        parents: ['step'],
      })
      .build()
  }
  return builder
    .addProcessor('step', { parents: ['input'], concurrency: scenario.concurrency, retry }, step)
    .addSink('output', {
      topic: OUTPUT,
      keySerde: serdes.string(),
      valueSerde: serdes.json<OutputValue>(),
      parents: ['step'],
    })
    .build()
}

/** Changelog entries of `crash`'s partitions whose input offset is at or beyond the committed one. */
function changelogAhead(kafka: SimulatedKafka, crash: CommitCrash): number {
  const topic = `${APPLICATION_ID}-${STORE}-changelog`
  if (!kafka.hasTopic(topic)) return 0
  let ahead = 0
  for (const request of crash.dropped) {
    const committed = crash.committedBefore.get(`${request.topic}\u0000${request.partition}`)?.offset ?? 0n
    for (const record of kafka.records(topic, request.partition)) {
      const header = record.headers.find(([name]) => name === 'kstreams.input.offset')?.[1]
      if (header && BigInt(decoder.decode(header)) >= committed) ahead += 1
    }
  }
  return ahead
}

function describe(kafka: SimulatedKafka, scenario: Scenario): string {
  const group = kafka.group(APPLICATION_ID)
  const lag = Array.from({ length: scenario.partitions }, (_, partition) => {
    const committed = kafka.committed(APPLICATION_ID, INPUT, partition)?.offset ?? -1n
    return `p${partition}: committed ${committed} / end ${kafka.endOffset(INPUT, partition)}`
  })
  return [
    `group epoch ${group.epoch}, stable ${group.stable}, members ${JSON.stringify(group.members.map((member) => ({ ...member, assigned: member.assigned.length, target: member.target.length })))}`,
    ...lag,
    `last events: ${JSON.stringify(kafka.events.slice(-15))}`,
  ].join('\n')
}

/**
 * Runs `scenario` to the end: writes the input in chunks while the instances run, fires the
 * planned events at their progress marks, restarts instances that stopped (as a supervisor
 * would), waits until every input partition is committed to its end, and closes everything.
 */
export async function runScenario(
  scenario: Scenario,
  options: {
    timeoutMs?: number
    /** Replaces the port an instance gets, e.g. to plant a bug and see the checks catch it. */
    wrapPort?: (port: SimulatedKafkaPort, kafka: SimulatedKafka) => KafkaPort
  } = {},
): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 20_000
  const kafka = new SimulatedKafka({ seed: scenario.seed, failSends: scenario.failSends })
  const random = new SeededRandom(scenario.seed).fork('processor')
  const planRandom = new SeededRandom(scenario.seed).fork('plan')
  kafka.createTopic(INPUT, scenario.partitions)
  kafka.createTopic(OUTPUT, scenario.partitions)
  const calls = { slow: 0, hung: 0, failed: 0 }
  const result: RunResult = {
    kafka,
    input: [],
    output: [],
    commitCrashes: [],
    uncleanStops: 0,
    failures: [],
    processorCalls: calls,
    instancesStarted: 0,
  }
  const instances: Instance[] = []
  const live = () => instances.filter((instance) => !instance.stopped && !instance.closing)

  const start = async (): Promise<void> => {
    result.instancesStarted += 1
    const name = `instance-${result.instancesStarted}`
    const port = kafka.port(name)
    const stateDir = mkdtempSync(join(tmpdir(), 'kstreams-sim-'))
    const app = createApp(topologyFor(scenario, random, calls), {
      applicationId: APPLICATION_ID,
      bootstrapServers: ['sim:9092'],
      clientId: name,
      kafka: options.wrapPort ? options.wrapPort(port, kafka) : port,
      handleSignals: false,
      logger: silentLogger,
      onFatalError: () => {},
      commitIntervalMs: 30,
      fetchMaxWaitMs: 10,
      producerLingerMs: 1,
      stateDir,
    })
    const instance: Instance = { name, port, app, stateDir, stopped: false, closing: false }
    instances.push(instance)
    app.done().then(
      () => {
        instance.stopped = true
      },
      (error: Error) => {
        instance.stopped = true
        if (!kafka.isCrashed(port)) {
          result.uncleanStops += 1
          result.failures.push(`${name}: ${error.message}`)
        }
      },
    )
    await app.start().catch(() => {})
  }

  let written = 0
  const writeInput = (count: number): void => {
    const records = []
    for (let index = 0; index < count && written < scenario.records; index += 1, written += 1) {
      const key = `key-${planRandom.int(scenario.keys)}`
      records.push({ key, value: `r${written}`, timestamp: 1_700_000_000_000 + written })
    }
    if (records.length > 0) kafka.produce(INPUT, records)
  }

  const outputs = (): number => {
    let total = 0
    for (let partition = 0; partition < scenario.partitions; partition += 1) {
      total += Number(kafka.endOffset(OUTPUT, partition))
    }
    return total
  }

  const fire = async (kind: PlannedFault): Promise<void> => {
    const running = live()
    const target = running[planRandom.int(running.length)]
    switch (kind) {
      case 'join':
        if (running.length < 3) await start()
        return
      case 'leave':
        if (running.length >= 2 && target) {
          target.closing = true
          void target.app.close()
        }
        return
      case 'crash':
        if (target) {
          kafka.crash(target.port)
          target.stopped = true
          result.uncleanStops += 1
        }
        return
      case 'crash-on-commit':
        if (target) {
          // Resolves only if the commit comes; an instance closed before that never crashes.
          void kafka.crashOnNextCommit(target.port).then((crash) => {
            target.stopped = true
            result.uncleanStops += 1
            result.commitCrashes.push({ ...crash, changelogAhead: changelogAhead(kafka, crash) })
          })
        }
        return
      case 'fence':
        if (target) {
          kafka.fence(target.port)
          // The app survives a fence, but its tasks are lost without a commit (see uncleanStops).
          result.uncleanStops += 1
        }
        return
    }
  }

  const deadline = Date.now() + timeoutMs
  writeInput(Math.ceil(scenario.records / 2))
  for (let index = 0; index < scenario.instances; index += 1) await start()
  const events = [...scenario.events].sort((left, right) => left.atProgress - right.atProgress)
  const chunk = Math.max(1, Math.ceil(scenario.records / 20))
  try {
    for (;;) {
      if (Date.now() > deadline) {
        throw new Error(`the run did not settle within ${timeoutMs} ms\n${describe(kafka, scenario)}`)
      }
      writeInput(chunk)
      while (events.length > 0 && outputs() >= events[0]!.atProgress * scenario.records) {
        await fire(events.shift()!.kind)
      }
      // A supervisor restarts what stopped, so that some instance always runs.
      if (live().length === 0) await start()
      const allWritten = written >= scenario.records
      if (allWritten && events.length === 0 && kafka.group(APPLICATION_ID).stable) {
        const committed = Array.from({ length: scenario.partitions }, (_, partition) => {
          const offset = kafka.committed(APPLICATION_ID, INPUT, partition)?.offset ?? 0n
          return offset >= kafka.endOffset(INPUT, partition)
        })
        if (committed.every(Boolean)) break
      }
      await sleep(2)
    }
    for (const instance of live()) {
      instance.closing = true
      void instance.app.close()
    }
    await Promise.race([
      Promise.all(instances.map((instance) => instance.app.done().catch(() => {}))),
      sleep(Math.max(0, deadline - Date.now())).then(() => {
        throw new Error(`closing did not finish in time\n${describe(kafka, scenario)}`)
      }),
    ])
  } finally {
    for (const instance of instances) {
      if (!instance.stopped) kafka.crash(instance.port, 'end of run')
      rmSync(instance.stateDir, { recursive: true, force: true })
    }
  }
  for (let partition = 0; partition < scenario.partitions; partition += 1) {
    result.input.push(kafka.records(INPUT, partition))
    result.output.push(
      kafka.records(OUTPUT, partition).map((record) => ({
        key: decoder.decode(record.key!),
        value: JSON.parse(decoder.decode(record.value!)) as OutputValue,
      })),
    )
  }
  return result
}

/** Input ids without any output: records whose effect was lost. */
export function lostRecords(result: RunResult): string[] {
  const seen = new Set(result.output.flat().map(({ value }) => value.id))
  const lost: string[] = []
  for (const partition of result.input) {
    for (const record of partition) {
      const id = decoder.decode(record.value!)
      if (!seen.has(id)) lost.push(`${id} (input ${record.partition}@${record.offset})`)
    }
  }
  return lost
}

/**
 * Order per input partition. The outputs of input partition p all land in output partition p
 * (same key, same partitioner, same partition count), and there the input offsets they carry
 * start at the partition's first offset and never jump ahead: each next offset is at most one
 * more than the one before. A step back is a replay (after a crash or a lost task), which
 * restarts at the committed offset, never beyond what was already written.
 */
export function orderViolations(result: RunResult): string[] {
  const problems: string[] = []
  const inputById = new Map<string, FetchedRecord>()
  for (const partition of result.input) {
    for (const record of partition) inputById.set(decoder.decode(record.value!), record)
  }
  result.output.forEach((records, outputPartition) => {
    const last = new Map<number, number>()
    records.forEach(({ value }, index) => {
      const source = inputById.get(value.id)
      if (!source || source.partition !== value.partition || Number(source.offset) !== value.offset) {
        problems.push(
          `output ${outputPartition}@${index} says ${value.id} came from ${value.partition}@${value.offset}, but it was written at ${source ? `${source.partition}@${source.offset}` : 'no offset'}`,
        )
        return
      }
      if (value.partition !== outputPartition) {
        problems.push(
          `output ${outputPartition}@${index} holds a record of input partition ${value.partition}`,
        )
      }
      const previous = last.get(value.partition)
      const allowed = previous === undefined ? 0 : previous + 1
      if (value.offset > allowed) {
        problems.push(
          `output ${outputPartition}@${index}: input ${value.partition}@${value.offset} follows ${previous === undefined ? 'nothing' : `${value.partition}@${previous}`} (skipped ahead)`,
        )
      }
      last.set(value.partition, value.offset)
    })
  })
  return problems
}

/**
 * Order per key (key mode, where different keys of a partition interleave). The outputs of input
 * partition p land in output partition p; there, the records of each key carry input offsets
 * that start at the key's first offset in p and never jump ahead in the key's own sequence: each
 * next one is at most the key's next input record after the one before. A step back is a replay
 * (after a crash or a lost task), which restarts at the committed offset, skipping only records
 * already done (the completed-offset map).
 */
export function keyOrderViolations(result: RunResult): string[] {
  const problems: string[] = []
  const inputById = new Map<string, FetchedRecord>()
  /** Per input partition and key: the key's input offsets, and each offset's index in them. */
  const sequences = new Map<string, { offsets: number[]; index: Map<number, number> }>()
  for (const partition of result.input) {
    for (const record of partition) {
      inputById.set(decoder.decode(record.value!), record)
      const name = `${record.partition}/${decoder.decode(record.key!)}`
      const sequence = sequences.get(name) ?? { offsets: [] as number[], index: new Map<number, number>() }
      sequence.index.set(Number(record.offset), sequence.offsets.length)
      sequence.offsets.push(Number(record.offset))
      sequences.set(name, sequence)
    }
  }
  result.output.forEach((records, outputPartition) => {
    const last = new Map<string, number>()
    records.forEach(({ key, value }, index) => {
      const source = inputById.get(value.id)
      if (!source || source.partition !== value.partition || Number(source.offset) !== value.offset) {
        problems.push(
          `output ${outputPartition}@${index} says ${value.id} came from ${value.partition}@${value.offset}, but it was written at ${source ? `${source.partition}@${source.offset}` : 'no offset'}`,
        )
        return
      }
      if (value.partition !== outputPartition) {
        problems.push(
          `output ${outputPartition}@${index} holds a record of input partition ${value.partition}`,
        )
      }
      const name = `${value.partition}/${key}`
      const sequence = sequences.get(name)!
      const position = sequence.index.get(value.offset)!
      const previous = last.get(name)
      const allowed = previous === undefined ? 0 : previous + 1
      if (position > allowed) {
        problems.push(
          `output ${outputPartition}@${index}: key ${key} at input ${value.partition}@${value.offset} follows ${previous === undefined ? 'nothing' : `${value.partition}@${sequence.offsets[previous]}`} (skipped ahead of ${value.partition}@${sequence.offsets[allowed]})`,
        )
      }
      last.set(name, position)
    })
  })
  return problems
}

/** Per key: the true count, the last count written to the output, and the last one in the changelog. */
export function finalCounts(
  result: RunResult,
): Map<string, { truth: number; output?: number; changelog?: number }> {
  const counts = new Map<string, { truth: number; output?: number; changelog?: number }>()
  for (const partition of result.input) {
    for (const record of partition) {
      const key = decoder.decode(record.key!)
      const entry = counts.get(key) ?? { truth: 0 }
      entry.truth += 1
      counts.set(key, entry)
    }
  }
  for (const { key, value } of result.output.flat()) {
    const entry = counts.get(key) ?? { truth: 0 }
    entry.output = value.count
    counts.set(key, entry)
  }
  const changelog = `${APPLICATION_ID}-${STORE}-changelog`
  if (result.kafka.hasTopic(changelog)) {
    for (const record of result.kafka.records(changelog)) {
      const key = decoder.decode(record.key!)
      const entry = counts.get(key) ?? { truth: 0 }
      entry.changelog = record.value ? Number(Buffer.from(record.value).readBigInt64BE()) : 0
      counts.set(key, entry)
    }
  }
  return counts
}
