// The node where a join's two sides (or its answers and its local results) meet: it forwards
// every record it receives, so the join's output has one name downstream nodes can hang below.
import type { ProcessorContext, ProcessorSupplier } from '../../processor.js'

export const passThrough: ProcessorSupplier<unknown, unknown, unknown, unknown> = () => {
  let context: ProcessorContext<unknown, unknown>
  return {
    init: (processorContext) => {
      context = processorContext
    },
    process: (record) => context.forward(record),
  }
}
