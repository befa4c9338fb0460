// Reads single samples out of a registry for the assertions of the unit tests.
import { channel } from 'node:diagnostics_channel'
import type { Registry } from 'prom-client'

/** Publishes `message` on a kstreams channel the way core does. */
export function publish(name: string, message: unknown): void {
  channel(name).publish(message)
}

/**
 * The value of the sample `name` (for a histogram `<name>_bucket`, `_sum` or `_count`) whose labels
 * are exactly `labels`, or undefined when there is none.
 */
export async function sample(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const wanted = Object.entries(labels)
  for (const metric of await registry.getMetricsAsJSON()) {
    for (const value of metric.values) {
      const sampleName = (value as { metricName?: string }).metricName ?? metric.name
      if (sampleName !== name) continue
      const actual = Object.entries(value.labels)
      if (
        actual.length === wanted.length &&
        wanted.every(([label, expected]) => String(value.labels[label]) === expected)
      ) {
        return value.value
      }
    }
  }
  return undefined
}

/** Label sets of every sample named `name`, to check that a series is gone. */
export async function seriesOf(registry: Registry, name: string): Promise<Array<Record<string, string>>> {
  const found: Array<Record<string, string>> = []
  for (const metric of await registry.getMetricsAsJSON()) {
    for (const value of metric.values) {
      const sampleName = (value as { metricName?: string }).metricName ?? metric.name
      if (sampleName !== name) continue
      found.push(
        Object.fromEntries(
          Object.entries(value.labels).map(([label, labelValue]) => [label, String(labelValue)]),
        ),
      )
    }
  }
  return found
}
