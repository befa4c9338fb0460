import { describe, expect, it } from 'vitest'
import {
  DeadLetterHeaders,
  headerValue,
  ProcessingError,
  type Processor,
  type ProcessorContext,
  type RecordErrorPolicy,
  SerdeError,
  serdes,
  TopologyBuilder,
  TopologyError,
} from '../src/index.js'
import { TopologyTestDriver } from '../src/testing/index.js'

const text = (bytes: Uint8Array | null | undefined) => (bytes ? new TextDecoder().decode(bytes) : bytes)

/** A processor built from a process function that gets the context. */
function processorOf<KIn, VIn, KOut, VOut>(
  process: (
    context: ProcessorContext<KOut, VOut>,
    record: Parameters<Processor<KIn, VIn>['process']>[0],
  ) => void | Promise<void>,
  init?: (context: ProcessorContext<KOut, VOut>) => void,
): Processor<KIn, VIn, KOut, VOut> {
  let context: ProcessorContext<KOut, VOut>
  return {
    init: (processorContext) => {
      context = processorContext
      init?.(processorContext)
    },
    process: (record) => process(context, record),
  }
}

function pipeline(processor: () => Processor<string, string, string, string>) {
  return new TopologyBuilder()
    .addSource('in', { topics: ['input'], keySerde: serdes.string(), valueSerde: serdes.string() })
    .addProcessor('step', { parents: ['in'] }, processor)
    .addSink('out', {
      topic: 'output',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['step'],
    })
    .build()
}

function driverFor(processor: () => Processor<string, string, string, string>, policy?: RecordErrorPolicy) {
  const driver = new TopologyTestDriver(pipeline(processor), {
    errorPolicies: policy ? { processing: policy, deserialization: policy } : {},
  })
  return {
    driver,
    input: driver.createInputTopic('input', serdes.string(), serdes.string()),
    output: driver.createOutputTopic('output', serdes.string(), serdes.string()),
  }
}

describe('TopologyTestDriver', () => {
  it('keeps order with asynchronous processors', async () => {
    const { driver, input, output } = driverFor(() =>
      processorOf(async (context, record) => {
        await new Promise((resolve) => setTimeout(resolve, record.value === 'slow' ? 20 : 0))
        context.forward({ ...record, value: record.value.toUpperCase() })
      }),
    )
    await input.pipeInput('a', 'slow')
    await input.pipeInput('b', 'fast')
    expect(output.readKeyValues()).toEqual([
      ['a', 'SLOW'],
      ['b', 'FAST'],
    ])
    await driver.close()
  })

  it('exposes stream time, record metadata and headers, and passes tombstones through', async () => {
    const seen: string[] = []
    const { driver, input, output } = driverFor(() =>
      processorOf((context, record) => {
        const metadata = context.recordMetadata!
        seen.push(
          `${metadata.topic}/${metadata.partition}@${metadata.offset} t=${context.streamTime} task=${context.taskId}`,
        )
        context.forward(record)
      }),
    )
    await input.pipeInput('a', 'x', 100, [['trace', new TextEncoder().encode('abc')]])
    await input.pipeInput('a', null as unknown as string, 50)
    expect(seen).toEqual(['input/0@0 t=100 task=0_0', 'input/0@1 t=100 task=0_0'])
    const [first, tombstone] = output.readRecords()
    expect(text(headerValue(first!.headers, 'trace'))).toBe('abc')
    expect(first!.timestamp).toBe(100)
    expect(tombstone!.value).toBeNull()
    await driver.close()
  })

  it('fires stream-time punctuation as records advance time, and wall-clock punctuation with the clock', async () => {
    const fired: string[] = []
    let cancel: (() => void) | undefined
    const { driver, input } = driverFor(() =>
      processorOf(
        () => {},
        (context) => {
          context.schedule(1000, 'stream-time', (time) => {
            fired.push(`stream ${time}`)
          })
          cancel = context.schedule(500, 'wall-clock', (time) => {
            fired.push(`wall ${time}`)
          }).cancel
        },
      ),
    )
    await input.pipeInput('a', 'x', 0)
    await input.pipeInput('a', 'x', 400)
    await input.pipeInput('a', 'x', 1200)
    expect(fired).toEqual(['stream 0', 'stream 1200'])
    await driver.advanceWallClockTime(499)
    expect(fired).toHaveLength(2)
    await driver.advanceWallClockTime(1)
    expect(fired.at(-1)).toBe('wall 500')
    cancel!()
    await driver.advanceWallClockTime(5000)
    expect(fired.filter((entry) => entry.startsWith('wall'))).toEqual(['wall 500'])
    await driver.close()
  })

  it('forwards to one named child, and refuses a node that is not a child', async () => {
    const topology = new TopologyBuilder()
      .addSource('in', { topics: ['input'], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addProcessor('route', { parents: ['in'] }, () =>
        processorOf<string, string, string, string>((context, record) =>
          context.forwardTo(record.value.startsWith('!') ? 'alerts' : 'normal', record),
        ),
      )
      .addSink('alerts', {
        topic: 'alerts',
        keySerde: serdes.string(),
        valueSerde: serdes.string(),
        parents: ['route'],
      })
      .addSink('normal', {
        topic: 'normal',
        keySerde: serdes.string(),
        valueSerde: serdes.string(),
        parents: ['route'],
      })
      .build()
    const driver = new TopologyTestDriver(topology)
    const input = driver.createInputTopic('input', serdes.string(), serdes.string())
    await input.pipeInput('k', '!fire')
    await input.pipeInput('k', 'calm')
    expect(driver.createOutputTopic('alerts', serdes.string(), serdes.string()).readValues()).toEqual([
      '!fire',
    ])
    expect(driver.createOutputTopic('normal', serdes.string(), serdes.string()).readValues()).toEqual([
      'calm',
    ])
    await driver.close()

    const { driver: other, input: otherInput } = driverFor(() =>
      processorOf((context, record) => context.forwardTo('nowhere', record)),
    )
    const error = await otherInput.pipeInput('k', 'v').catch((failure: unknown) => failure)
    expect(error).toBeInstanceOf(ProcessingError)
    expect((error as ProcessingError).cause).toBeInstanceOf(TopologyError)
    expect((error as ProcessingError).message).toContain('cannot forward to "nowhere"')
    await other.close()
  })
})

describe('error policies', () => {
  const failing = () =>
    processorOf<string, string, string, string>((context, record) => {
      if (record.value === 'bad') throw new Error('cannot handle bad')
      context.forward(record)
    })
  const failingAsync = () =>
    processorOf<string, string, string, string>(async (context, record) => {
      await Promise.resolve()
      if (record.value === 'bad') throw new Error('cannot handle bad')
      context.forward(record)
    })

  for (const [name, processor] of [
    ['sync', failing],
    ['async', failingAsync],
  ] as const) {
    it(`fail stops with a ProcessingError naming the processor and offset (${name})`, async () => {
      const { driver, input } = driverFor(processor, 'fail')
      await input.pipeInput('k', 'good')
      const error = await input.pipeInput('k', 'bad').catch((failure: unknown) => failure)
      expect(error).toBeInstanceOf(ProcessingError)
      expect((error as ProcessingError).message).toContain('processor "step"')
      expect((error as ProcessingError).message).toContain('input[0]@1')
      expect((error as ProcessingError).context).toMatchObject({
        processor: 'step',
        offset: 1n,
        topic: 'input',
      })
      await driver.close()
    })

    it(`continue skips the record and goes on (${name})`, async () => {
      const { driver, input, output } = driverFor(processor, 'continue')
      await input.pipeInput('k', 'bad')
      await input.pipeInput('k', 'good')
      expect(output.readValues()).toEqual(['good'])
      await driver.close()
    })

    it(`dead-letter sends the original bytes with error headers (${name})`, async () => {
      const { driver, input, output } = driverFor(processor, 'dead-letter')
      await input.pipeInput('k', 'bad', 5, [['origin', new TextEncoder().encode('web')]])
      await input.pipeInput('k', 'good')
      expect(output.readValues()).toEqual(['good'])
      const [dead] = driver.producedRecords('test-driver-dlq')
      expect(text(dead!.key)).toBe('k')
      expect(text(dead!.value)).toBe('bad')
      const header = (name: string) => text(headerValue(dead!.headers!, name))
      expect(header('origin')).toBe('web')
      expect(header(DeadLetterHeaders.stage)).toBe('processing')
      expect(header(DeadLetterHeaders.errorClass)).toContain('ProcessingError')
      expect(header(DeadLetterHeaders.errorMessage)).toContain('cannot handle bad')
      expect([
        header(DeadLetterHeaders.topic),
        header(DeadLetterHeaders.partition),
        header(DeadLetterHeaders.offset),
      ]).toEqual(['input', '0', '0'])
      await driver.close()
    })
  }

  it('applies the deserialization policy to bytes the source serde cannot read', async () => {
    const invalidUtf8 = new Uint8Array([0xff, 0xfe])
    const strict = driverFor(() => processorOf((context, record) => context.forward(record)), 'fail')
    const error = await strict.input.pipeRawInput(null, invalidUtf8).catch((failure: unknown) => failure)
    expect(error).toBeInstanceOf(SerdeError)
    expect((error as SerdeError).message).toContain('input[0]@0')
    expect((error as SerdeError).context).toMatchObject({
      topic: 'input',
      partition: 0,
      offset: 0n,
      target: 'value',
    })

    const lenient = driverFor(() => processorOf((context, record) => context.forward(record)), 'continue')
    await lenient.input.pipeRawInput(null, invalidUtf8)
    await lenient.input.pipeInput('k', 'fine')
    expect(lenient.output.readValues()).toEqual(['fine'])

    const dead = driverFor(() => processorOf((context, record) => context.forward(record)), 'dead-letter')
    await dead.input.pipeRawInput(null, invalidUtf8)
    const [record] = dead.driver.producedRecords('test-driver-dlq')
    expect(Buffer.from(record!.value!).equals(Buffer.from(invalidUtf8))).toBe(true)
    expect(text(headerValue(record!.headers!, DeadLetterHeaders.stage))).toBe('deserialization')
  })
})
