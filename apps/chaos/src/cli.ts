// npm run chaos -- --scenario r1|r2|r3|r4|r5|r6|all [--records N] [--ci] [--seed S] [--kills K]
//   [--duration-s S] [--interval-s S] [--outage-s S] [--rate LINES_PER_S] [--port P] [--store-port P] [--json]
// Starts a private broker (never the shared one), runs the scenarios one after the other, prints
// each report, and exits with 1 when one failed.
import { parseArgs } from 'node:util'
import { startChaosBroker } from './broker.js'
import { runningInstances } from './instances.js'
import { defaultStorePort, formatReport, type RunReport, runScenario } from './run.js'
import type { Scenario } from './scenario.js'
import { scenarios } from './scenarios.js'
import { findScenario, resolveSettings } from './settings.js'
import { runningStoreServices } from './store-service.js'

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'all' },
    records: { type: 'string' },
    seed: { type: 'string' },
    kills: { type: 'string' },
    'duration-s': { type: 'string' },
    'interval-s': { type: 'string' },
    'outage-s': { type: 'string' },
    'drain-timeout-s': { type: 'string' },
    rate: { type: 'string' },
    port: { type: 'string', default: '23092' },
    'store-port': { type: 'string', default: String(defaultStorePort) },
    ci: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
})

if (values.help) {
  console.log(
    [
      'usage: npm run chaos -- --scenario r1|r2|r3|r4|r5|r6|all [options]',
      ...scenarios.map((scenario) => `  ${scenario.name}  ${scenario.title}`),
      'options: --records N  --ci (the bounded CI sizes)  --seed S  --kills K (r1)  --duration-s S (r3)',
      '         --interval-s S (r3)  --outage-s S (r2, r5, r6)  --rate LINES_PER_S  --drain-timeout-s S  --port P',
      '         --store-port P (the private S3 or Redis server of r5, r6)  --json',
    ].join('\n'),
  )
  process.exit(0)
}

function number(option: string, scale = 1): number | undefined {
  const text = (values as { [name: string]: string | boolean | undefined })[option]
  if (text === undefined) return undefined
  const value = Number(String(text).replaceAll('_', ''))
  if (!Number.isFinite(value)) throw new Error(`--${option} must be a number, got "${text}"`)
  return value * scale
}

const selected: Scenario[] =
  values.scenario === 'all' ? [...scenarios] : values.scenario.split(',').map(findScenario)
const seed = number('seed') ?? Math.floor(Math.random() * 2 ** 31)
const plans = selected.map((scenario) => ({
  scenario,
  settings: resolveSettings(scenario, values.ci ? 'ci' : 'full', {
    records: number('records'),
    seed,
    kills: number('kills'),
    durationMs: number('duration-s', 1000),
    intervalMs: number('interval-s', 1000),
    outageMs: number('outage-s', 1000),
    drainTimeoutMs: number('drain-timeout-s', 1000),
    linesPerSecond: number('rate'),
  }),
}))

const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`)
log(`starting a private broker on 127.0.0.1:${values.port}`)
const broker = await startChaosBroker(Number(values.port))
// Interrupted: the instances and the private broker go too (they would outlive the runner).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(
      `${signal}: killing ${runningInstances.size} instance(s), stopping ${runningStoreServices.size} store server(s) and the broker`,
    )
    void Promise.all([...runningInstances].map((instance) => instance.kill()))
      .then(() => Promise.all([...runningStoreServices].map((service) => service.close())))
      .then(() => broker.close())
      .finally(() => process.exit(130))
  })
}
const reports: RunReport[] = []
try {
  for (const { scenario, settings } of plans) {
    log(`${scenario.name}: ${scenario.title}`)
    const report = await runScenario(scenario, settings, broker, log, Number(values['store-port']))
    reports.push(report)
    console.log(values.json ? JSON.stringify(report) : formatReport(report))
  }
} finally {
  await broker.close()
}
process.exit(reports.every((report) => report.passed) ? 0 : 1)
