// Waiting on the run's progress, for the scenarios: times are waited on conditions (progress of
// the output), never assumed.
import type { ScenarioContext } from './scenario.js'

export const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds))

/** Waits until the output holds `share` of the input's words; false when it stalls past the drain timeout. */
export async function progressReaches(context: ScenarioContext, share: number): Promise<boolean> {
  const deadline = Date.now() + context.settings.drainTimeoutMs
  while (context.tally.progress < share) {
    if (Date.now() > deadline) {
      context.failedChecks.push(
        `the output stalled at ${(context.tally.progress * 100).toFixed(1)}% of the words (waited ${context.settings.drainTimeoutMs} ms for ${(share * 100).toFixed(1)}%)`,
      )
      return false
    }
    await sleep(100)
  }
  return true
}

/**
 * The instances rode an outage out: each started once, alive, and back in state `running`. What
 * failed goes to the run's failed checks.
 */
export function checkInstancesRodeItOut(context: ScenarioContext, outage: string): void {
  for (const instance of context.instances) {
    if (instance.starts !== 1)
      context.failedChecks.push(`instance ${instance.name} was started ${instance.starts} times`)
    if (!instance.alive) context.failedChecks.push(`instance ${instance.name} did not survive the ${outage}`)
    if (instance.lastState !== 'running')
      context.failedChecks.push(`instance ${instance.name} ended in state ${instance.lastState}, not running`)
  }
}
