// An app on SimulatedKafka as the runtime unit tests start one: quiet, no signal handlers, a short
// commit interval, fatal errors left to the test.
import { createApp, type StreamsConfig, silentLogger, type Topology } from '../src/index.js'
import type { SimulatedKafka } from '../src/testing/index.js'

/** An app of `topology` in group `applicationId`, as process `port` of `kafka`. */
export function simulatedApp(
  topology: Topology,
  kafka: SimulatedKafka,
  port: string,
  applicationId: string,
  config: Partial<StreamsConfig> = {},
) {
  return createApp(topology, {
    applicationId,
    bootstrapServers: ['sim:9092'],
    kafka: kafka.port(port),
    commitIntervalMs: 20,
    handleSignals: false,
    logger: silentLogger,
    onFatalError: () => {},
    ...config,
  })
}
