// One chaos run: fresh topics on the given broker, the input fed from the seed, three instances of
// the word count, the scenario's faults meanwhile, then a wait until every occurrence of the input
// is in the output (or the drain timeout), and the verdict against the truth.
import { mkdtemp } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { InputFeeder } from './feeder.js'
import { Instance, type UnexpectedExit } from './instances.js'
import { OutputReader } from './output-reader.js'
import type { ChaosBroker, Scenario, ScenarioContext, ScenarioSettings } from './scenario.js'
import { type StoreService, startStoreService } from './store-service.js'
import { OutputTally, type TallyReport } from './tally.js'
import { seededRandom, truthOf } from './workload.js'

export const partitions = 6
const initialInstances = 3
/** The private S3 or Redis server's port of R5 and R6 (the CLI's --store-port). */
export const defaultStorePort = 23370

export interface RunReport extends TallyReport {
  scenario: string
  seed: number
  recordsIn: number
  occurrences: number
  /** What the scenario did, e.g. `{ kills: 50 }`. */
  faults: { [name: string]: number }
  unexpectedExits: UnexpectedExit[]
  /** Failed checks of the scenario besides loss (e.g. R2: an instance did not survive). */
  failedChecks: string[]
  /** The output held every occurrence before the drain timeout. */
  drained: boolean
  inputResends: number
  seconds: number
  loadAverage: string
  runDir: string
  passed: boolean
}

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds))

export async function runScenario(
  scenario: Scenario,
  settings: ScenarioSettings,
  broker: ChaosBroker,
  log: (line: string) => void = () => {},
  storePort = defaultStorePort,
): Promise<RunReport> {
  const startedAt = Date.now()
  const runDir = await mkdtemp(join(tmpdir(), `kstreams-chaos-${scenario.name}-`))
  const [input, words, output] = await broker.createTopics(
    { prefix: `chaos-${scenario.name}-lines`, partitions },
    { prefix: `chaos-${scenario.name}-words`, partitions },
    { prefix: `chaos-${scenario.name}-counts`, partitions },
  )
  const applicationId = `chaos-${scenario.name}-${input!.split('-').at(-1)}`
  let store: StoreService | undefined
  if (scenario.store) {
    log(`${scenario.name}: starting a private ${scenario.store} server on 127.0.0.1:${storePort}`)
    store = await startStoreService(scenario.store, storePort, applicationId)
  }
  try {
    return await runWith(store)
  } finally {
    await store?.close()
  }

  async function runWith(store: StoreService | undefined): Promise<RunReport> {
    const workload = { lines: settings.records, seed: settings.seed }
    const truth = truthOf(workload)
    const tally = new OutputTally(truth)
    const reader = new OutputReader({
      bootstrapServers: broker.bootstrapServers,
      topic: output!,
      partitions,
      tally,
    })
    await reader.start()
    log(
      `${scenario.name}: ${settings.records} lines (${truth.occurrences} words, ${truth.counts.size} distinct), seed ${settings.seed}, run directory ${runDir}`,
    )

    const unexpectedExits: UnexpectedExit[] = []
    const faults: { [name: string]: number } = {}
    const env = {
      CHAOS_APP_ID: applicationId,
      CHAOS_BOOTSTRAP_SERVERS: broker.bootstrapServers.join(','),
      CHAOS_INPUT_TOPIC: input!,
      CHAOS_WORDS_TOPIC: words!,
      CHAOS_OUTPUT_TOPIC: output!,
      ...store?.instanceEnv,
      ...scenario.instanceEnv?.(settings),
    }
    const instances: Instance[] = []
    let slots = 0
    let finished = false
    const newInstance = (): Instance => {
      slots += 1
      const instance: Instance = new Instance({
        name: `i${slots}`,
        runDir,
        env,
        onUnexpectedExit: (exit) => {
          const expected = exit.failure === undefined ? undefined : scenario.expectedFailures?.[exit.failure]
          if (expected) {
            faults[expected] = (faults[expected] ?? 0) + 1
            log(
              `${scenario.name}: instance ${exit.instance} stopped on ${exit.failure}, as the scenario makes it; restarting it`,
            )
            if (!finished) void instance.start()
            return
          }
          unexpectedExits.push(exit)
          log(
            `${scenario.name}: instance ${exit.instance} exited on its own (code ${exit.code}, signal ${exit.signal})`,
          )
          // The run goes on (and fails): the instance comes back, as a supervisor would restart it.
          if (!finished) void sleep(1000).then(() => (finished ? undefined : instance.start()))
        },
      })
      return instance
    }
    for (let index = 0; index < initialInstances; index += 1) instances.push(newInstance())
    await Promise.all(instances.map((instance) => instance.start()))
    await Promise.all(instances.map((instance) => instance.waitRunning(120_000)))
    log(`${scenario.name}: ${instances.length} instances running`)

    const feeder = new InputFeeder({
      bootstrapServers: broker.bootstrapServers,
      topic: input!,
      workload,
      ...(settings.linesPerSecond === undefined ? {} : { linesPerSecond: settings.linesPerSecond }),
    })
    const progressLog = setInterval(
      () =>
        log(
          `${scenario.name}: ${tally.distinct} of ${truth.occurrences} words in the output (${(tally.progress * 100).toFixed(1)}%), ${feeder.produced} of ${settings.records} lines fed`,
        ),
      15_000,
    ).unref()
    const feeding = feeder.run()
    const random = seededRandom(settings.seed ^ 0x5eed)
    const context: ScenarioContext = {
      broker,
      applicationId,
      topics: { input: input!, words: words!, output: output! },
      store,
      settings,
      instances,
      newInstance,
      tally,
      reader,
      feeder,
      random,
      log: (line) => log(`${scenario.name}: ${line}`),
      faults,
      failedChecks: [],
    }
    await scenario.run(context)
    await feeding
    log(
      `${scenario.name}: faults done (${JSON.stringify(context.faults)}); input fed; waiting for the output`,
    )

    const drainDeadline = Date.now() + settings.drainTimeoutMs
    while (!tally.complete && Date.now() < drainDeadline) await sleep(250)
    const drained = tally.complete
    // Duplicates may still be on their way: wait until the output has been quiet for 3 s.
    let quietSince = Date.now()
    let lastCount = tally.recordsOut
    const settleDeadline = Date.now() + 30_000
    while (Date.now() - quietSince < 3000 && Date.now() < settleDeadline) {
      await sleep(250)
      if (tally.recordsOut !== lastCount) {
        lastCount = tally.recordsOut
        quietSince = Date.now()
      }
    }
    finished = true
    clearInterval(progressLog)
    scenario.finalChecks?.(context)
    await Promise.all(instances.map((instance) => instance.stop()))
    await reader.stop()

    const report = tally.report()
    const seconds = (Date.now() - startedAt) / 1000
    const failedChecks = context.failedChecks
    return {
      scenario: scenario.name,
      seed: settings.seed,
      recordsIn: settings.records,
      occurrences: truth.occurrences,
      ...report,
      faults: context.faults,
      unexpectedExits,
      failedChecks,
      drained,
      inputResends: feeder.resends,
      seconds,
      loadAverage: loadavg()
        .map((value) => value.toFixed(1))
        .join(' '),
      runDir,
      passed:
        report.lost === 0 &&
        report.keysShort === 0 &&
        report.unexpected === 0 &&
        unexpectedExits.length === 0 &&
        failedChecks.length === 0,
    }
  }
}

/** The report as the runner prints it. */
export function formatReport(report: RunReport): string {
  const lines = [
    `scenario ${report.scenario} (seed ${report.seed}): ${report.passed ? 'PASSED' : 'FAILED'}`,
    `  records in        ${report.recordsIn} lines, ${report.occurrences} words`,
    `  records out       ${report.recordsOut}`,
    `  lost              ${report.lost}${report.lostExamples.length > 0 ? ` (occurrence ids ${report.lostExamples.join(', ')}, …)` : ''}${report.drained ? '' : ` (the output was not complete within the drain timeout: lost or never processed)`}`,
    `  duplicates        ${report.duplicates}${report.inputResends > 0 ? ` (input sends repeated: ${report.inputResends})` : ''}`,
    `  final counts      ${report.keys} keys: ${report.keysExact} exact, ${report.keysAbove} above the truth, ${report.keysShort} below`,
    `  faults            ${Object.entries(report.faults)
      .map(([name, value]) => `${name} ${value}`)
      .join(', ')}`,
    `  time              ${report.seconds.toFixed(1)} s (load average ${report.loadAverage})`,
    `  logs              ${report.runDir}`,
  ]
  if (report.unexpected > 0)
    lines.push(`  unexpected output ${report.unexpected} records naming no input word`)
  for (const example of report.shortExamples) lines.push(`  short             ${example}`)
  for (const exit of report.unexpectedExits)
    lines.push(
      `  unexpected exit   ${exit.instance} (code ${exit.code}, signal ${exit.signal}):\n${exit.logTail}`,
    )
  for (const check of report.failedChecks) lines.push(`  failed check      ${check}`)
  return lines.join('\n')
}
