// The state every DSL object shares with its StreamsBuilder: the Processor API builder the DSL
// writes into (one engine: the DSL only adds sources, processors, sinks, stores and internal
// topics), the counter behind generated names, and the names that came from positions.
import { TopologyError } from '../errors.js'
import type { InternalTopicOptions } from '../internal-topics.js'
import type { Logger } from '../logger.js'
import type { ProcessorSupplier } from '../processor.js'
import type { StoreBuilder } from '../state-store.js'
import { type ProcessorOptions, type SinkOptions, type SourceOptions, TopologyBuilder } from '../topology.js'

/** Processor options the DSL passes through (`parents` comes from the stream). */
export type NodeOptions = Omit<ProcessorOptions<string>, 'parents'>

/** @internal shared by the DSL classes; not part of the public API. */
export class DslGraph {
  // The DSL checks types itself, so it writes into an untyped Processor API builder.
  readonly topology = new TopologyBuilder<{ [name: string]: readonly [unknown, unknown] }>()
  /** Internal resource names (stores, repartition topics) that came from generated node names. */
  readonly generatedInternalNames: string[] = []
  readonly #stores = new Set<string>()
  #counter = 0

  constructor(readonly options: { logger: Logger; requireNames: boolean }) {}

  /** A user's name, or a Kafka-Streams-like generated one (`KSTREAM-FILTER-0000000003`). */
  nodeName(prefix: string, named: string | undefined): string {
    if (named !== undefined) {
      if (typeof named !== 'string' || named === '') {
        throw new TopologyError(`a name given to ${prefix.toLowerCase()} must be a non-empty string`)
      }
      return named
    }
    return `${prefix}-${String(this.#counter++).padStart(10, '0')}`
  }

  /**
   * The name of a store or internal topic: the user's, or one made from a generated node name. A
   * generated one changes when the topology changes shape, which orphans state and topics, so it is
   * recorded (and warned about at build time, as KIP-1111 does).
   */
  internalName(what: string, named: string | undefined, generated: () => string): string {
    if (named !== undefined) return this.nodeName(what, named)
    const name = generated()
    this.generatedInternalNames.push(`${what} "${name}"`)
    return name
  }

  addSource(name: string, options: SourceOptions<unknown, unknown>): void {
    this.topology.addSource(name, options)
  }

  addProcessor(
    name: string,
    parents: readonly string[],
    supplier: ProcessorSupplier<unknown, unknown, unknown, unknown>,
    options: NodeOptions = {},
  ): void {
    this.topology.addProcessor(name, { ...options, parents: parents as [string, ...string[]] }, supplier)
  }

  addSink(
    name: string,
    parents: readonly string[],
    options: Omit<SinkOptions<unknown, unknown, string>, 'parents'>,
  ) {
    this.topology.addSink(name, { ...options, parents: parents as [string, ...string[]] })
  }

  /** Adds a store once (a store builder given to several `process` calls is shared). */
  addStore(builder: StoreBuilder): string {
    if (!this.#stores.has(builder.name)) {
      this.#stores.add(builder.name)
      this.topology.addStore(builder)
    }
    return builder.name
  }

  addInternalTopic(name: string, options: InternalTopicOptions): void {
    this.topology.addInternalTopic(name, options)
  }
}
