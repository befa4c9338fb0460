// The garbage a serde rejects, fed through a real topology (core's test driver) under each
// deserialization error policy: `fail` stops with the SerdeError, `continue` skips and counts the
// record and goes on, `dead-letter` writes the original bytes to the dead-letter topic and goes on.
import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import {
  channels,
  DeadLetterHeaders,
  ErrorCodes,
  KStreamsError,
  type RecordErrorPolicy,
  type Serde,
  serdes,
  TopologyBuilder,
} from '@kstreams/core'
import { TopologyTestDriver } from '@kstreams/core/testing'
import { describeBytes } from './bytes.js'
import type { LabelledBytes } from './garbage.js'

const policies: readonly RecordErrorPolicy[] = ['fail', 'continue', 'dead-letter']
const inputTopic = 'serde-test-suite.policy-input'
const outputTopic = 'serde-test-suite.policy-output'
const deadLetterTopic = 'serde-test-suite.policy-dlq'

function passThrough(keySerde: Serde<unknown>, valueSerde: Serde<unknown>) {
  return new TopologyBuilder()
    .addSource('input', { topics: [inputTopic], keySerde, valueSerde })
    .addSink('output', { topic: outputTopic, keySerde, valueSerde, parents: ['input'] })
    .build()
}

function sameBytes(actual: unknown, expected: Uint8Array | null, where: string): void {
  if (expected === null) {
    assert.equal(actual, null, `${where}: expected null`)
    return
  }
  assert.ok(actual instanceof Uint8Array, `${where}: missing`)
  assert.deepStrictEqual(Buffer.from(actual), Buffer.from(expected), `${where}: not the original bytes`)
}

/**
 * Pipes `garbage` (as the key or the value, the other side a valid sample) and then a valid record
 * into a pass-through topology under `policy`, and checks what the policy promises.
 */
export async function checkPolicy(options: {
  createSerde: () => Serde<unknown>
  policy: RecordErrorPolicy
  target: 'key' | 'value'
  garbage: LabelledBytes
  /**
   * A valid sample's bytes, for the other side of the record and for the record after; null for a
   * serde that writes only nulls (a void serde).
   */
  valid: Uint8Array | null
}): Promise<void> {
  const { policy, target, garbage, valid } = options
  const where = `${garbage.label} (${describeBytes(garbage.bytes)}) as the ${target} under '${policy}'`
  const driver = new TopologyTestDriver(passThrough(options.createSerde(), options.createSerde()), {
    errorPolicies: { deserialization: policy, deadLetterTopic },
  })
  const counted: Array<{ stage: string; policy: string }> = []
  const onError = (message: unknown) => counted.push(message as { stage: string; policy: string })
  subscribe(channels.recordError.name, onError)
  try {
    const input = driver.createInputTopic(inputTopic, serdes.bytes(), serdes.bytes())
    const key = target === 'key' ? garbage.bytes : valid
    const value = target === 'value' ? garbage.bytes : valid
    const piped = input.pipeRawInput(key, value, 0, [['trace', new Uint8Array([1, 2, 3])]]).then(
      () => undefined,
      (error: unknown) => error,
    )
    const failure = await piped
    const output = driver.createOutputTopic(outputTopic, serdes.bytes(), serdes.bytes())
    assert.equal(output.size(), 0, `${where}: the unreadable record reached the output`)
    if (policy === 'fail') {
      assert.ok(failure !== undefined, `${where}: the driver went on instead of failing`)
      assert.ok(
        KStreamsError.isInstance(failure) && failure.code === ErrorCodes.SERDE,
        `${where}: expected a KSTREAMS_SERDE error, got ${String(failure)}`,
      )
      return
    }
    assert.equal(failure, undefined, `${where}: the driver failed with ${String(failure)}`)
    assert.deepStrictEqual(
      counted.map((event) => [event.stage, event.policy]),
      [['deserialization', policy]],
      `${where}: the record error was not counted once on kstreams:record:error`,
    )
    if (policy === 'dead-letter') {
      const dead = driver.createOutputTopic(deadLetterTopic, serdes.bytes(), serdes.bytes()).readRecords()
      assert.equal(dead.length, 1, `${where}: expected one dead-letter record, got ${dead.length}`)
      sameBytes(dead[0]!.key, key, `${where}: the dead-letter key`)
      sameBytes(dead[0]!.value, value, `${where}: the dead-letter value`)
      const headers = new Map(dead[0]!.headers)
      sameBytes(headers.get('trace'), new Uint8Array([1, 2, 3]), `${where}: the original header`)
      sameBytes(
        headers.get(DeadLetterHeaders.stage),
        new TextEncoder().encode('deserialization'),
        `${where}: the stage header`,
      )
    }
    // Nothing stopped: the next, valid record goes through.
    await input.pipeRawInput(valid, valid, 1)
    assert.equal(output.size(), 1, `${where}: the valid record after the unreadable one was not processed`)
  } finally {
    unsubscribe(channels.recordError.name, onError)
    await driver.close()
  }
}

export { policies }
