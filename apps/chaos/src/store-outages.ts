// R5 and R6: the count store lives on a private server of the run (S3 through versitygw, or Redis
// with persistence), without a changelog, and that server becomes unreachable for 15 s mid-run.
// The instances must ride it out without a restart: the count tasks cannot flush, so they commit
// nothing (their input offsets on the words topic stand still, checked with the broker's own
// account), and once the server is back their commits resume; nothing is lost and no count ends
// below the truth.
import { Admin } from '@platformatic/kafka'
import { checkInstancesRodeItOut, progressReaches, sleep } from './progress.js'
import type { Scenario, ScenarioContext } from './scenario.js'

/** Commits in flight when the server stops may still land: the pause is measured from then on. */
const graceMs = 3000

/** The offsets the instances' group has committed on the words topic (the count tasks' input), summed. */
async function committedWords(admin: Admin, context: ScenarioContext): Promise<bigint> {
  const [group] = await admin.listConsumerGroupOffsets({ groups: [context.applicationId] })
  let total = 0n
  for (const topic of group?.topics ?? [])
    if (topic.name === context.topics.words)
      for (const partition of topic.partitions)
        if (partition.committedOffset > 0n) total += partition.committedOffset
  return total
}

function storeOutage(name: 'r5' | 'r6', kind: 's3' | 'redis', server: string): Scenario {
  return {
    name,
    title: `${server} outage: the store's server is unreachable for 15 s mid-run; commits pause and resume, the instances stay up`,
    store: kind,
    full: { records: 300_000, linesPerSecond: 5000, outageMs: 15_000 },
    ci: { records: 30_000, linesPerSecond: 1500, outageMs: 15_000 },
    async run(context) {
      const { broker, settings, store } = context
      if (!store) throw new Error(`chaos ${name}: the run has no ${kind} server`)
      if (!(await progressReaches(context, 0.25))) return
      const admin = new Admin({
        clientId: `${context.applicationId}-outage-check`,
        bootstrapBrokers: broker.bootstrapServers,
      })
      try {
        const seconds = (milliseconds: number) => Math.round(milliseconds / 100) / 10
        const committedAtStop = await committedWords(admin, context)
        context.log(
          `${server} stopped at ${(context.tally.progress * 100).toFixed(1)}% of the words, ${committedAtStop} words committed`,
        )
        const stoppingAt = Date.now()
        await store.stop()
        const stoppedAt = Date.now()
        await sleep(Math.min(graceMs, settings.outageMs / 2))
        const pausedAt = await committedWords(admin, context)
        const wordsOutAtPause = context.tally.distinct
        const remainingMs = stoppedAt + settings.outageMs - Date.now()
        if (remainingMs > 0) await sleep(remainingMs)
        const committedLate = await committedWords(admin, context)
        const wordsOutDuring = context.tally.distinct - wordsOutAtPause
        const startingAt = Date.now()
        await store.start()
        const backAt = Date.now()
        context.log(
          `${server} back: down ${seconds(startingAt - stoppedAt)} s; ${committedLate - pausedAt} words committed meanwhile, ${wordsOutDuring} new words in the output`,
        )
        context.faults.outages = 1
        context.faults.downSeconds = seconds(startingAt - stoppedAt)
        context.faults.unreachableSeconds = seconds(backAt - stoppingAt)
        context.faults.committedDuringOutage = Number(committedLate - pausedAt)
        context.faults.outputDuringOutage = wordsOutDuring
        if (committedLate !== pausedAt)
          context.failedChecks.push(
            `${committedLate - pausedAt} offsets of the words topic were committed while ${server} was away (from ${graceMs} ms after the stop): a commit did not wait for its store`,
          )
        // The commits resume: the group's offsets on the words topic move past where they stood.
        const deadline = Date.now() + settings.drainTimeoutMs
        while ((await committedWords(admin, context)) <= committedLate) {
          if (Date.now() > deadline) {
            context.failedChecks.push(
              `no commit of the count tasks within ${settings.drainTimeoutMs} ms after ${server} was back`,
            )
            return
          }
          await sleep(250)
        }
        context.faults.commitsResumedAfterSeconds = seconds(Date.now() - backAt)
        context.log(`commits resumed ${seconds(Date.now() - backAt)} s after ${server} was back`)
      } finally {
        await admin.close()
      }
    },
    finalChecks(context) {
      checkInstancesRodeItOut(context, `${server} outage`)
    },
  }
}

export const objectStorageOutage = storeOutage('r5', 's3', 'S3 (versitygw)')
export const redisOutage = storeOutage('r6', 'redis', 'Redis')
