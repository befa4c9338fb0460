// The private broker of a chaos run: the shared broker on 9092 serves everyone else and must never
// be stopped, and R2 stops this one. Its consumer-group session timeout is 6 s (the broker's
// default is 45 s), so that a killed or hung member's partitions move on within seconds.
import { type DedicatedKafka, startDedicatedKafka } from '@kstreams/test-helpers'

export const sessionTimeoutMs = 6000

export function startChaosBroker(port: number): Promise<DedicatedKafka> {
  return startDedicatedKafka({
    port,
    // Beside the load of other work on a small machine, a start has taken more than 2 minutes.
    readyTimeoutS: 300,
    properties: {
      'group.consumer.session.timeout.ms': sessionTimeoutMs,
      'group.consumer.min.session.timeout.ms': 3000,
      'group.consumer.heartbeat.interval.ms': 1000,
      'group.consumer.min.heartbeat.interval.ms': 500,
    },
  })
}
