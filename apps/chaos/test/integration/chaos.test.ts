// The bounded chaos run of CI: every scenario at its CI size on one private broker (R2 stops it;
// R5 and R6 start their own S3 or Redis server on port 23470, and stop it)
// with the same checks as a full run. The seed is random unless KSTREAMS_CHAOS_SEED sets it; each
// report prints it, so a failure can be run again with `npm run chaos -- --ci --seed S`.
import type { DedicatedKafka } from '@kstreams/test-helpers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startChaosBroker } from '../../src/broker.js'
import { formatReport, runScenario } from '../../src/run.js'
import { scenarios } from '../../src/scenarios.js'
import { resolveSettings } from '../../src/settings.js'

const seed = Number(process.env.KSTREAMS_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31))
// The ports may be moved (KSTREAMS_CHAOS_PORT, KSTREAMS_CHAOS_STORE_PORT) to run beside another run.
const brokerPort = Number(process.env.KSTREAMS_CHAOS_PORT ?? 23192)
const storePort = Number(process.env.KSTREAMS_CHAOS_STORE_PORT ?? 23470)
let broker: DedicatedKafka

beforeAll(async () => {
  broker = await startChaosBroker(brokerPort)
}, 420_000)

afterAll(() => broker?.close())

describe('chaos (bounded)', () => {
  for (const scenario of scenarios) {
    it(`${scenario.name}: ${scenario.title}: nothing lost, every count at least the truth`, async () => {
      const settings = resolveSettings(scenario, 'ci', { seed })
      const report = await runScenario(scenario, settings, broker, (line) => console.info(line), storePort)
      console.info(formatReport(report))
      expect(report.lost, formatReport(report)).toBe(0)
      expect(report.keysShort, formatReport(report)).toBe(0)
      expect(report.unexpected).toBe(0)
      expect(report.unexpectedExits.map((exit) => `${exit.instance}:\n${exit.logTail}`)).toEqual([])
      expect(report.failedChecks).toEqual([])
      expect(report.keysExact + report.keysAbove).toBe(report.keys)
      expect(report.recordsOut).toBe(report.occurrences + report.duplicates)
      if (scenario.name === 'r1') expect(report.faults.kills).toBe(settings.kills)
      if (['r2', 'r5', 'r6'].includes(scenario.name)) expect(report.faults.outages).toBe(1)
      if (['r5', 'r6'].includes(scenario.name)) {
        expect(report.faults.committedDuringOutage).toBe(0)
        expect(report.faults.commitsResumedAfterSeconds).toBeGreaterThanOrEqual(0)
      }
      if (scenario.name === 'r3')
        expect(report.faults.joins! + report.faults.leaves!).toBeGreaterThanOrEqual(5)
      expect(report.passed).toBe(true)
    })
  }
})
