import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  createTestTopics,
  deleteTopicsWhenTestEnds,
  endpoints,
  produceStrings,
  type ReadMessage,
  readTopicUntil,
  spawnNodeScript,
  uniqueName,
} from '@kstreams/test-helpers'
import { describe, expect, it, onTestFinished } from 'vitest'

const fixture = fileURLToPath(new URL('./fixtures/counting-app.mjs', import.meta.url))

/** The last count written for each key (the output is keyed, so per-key order is kept). */
function finalCounts(messages: ReadMessage[]): Map<string, bigint> {
  const counts = new Map<string, bigint>()
  for (const message of messages) counts.set(message.key!, message.valueBytes!.readBigInt64BE())
  return counts
}

function restoredLines(output: string): Array<{ taskId: string; records: number; skipped: number }> {
  return output
    .split('\n')
    .filter((line) => line.startsWith('restored '))
    .map((line) => JSON.parse(line.slice('restored '.length)))
}

describe('state stores on a real broker', () => {
  it('fails over a stateful task: the new owner restores from the changelog and counts stay exact', async () => {
    const [input, output] = await createTestTopics(
      { prefix: 'failover-in', partitions: 3 },
      { prefix: 'failover-out', partitions: 3 },
    )
    const applicationId = uniqueName('failover')
    deleteTopicsWhenTestEnds(`${applicationId}-counts-changelog`)
    const stateDir = await mkdtemp(join(tmpdir(), 'kstreams-failover-'))
    onTestFinished(() => rm(stateDir, { recursive: true, force: true }))
    const keys = 300
    const perKey = 60
    const records = Array.from({ length: keys * perKey }, (_, index) => ({
      key: `key-${index % keys}`,
      value: `v-${index}`,
    }))
    await produceStrings(input!, records)
    const env = {
      APP_ID: applicationId,
      INPUT_TOPIC: input,
      OUTPUT_TOPIC: output,
      KAFKA_BOOTSTRAP_SERVERS: endpoints.kafkaBootstrapServers.join(','),
      STATE_DIR: stateDir,
      // Write-through: changes reach the changelog as they happen, so when the owner dies the
      // changelog holds changes of input that was never committed, which the restore must skip.
      CACHE_MAX_BYTES: '0',
    }
    const owner = spawnNodeScript(fixture, env)
    await owner.waitFor('state running')
    const killedAfter = 6000
    await readTopicUntil(output!, (read) => read.length >= killedAfter, 60_000)
    // Killed mid-stream, after at least one commit, so part of its work is committed and part is not.
    await owner.waitFor('committed')
    await owner.kill()

    const successor = spawnNodeScript(fixture, env)
    await successor.waitFor('state running')
    const messages = await readTopicUntil(
      output!,
      (read) => {
        const counts = finalCounts(read)
        return counts.size === keys && [...counts.values()].every((count) => count >= BigInt(perKey))
      },
      120_000,
    )
    const counts = finalCounts(messages)
    // State restored from the changelog matches the committed input, so replayed records are counted
    // once: every final count is exact, not merely at least the true count.
    for (const [key, count] of counts) expect(count, key).toBe(BigInt(perKey))
    const restores = restoredLines(successor.output())
    const restored = restores.reduce((sum, restore) => sum + restore.records, 0)
    const skipped = restores.reduce((sum, restore) => sum + restore.skipped, 0)
    console.info(`failover restores: ${JSON.stringify(restores)}`)
    expect(restores.length).toBe(3)
    expect(restored).toBeGreaterThan(0)
    expect(skipped).toBeGreaterThan(0)
    console.info(
      `failover: ${records.length} records over ${keys} keys; owner SIGKILLed after ≥${killedAfter} outputs; successor restored ${restored} changelog record(s) and skipped ${skipped} beyond the committed input; ${messages.length - records.length} output record(s) replayed; final counts exact for all ${keys} keys`,
    )
  })
})
