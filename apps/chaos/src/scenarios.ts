// The scenarios R1–R4 (issue 15); R5 and R6 are in store-outages.ts. Each applies its faults while the input is fed; the runner
// checks the output against the truth afterwards. Times are waited on conditions (progress of the
// output, an instance running), never assumed.
import { sessionTimeoutMs } from './broker.js'
import type { Instance } from './instances.js'
import { processorFaultEnv } from './processor-faults.js'
import { checkInstancesRodeItOut, progressReaches, sleep } from './progress.js'
import type { Scenario, ScenarioContext } from './scenario.js'
import { objectStorageOutage, redisOutage } from './store-outages.js'

function pick<T>(items: T[], random: () => number): T | undefined {
  return items.length === 0 ? undefined : items[Math.floor(random() * items.length)]
}

const running = (context: ScenarioContext) => context.instances.filter((instance) => instance.alive)

export const killStorm: Scenario = {
  name: 'r1',
  title: 'kill storm: SIGKILLs of random instances, each restarted on its state directory',
  full: { records: 1_000_000, kills: 50 },
  ci: { records: 30_000, kills: 5 },
  async run(context) {
    const { settings, random } = context
    context.faults.kills = 0
    const restarts: Array<Promise<void>> = []
    for (let kill = 1; kill <= settings.kills; kill += 1) {
      // Kills spread over the run by progress, so each lands while there is work left.
      if (!(await progressReaches(context, kill / (settings.kills + 1)))) break
      let victim = pick(running(context), random)
      while (!victim) {
        await sleep(100)
        victim = pick(running(context), random)
      }
      await victim.kill()
      context.faults.kills += 1
      context.log(
        `kill ${kill}: ${victim.name} at ${(context.tally.progress * 100).toFixed(1)}% of the words`,
      )
      // Restarted 0.5–3 s later, as a supervisor would; the storm does not wait for it to run.
      const restartAfterMs = 500 + random() * 2500
      const restarted = victim
      restarts.push(sleep(restartAfterMs).then(() => restarted.start()))
      await sleep(1000 + random() * 1000)
    }
    await Promise.all(restarts)
  },
}

/** When each R2 run stopped its broker. */
const outageStarts = new WeakMap<ScenarioContext, number>()

export const brokerRestart: Scenario = {
  name: 'r2',
  title: 'broker restart: the broker stops for 15 s mid-run and starts again on its data',
  full: { records: 300_000, linesPerSecond: 5000, outageMs: 15_000 },
  ci: { records: 40_000, linesPerSecond: 2000, outageMs: 15_000 },
  async run(context) {
    const { broker, feeder, reader, settings } = context
    if (!(await progressReaches(context, 0.25))) return
    // The feeder and the reader step aside (they are the runner's, not the app's); the
    // instances stay as they are and must ride it out.
    await feeder.hold()
    await reader.stop()
    context.log(`broker stopped at ${(context.tally.progress * 100).toFixed(1)}% of the words`)
    const stoppingAt = Date.now()
    await broker.stop({ keep: true })
    const stoppedAt = Date.now()
    await sleep(settings.outageMs)
    const startingAt = Date.now()
    await broker.start({ keep: true })
    const backAt = Date.now()
    const seconds = (milliseconds: number) => Math.round(milliseconds / 100) / 10
    context.log(
      `broker back: stopping took ${seconds(stoppedAt - stoppingAt)} s, down ${seconds(startingAt - stoppedAt)} s, starting ${seconds(backAt - startingAt)} s`,
    )
    context.faults.outages = 1
    // From the stop's beginning until the broker was ready again (stop and start take seconds).
    context.faults.unreachableSeconds = seconds(backAt - stoppingAt)
    context.faults.downSeconds = seconds(startingAt - stoppedAt)
    await reader.start()
    feeder.release()
    outageStarts.set(context, stoppingAt)
  },
  finalChecks(context) {
    checkInstancesRodeItOut(context, 'outage')
    let degraded = 0
    for (const instance of context.instances) {
      const states = instance.statesSince(outageStarts.get(context) ?? Number.POSITIVE_INFINITY)
      if (states.includes('degraded')) degraded += 1
    }
    context.faults.instancesDegraded = degraded
  },
}

export const rebalanceStorm: Scenario = {
  name: 'r3',
  title: 'rebalance storm: an instance joins or leaves (gracefully) every 5 s',
  full: { records: 400_000, linesPerSecond: 3000, durationMs: 120_000, intervalMs: 5000 },
  ci: { records: 40_000, linesPerSecond: 1200, durationMs: 30_000, intervalMs: 5000 },
  async run(context) {
    const { settings, random } = context
    context.faults.joins = 0
    context.faults.leaves = 0
    const startedAt = Date.now()
    const stopped: Instance[] = []
    for (let step = 1; Date.now() - startedAt < settings.durationMs; step += 1) {
      const dueAt = startedAt + step * settings.intervalMs
      if (dueAt > Date.now()) await sleep(dueAt - Date.now())
      const alive = running(context)
      const join = alive.length <= 2 || (alive.length < 4 && random() < 0.5)
      if (join) {
        const instance =
          stopped.length > 0 ? stopped.splice(Math.floor(random() * stopped.length), 1)[0]! : undefined
        const joiner = instance ?? context.newInstance()
        if (!instance) context.instances.push(joiner)
        await joiner.start()
        context.faults.joins += 1
        context.log(`join ${joiner.name} (${alive.length + 1} instances)`)
      } else {
        const leaver = pick(alive, random)!
        context.log(`leave ${leaver.name} (${alive.length - 1} instances)`)
        await leaver.stop()
        stopped.push(leaver)
        context.faults.leaves += 1
      }
    }
    // Back to three instances for the rest of the run.
    while (running(context).length < 3 && stopped.length > 0) await stopped.pop()!.start()
  },
}

export const slowAndHungProcessors: Scenario = {
  name: 'r4',
  title: `slow and hung processors: counts past processingTimeoutMs (the instance stops and is restarted), hangs past the ${sessionTimeoutMs / 1000} s session timeout (the instance rejoins by itself)`,
  full: { records: 200_000, linesPerSecond: 3000 },
  ci: { records: 20_000, linesPerSecond: 1000 },
  instanceEnv: (settings) => ({
    CHAOS_PROCESSING_TIMEOUT_MS: '1000',
    ...processorFaultEnv({
      slowProbability: 1 / 2000,
      slowMs: 2500,
      hangProbability: 1 / 2000,
      hangMs: sessionTimeoutMs + 3000,
      hangLimit: 1,
      // Each slot's first start (CI), or first three (full scale), has faults.
      faultyStarts: settings.records >= 100_000 ? 3 : 1,
      seed: settings.seed,
    }),
  }),
  expectedFailures: { KSTREAMS_TIMEOUT: 'processingTimeouts' },
  async run() {
    // The faults are in the processor; the instances live with them while the input is fed.
  },
  finalChecks(context) {
    const hung = context.instances.reduce((sum, instance) => sum + instance.events.hung, 0)
    const slow = context.instances.reduce((sum, instance) => sum + instance.events.slow, 0)
    context.faults.hangs = hung
    context.faults.slowCounts = slow
    if (hung === 0) context.failedChecks.push('no processor hung: the run did not test what it claims')
    if (slow === 0) context.failedChecks.push('no count was slow: the run did not test what it claims')
    for (const instance of context.instances)
      if (!instance.alive) context.failedChecks.push(`instance ${instance.name} is not running at the end`)
  },
}

export const scenarios: readonly Scenario[] = [
  killStorm,
  brokerRestart,
  rebalanceStorm,
  slowAndHungProcessors,
  objectStorageOutage,
  redisOutage,
]
