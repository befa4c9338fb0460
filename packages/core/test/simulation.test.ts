// Property tests of the runtime on the simulated Kafka: over many seeds, with instances joining,
// leaving, crashing (also between "changelog flushed" and "offsets committed"), fenced members,
// failing produce requests, and slow and hung processor calls.
//
// A failure prints fast-check's seed and path. Replay it with
//   KSTREAMS_SIM_SEED=<seed> KSTREAMS_SIM_PATH=<path> npx vitest run --project unit test/simulation.test.ts
// More runs: KSTREAMS_SIM_RUNS=500. Shrink a failure to a smaller scenario: KSTREAMS_SIM_SHRINK=1.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { GroupConsumer } from '../src/index.js'
import {
  finalCounts,
  keyOrderViolations,
  lostRecords,
  orderViolations,
  type PlannedEvent,
  type RunResult,
  runScenario,
  type Scenario,
  type ScenarioKind,
} from './simulation-harness.js'

const runs = Number(process.env.KSTREAMS_SIM_RUNS ?? 25)
// The test suite runs the same scenarios every time, so that a red run points at a change, not at
// a new draw. New scenarios every run: KSTREAMS_SIM_SEED=random (`npm run test:soak` runs 200).
const seedText = process.env.KSTREAMS_SIM_SEED ?? '20261202'
const seed = seedText === 'random' ? undefined : Number(seedText)
const path = process.env.KSTREAMS_SIM_PATH
const shrink = process.env.KSTREAMS_SIM_SHRINK === '1'

/**
 * Scenarios of `kind`: instances join, leave, crash and crash inside a commit, with slow and hung
 * processor calls. With `produceFailures`, one or two sends of the run fail; with `fences`, two to
 * four members are fenced besides.
 */
function scenarios(
  kind: ScenarioKind,
  faults: { produceFailures?: boolean; fences?: boolean; concurrency?: 'partition' | 'key' } = {},
): fc.Arbitrary<Scenario> {
  const at = fc.double({ min: 0, max: 0.95, noNaN: true })
  const event: fc.Arbitrary<PlannedEvent> = fc.record({
    kind: fc.constantFrom('join', 'leave', 'crash', 'crash-on-commit'),
    atProgress: at,
  })
  const fence: fc.Arbitrary<PlannedEvent> = fc.record({ kind: fc.constant('fence'), atProgress: at })
  return fc.record({
    kind: fc.constant(kind),
    concurrency: fc.constant(faults.concurrency ?? 'partition'),
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
    partitions: fc.integer({ min: 1, max: 4 }),
    records: fc.integer({ min: 200, max: 1500 }),
    keys: fc.integer({ min: 1, max: 40 }),
    instances: fc.integer({ min: 1, max: 2 }),
    events: faults.fences
      ? fc
          .tuple(fc.array(event, { maxLength: 3 }), fc.array(fence, { minLength: 2, maxLength: 4 }))
          .map(([others, fences]) => [...others, ...fences])
      : fc.array(event, { maxLength: 5 }),
    failSends: faults.produceFailures
      ? fc.uniqueArray(fc.integer({ min: 0, max: 150 }), { minLength: 1, maxLength: 2 })
      : fc.constant([]),
    slowRate: fc.constantFrom(0, 0.01, 0.05),
    hungRate: fc.constantFrom(0, 0.002),
    failRate: fc.constantFrom(0, 0, 0.02),
  })
}

/** Every kind of fault, early and late: run first, so each property run has them all at least once. */
function everyFault(
  kind: ScenarioKind,
  faults: { produceFailures?: boolean; fences?: boolean; concurrency?: 'partition' | 'key' } = {},
): Scenario {
  return {
    kind,
    concurrency: faults.concurrency ?? 'partition',
    seed: 20240601,
    partitions: 3,
    records: 800,
    keys: 12,
    instances: 2,
    events: [
      { kind: 'crash-on-commit', atProgress: 0.1 },
      { kind: 'join', atProgress: 0.2 },
      ...(faults.fences ? [{ kind: 'fence' as const, atProgress: 0.35 }] : []),
      { kind: 'crash', atProgress: 0.5 },
      { kind: 'leave', atProgress: 0.6 },
      { kind: 'crash-on-commit', atProgress: 0.7 },
    ],
    failSends: faults.produceFailures ? [60] : [],
    slowRate: 0.05,
    hungRate: 0.002,
    failRate: 0.02,
  }
}

const smallestProduceFailure: [Scenario] = [
  {
    kind: 'stateless',
    seed: 1,
    partitions: 2,
    records: 200,
    keys: 4,
    instances: 1,
    events: [],
    failSends: [5],
    slowRate: 0,
    hungRate: 0,
  },
]

interface Totals {
  runs: number
  commitCrashes: number
  commitCrashesWithChangelogAhead: number
  crashes: number
  fences: number
  produceFailures: number
  lostAcks: number
  rebalances: number
  slowCalls: number
  hungCalls: number
  retriedCalls: number
  uncleanRuns: number
  cleanRuns: number
  durationMs: number
}

function newTotals(): Totals {
  return {
    runs: 0,
    commitCrashes: 0,
    commitCrashesWithChangelogAhead: 0,
    crashes: 0,
    fences: 0,
    produceFailures: 0,
    lostAcks: 0,
    rebalances: 0,
    slowCalls: 0,
    hungCalls: 0,
    retriedCalls: 0,
    uncleanRuns: 0,
    cleanRuns: 0,
    durationMs: 0,
  }
}

function count(totals: Totals, result: RunResult, durationMs: number): void {
  const { faults } = result.kafka
  totals.runs += 1
  totals.commitCrashes += result.commitCrashes.length
  totals.commitCrashesWithChangelogAhead += result.commitCrashes.filter(
    (crash) => crash.changelogAhead > 0,
  ).length
  totals.crashes += faults.crashes
  totals.fences += faults.fences
  totals.produceFailures += faults.produceFailures
  totals.lostAcks += faults.lostAcks
  totals.rebalances += faults.rebalances
  totals.slowCalls += result.processorCalls.slow
  totals.hungCalls += result.processorCalls.hung
  totals.retriedCalls += result.processorCalls.failed
  if (result.uncleanStops > 0) totals.uncleanRuns += 1
  else totals.cleanRuns += 1
  totals.durationMs += durationMs
}

function assertOptions(
  kind: ScenarioKind,
  faults: { produceFailures?: boolean; fences?: boolean; concurrency?: 'partition' | 'key' } = {},
) {
  return {
    numRuns: runs,
    verbose: true,
    endOnFailure: !shrink,
    // Always the same examples, so that a replayed path points at the same run.
    examples: [
      [everyFault(kind, faults)] as [Scenario],
      // And one without an unclean stop, where counts must equal the truth.
      [
        {
          ...everyFault(kind, { concurrency: faults.concurrency }),
          events: everyFault(kind).events.filter((event) => event.kind === 'join' || event.kind === 'leave'),
        },
      ] as [Scenario],
    ],
    ...(seed === undefined ? {} : { seed }),
    ...(path === undefined ? {} : { path }),
  }
}

/** The problems of one run, with what happened in it, for the failure report. */
function report(result: RunResult, problems: string[]): string {
  return [
    `${problems.length} problem(s), first ones:`,
    ...problems.slice(0, 8),
    `unclean stops: ${result.uncleanStops}; instances: ${result.instancesStarted}; failures: ${JSON.stringify(result.failures.slice(0, 3))}`,
    `faults: ${JSON.stringify(result.kafka.faults)}`,
    `events: ${JSON.stringify(result.kafka.events.filter((event) => event.kind !== 'rebalance').slice(0, 30))}`,
  ].join('\n')
}

/** What must hold after every run: nothing lost, order per partition, no group rule broken, counts. */
function problemsOf(result: RunResult, scenario: Scenario): string[] {
  const problems = [
    ...lostRecords(result).map((id) => `lost: ${id}`),
    ...(scenario.concurrency === 'key' ? keyOrderViolations(result) : orderViolations(result)),
    ...result.kafka.violations.map((violation) => `violation: ${violation}`),
  ]
  if (scenario.kind === 'stateful') {
    for (const [key, { truth, output, changelog }] of finalCounts(result)) {
      if (output === undefined || output < truth)
        problems.push(`${key}: count ${output} below the truth ${truth}`)
      else if (result.uncleanStops === 0 && output !== truth) {
        problems.push(`${key}: count ${output}, truth ${truth}, and no instance stopped uncleanly`)
      }
      if (changelog !== output)
        problems.push(`${key}: the changelog ends at ${changelog}, the output at ${output}`)
    }
  }
  return problems
}

function property(arbitrary: fc.Arbitrary<Scenario>, totals: Totals) {
  return fc.asyncProperty(arbitrary, async (scenario) => {
    const started = Date.now()
    const result = await runScenario(scenario)
    count(totals, result, Date.now() - started)
    const problems = problemsOf(result, scenario)
    if (problems.length > 0) throw new Error(report(result, problems))
  })
}

describe('simulation: the runtime on a simulated Kafka, over many seeds', () => {
  it('stateless: no input record is lost, per-partition order holds, the runtime breaks no group rule', async () => {
    const totals = newTotals()
    await fc.assert(property(scenarios('stateless'), totals), assertOptions('stateless'))
    console.info(`stateless simulation: ${JSON.stringify(totals)}`)
    // Not vacuous: the faults were injected.
    expect(totals.crashes).toBeGreaterThan(0)
    expect(totals.commitCrashes).toBeGreaterThan(0)
    expect(totals.rebalances).toBeGreaterThan(0)
    expect(totals.slowCalls).toBeGreaterThan(0)
    expect(totals.hungCalls).toBeGreaterThan(0)
    expect(totals.retriedCalls).toBeGreaterThan(0)
  }, 300_000)

  it('stateful: counts restored after a crash are at least the truth, and equal to it without a crash', async () => {
    const totals = newTotals()
    await fc.assert(property(scenarios('stateful'), totals), assertOptions('stateful'))
    console.info(`stateful simulation: ${JSON.stringify(totals)}`)
    // Not vacuous: instances crashed with changelog entries flushed beyond the committed input,
    // and others restored from those changelogs; some runs had no unclean stop at all.
    expect(totals.commitCrashesWithChangelogAhead).toBeGreaterThan(0)
    expect(totals.uncleanRuns).toBeGreaterThan(0)
    expect(totals.cleanRuns).toBeGreaterThan(0)
  }, 300_000)

  it('key mode, stateless: nothing is lost, per-key order holds while keys interleave', async () => {
    const totals = newTotals()
    let interleaved = 0
    await fc.assert(
      fc.asyncProperty(scenarios('stateless', { concurrency: 'key' }), async (scenario) => {
        const started = Date.now()
        const result = await runScenario(scenario)
        count(totals, result, Date.now() - started)
        if (orderViolations(result).length > 0) interleaved += 1
        const problems = problemsOf(result, scenario)
        if (problems.length > 0) throw new Error(report(result, problems))
      }),
      assertOptions('stateless', { concurrency: 'key' }),
    )
    console.info(`key-mode stateless simulation: ${JSON.stringify({ ...totals, interleaved })}`)
    expect(totals.crashes).toBeGreaterThan(0)
    expect(totals.commitCrashes).toBeGreaterThan(0)
    // Not vacuous: in some runs, records of different keys overtook each other in a partition.
    expect(interleaved).toBeGreaterThan(0)
  }, 300_000)

  it('key mode, stateful (an await between each read and write of a count): counts ≥ the truth, = without an unclean stop; per-key order', async () => {
    const totals = newTotals()
    await fc.assert(
      property(scenarios('stateful', { concurrency: 'key' }), totals),
      assertOptions('stateful', { concurrency: 'key' }),
    )
    console.info(`key-mode stateful simulation: ${JSON.stringify(totals)}`)
    expect(totals.commitCrashes).toBeGreaterThan(0)
    expect(totals.uncleanRuns).toBeGreaterThan(0)
    expect(totals.cleanRuns).toBeGreaterThan(0)
  }, 300_000)

  // Fails on the runtime as of 13d23b8 (where this branch started): after a send fails, the
  // record collector goes on sending the records processed next, so the output partition gets a
  // gap (the failed batch) that the replay after the restart fills later, out of order. Kafka
  // Streams refuses every send once one failed (RecordCollectorImpl.checkForException).
  it('produce failures: nothing is lost and per-partition order holds after a failed send', async () => {
    const totals = newTotals()
    await fc.assert(
      property(
        fc.oneof(
          scenarios('stateless', { produceFailures: true }),
          scenarios('stateful', { produceFailures: true }),
        ),
        totals,
      ),
      {
        ...assertOptions('stateless', { produceFailures: true }),
        // The smallest scenario found that shows it (about 7 runs in 10; the interleaving with real
        // timers varies): one instance, no other fault, the sixth send fails.
        examples: [
          smallestProduceFailure,
          [everyFault('stateless', { produceFailures: true })] as [Scenario],
        ],
      },
    )
    console.info(`produce-failure simulation: ${JSON.stringify(totals)}`)
    expect(totals.produceFailures).toBeGreaterThan(0)
  }, 300_000)

  // Fails now and then on the runtime as of 13d23b8 (about 1 run in 150 with one fence; more
  // fences per run here): a fenced member's lost task had records in the record collector's
  // linger batch; onLost closed the task but the collector still sent them after onLost resolved,
  // so they landed after the new owner's replay (seen: input offsets 194..199 written by the
  // fenced instance after the new owner had written 0..25). DESIGN: results from a revoked epoch
  // are dropped. Seen with fast-check seed -2071580697 path 82 (KSTREAMS_SIM_RUNS=150).
  it('fenced members: nothing is lost and per-partition order holds; results of lost tasks are dropped', async () => {
    const totals = newTotals()
    await fc.assert(
      property(
        fc.oneof(
          scenarios('stateless', { fences: true }),
          scenarios('stateful', { fences: true }),
          scenarios('stateful', { fences: true, concurrency: 'key' }),
        ),
        totals,
      ),
      assertOptions('stateless', { fences: true }),
    )
    console.info(`fence simulation: ${JSON.stringify(totals)}`)
    expect(totals.fences).toBeGreaterThan(0)
  }, 300_000)

  it('is not vacuous: a planted bug (offsets committed ahead of processing) shows up as lost records', async () => {
    const result = await runScenario(
      {
        ...smallestProduceFailure[0],
        partitions: 1,
        records: 600,
        failSends: [],
        slowRate: 0.2,
        events: [{ kind: 'crash', atProgress: 0.4 }],
      },
      {
        // Commits every partition up to its end, whatever was processed: as a runtime that
        // committed fetched offsets instead of processed ones would.
        wrapPort: (port, kafka) => ({
          ...port,
          createConsumer: (options) => {
            const consumer = port.createConsumer(options)
            const wrapped: GroupConsumer = {
              subscribe: () => consumer.subscribe(),
              poll: (maxWaitMs) => consumer.poll(maxWaitMs),
              pause: (partitions) => consumer.pause(partitions),
              resume: (partitions) => consumer.resume(partitions),
              seek: (partition, offset) => consumer.seek(partition, offset),
              committed: (partitions) => consumer.committed(partitions),
              commit: (offsets) =>
                consumer.commit(
                  offsets.map((offset) => ({
                    ...offset,
                    offset: kafka.endOffset(offset.topic, offset.partition),
                  })),
                ),
              generation: () => consumer.generation(),
              assignment: () => consumer.assignment(),
              close: () => consumer.close(),
            }
            return wrapped
          },
        }),
      },
    )
    expect(result.kafka.faults.crashes).toBe(1)
    expect(lostRecords(result).length).toBeGreaterThan(0)
  }, 60_000)
})
