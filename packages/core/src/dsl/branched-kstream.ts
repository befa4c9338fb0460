// `split()`: records go to the first branch whose predicate matches (Kafka Streams' BranchedKStream).
// A predicate that is a type guard narrows its branch's value type. The split node forwards each
// record to one child, the branch's pass-through node, so each branch is a stream of its own.
import { TopologyError } from '../errors.js'
import type { ProcessorContext, ProcessorSupplier } from '../processor.js'
import type { KStream } from './kstream.js'

interface Branch<K, V> {
  node: string
  predicate: ((key: K, value: V) => boolean) | undefined
}

export class BranchedKStream<K, V, Branches extends { [name: string]: KStream<K, unknown> } = {}> {
  readonly #stream: KStream<K, V>
  readonly #name: string
  readonly #branches: Array<Branch<K, V>>
  readonly #result: { [name: string]: KStream<K, unknown> }
  #closed = false

  /** @internal use `KStream.split()` */
  constructor(stream: KStream<K, V>, name: string) {
    this.#stream = stream
    this.#name = name
    this.#branches = []
    this.#result = {}
    const branches = this.#branches
    const supplier: ProcessorSupplier<K, V, K, V> = () => {
      let context: ProcessorContext<K, V>
      return {
        init: (processorContext) => {
          context = processorContext
        },
        process: (record) => {
          for (const branch of branches) {
            if (branch.predicate === undefined || branch.predicate(record.key, record.value)) {
              context.forwardTo(branch.node, record)
              return
            }
          }
        },
      }
    }
    stream.graph.addProcessor(name, [stream.node], supplier as never)
  }

  /** A branch named `name` (its node: `<split name>-<name>`) for the records `predicate` matches first. */
  branch<N extends string, V2 extends V>(
    predicate: (key: K, value: V) => value is V2,
    options: { name: N },
  ): BranchedKStream<K, V, Branches & { [key in N]: KStream<K, V2> }>
  branch<N extends string>(
    predicate: (key: K, value: V) => boolean,
    options: { name: N },
  ): BranchedKStream<K, V, Branches & { [key in N]: KStream<K, V> }>
  branch(predicate: (key: K, value: V) => boolean, options: { name: string }): unknown {
    if (typeof predicate !== 'function') {
      throw new TopologyError(`split "${this.#name}": branch "${options?.name}" needs a predicate function`)
    }
    return this.#add(options?.name, predicate)
  }

  /** The records no predicate matched, as a branch named `name`; ends the split. */
  defaultBranch<N extends string = 'default'>(options?: {
    name?: N
  }): Branches & { [key in N]: KStream<K, V> } {
    this.#add(options?.name ?? 'default', undefined)
    return this.noDefaultBranch() as never
  }

  /** Ends the split; records no predicate matched are dropped. */
  noDefaultBranch(): Branches {
    this.#closed = true
    return { ...this.#result } as Branches
  }

  #add(branchName: string, predicate: Branch<K, V>['predicate']): this {
    if (this.#closed)
      throw new TopologyError(`split "${this.#name}" already ended; add branches before defaultBranch()`)
    if (typeof branchName !== 'string' || branchName === '') {
      throw new TopologyError(`split "${this.#name}": every branch needs a non-empty name`)
    }
    if (branchName in this.#result) {
      throw new TopologyError(`split "${this.#name}": branch "${branchName}" is named twice`)
    }
    const node = `${this.#name}-${branchName}`
    const passThrough: ProcessorSupplier<K, V, K, V> = () => {
      let context: ProcessorContext<K, V>
      return {
        init: (processorContext) => {
          context = processorContext
        },
        process: (record) => context.forward(record),
      }
    }
    this.#stream.graph.addProcessor(node, [this.#name], passThrough as never)
    this.#branches.push({ node, predicate })
    this.#result[branchName] = this.#stream.derive(node)
    return this
  }
}
