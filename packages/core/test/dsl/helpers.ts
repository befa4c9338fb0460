import { StreamsBuilder, serdes, silentLogger, type Topology } from '../../src/index.js'
import { TopologyTestDriver } from '../../src/testing/index.js'

export const string = serdes.string()
export const number = serdes.float64()

/** A builder that keeps its build-time warnings, for assertions. */
export function builder(): { builder: StreamsBuilder; warnings: string[] } {
  const warnings: string[] = []
  const logger = { ...silentLogger, warn: (message: string) => warnings.push(message) }
  return { builder: new StreamsBuilder({ logger }), warnings }
}

/** Runs `test` with a driver over `topology`, then closes the driver. */
export async function withDriver(
  topology: Topology,
  test: (driver: TopologyTestDriver) => Promise<void>,
): Promise<void> {
  const driver = new TopologyTestDriver(topology, { applicationId: 'dsl' })
  try {
    await test(driver)
  } finally {
    await driver.close()
  }
}
