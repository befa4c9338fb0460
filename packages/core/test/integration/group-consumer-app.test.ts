import { fileURLToPath } from 'node:url'
import {
  createTestTopics,
  endpoints,
  produceStrings,
  readTopicUntil,
  setGroupSessionTimeout,
  spawnNodeScript,
  uniqueName,
} from '@kstreams/test-helpers'
import { describe, expect, it } from 'vitest'
import { containsAll, values } from './messages.js'

const fixture = fileURLToPath(new URL('./fixtures/group-member-app.mjs', import.meta.url))
const SESSION_TIMEOUT_MS = 3000

function setSessionTimeout(groupId: string): Promise<void> {
  return setGroupSessionTimeout(groupId, SESSION_TIMEOUT_MS)
}

describe('an app instance stopped past its session timeout', () => {
  it('loses its partitions, rejoins after SIGCONT, keeps running and loses no record', async () => {
    const [input, output] = await createTestTopics(
      { prefix: 'stopped-in', partitions: 4 },
      { prefix: 'stopped-out', partitions: 4 },
    )
    const applicationId = uniqueName('stopped')
    await setSessionTimeout(applicationId)
    const spawnApp = async () => {
      const app = spawnNodeScript(fixture, {
        APP_ID: applicationId,
        INPUT_TOPIC: input,
        OUTPUT_TOPIC: output,
        KAFKA_BOOTSTRAP_SERVERS: endpoints.kafkaBootstrapServers.join(','),
      })
      await app.waitFor('state running')
      return app
    }
    const stopped = await spawnApp()
    await stopped.waitFor('assignment 4')
    const survivor = await spawnApp()
    await stopped.waitFor('assignment 2')
    const before = values(2000, 'before')
    await produceStrings(input!, before)
    await readTopicUntil(output!, containsAll(before.map((record) => record.value)), 60_000)

    const printedBeforeStop = stopped.output().length
    stopped.child.kill('SIGSTOP')
    const during = values(2000, 'during')
    await produceStrings(input!, during)
    await new Promise((resolve) => setTimeout(resolve, SESSION_TIMEOUT_MS * 2))
    await survivor.waitFor('assignment 4', 20_000)
    stopped.child.kill('SIGCONT')
    const continuedAt = Date.now()

    // After SIGCONT: the partitions are reported lost, then some come back through a rejoin.
    const deadline = Date.now() + 30_000
    const since = () => stopped.output().slice(printedBeforeStop)
    while (!/assignment 0\n[\s\S]*assignment [1-4]\n/.test(since())) {
      if (Date.now() > deadline) throw new Error(`no loss and rejoin after SIGCONT; output:\n${since()}`)
      if (stopped.child.exitCode !== null)
        throw new Error(`exited with ${stopped.child.exitCode}:\n${since()}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const rejoinMs = Date.now() - continuedAt
    const after = values(2000, 'after')
    await produceStrings(input!, after)
    const expected = [...before, ...during, ...after].map((record) => record.value)
    const messages = await readTopicUntil(output!, containsAll(expected), 90_000)
    expect(new Set(messages.map((message) => message.value)).size).toBe(expected.length)
    expect(stopped.child.exitCode).toBeNull()
    expect(since()).not.toContain('state error')
    console.info(
      `stopped app: lost and rejoined ${rejoinMs} ms after SIGCONT; ${expected.length} records in, ${messages.length} out, 0 lost`,
    )
  })
})
