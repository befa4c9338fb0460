import { describe, expect, it } from 'vitest'
import { type Processor, type Serde, serdes, TopologyBuilder, TopologyError } from '../src/index.js'

const identity = (): Processor<string, string, string, string> => ({ process: () => {} })
const store = (name: string) => ({
  name,
  persistent: false,
  logging: false as const,
  build: () => ({ name, persistent: false, init() {}, flush() {}, close() {} }),
})

function topologyError(build: () => unknown): TopologyError {
  try {
    build()
  } catch (error) {
    expect(error).toBeInstanceOf(TopologyError)
    return error as TopologyError
  }
  throw new Error('expected a TopologyError')
}

const source = () =>
  new TopologyBuilder().addSource('in', {
    topics: ['input'],
    keySerde: serdes.string(),
    valueSerde: serdes.string(),
  })

describe('TopologyBuilder validation', () => {
  it('names an unknown parent and lists the known nodes', () => {
    const error = topologyError(() => source().addProcessor('p', { parents: ['nope' as 'in'] }, identity))
    expect(error.message).toContain('unknown parent "nope"')
    expect(error.message).toContain('known nodes: in')
    expect(error.context.processor).toBe('p')
  })

  it('rejects a duplicate node name', () => {
    expect(topologyError(() => source().addProcessor('in', { parents: ['in'] }, identity)).message).toContain(
      'node name "in" is used twice',
    )
  })

  it('rejects a missing serde and names the option', () => {
    const error = topologyError(() =>
      new TopologyBuilder().addSource('in', {
        topics: ['t'],
        keySerde: undefined as unknown as Serde<string>,
        valueSerde: serdes.string(),
      }),
    )
    expect(error.message).toContain('missing "keySerde"')
    expect(error.context.option).toBe('keySerde')
  })

  it('rejects a sink as a parent, a source without topics and a topic read twice', () => {
    const withSink = source().addSink('out', {
      topic: 'o',
      keySerde: serdes.string(),
      valueSerde: serdes.string(),
      parents: ['in'],
    })
    expect(
      topologyError(() => withSink.addProcessor('p', { parents: ['out' as 'in'] }, identity)).message,
    ).toContain('cannot have sink "out" as a parent')
    expect(
      topologyError(() =>
        new TopologyBuilder().addSource('in', {
          topics: [],
          keySerde: serdes.string(),
          valueSerde: serdes.string(),
        }),
      ).message,
    ).toContain('needs at least one topic')
    expect(
      topologyError(() =>
        source().addSource('again', {
          topics: ['input'],
          keySerde: serdes.string(),
          valueSerde: serdes.string(),
        }),
      ).message,
    ).toContain('topic "input" is read by two sources')
  })

  it('rejects stores that are used but not added, added twice, and a topology without sources', () => {
    const error = topologyError(() =>
      source()
        .addProcessor('p', { parents: ['in'], stores: ['counts'] }, identity)
        .build(),
    )
    expect(error.message).toContain('uses store "counts", which was never added')
    expect(error.context.store).toBe('counts')
    expect(topologyError(() => source().addStore(store('s')).addStore(store('s'))).message).toContain(
      'added twice',
    )
    expect(topologyError(() => new TopologyBuilder().build()).message).toContain('at least one source')
  })
})

describe('sub-topologies and describe()', () => {
  it('splits disconnected pipelines, joins those sharing a store, and keeps co-partitioned sources together', () => {
    const two = new TopologyBuilder()
      .addSource('a', { topics: ['ta'], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addSource('b', { topics: ['tb'], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addProcessor('pa', { parents: ['a'] }, identity)
      .addProcessor('pb', { parents: ['b'] }, identity)
      .build()
    expect(two.subtopologies.map((subtopology) => subtopology.sourceTopics)).toEqual([['ta'], ['tb']])

    const shared = new TopologyBuilder()
      .addSource('a', { topics: ['ta'], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addSource('b', { topics: ['tb'], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addStore(store('shared'))
      .addProcessor('pa', { parents: ['a'], stores: ['shared'] }, identity)
      .addProcessor('pb', { parents: ['b'], stores: ['shared'] }, identity)
      .build()
    expect(shared.subtopologies).toHaveLength(1)
    expect(shared.subtopologies[0]!.stores).toEqual(['shared'])

    const joined = new TopologyBuilder()
      .addSource('left', { topics: ['l'], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addSource('right', { topics: ['r'], keySerde: serdes.string(), valueSerde: serdes.string() })
      .addProcessor('join', { parents: ['left', 'right'] }, identity)
      .build()
    expect(joined.subtopologies).toHaveLength(1)
    expect([...joined.subtopologies[0]!.sourceTopics].sort()).toEqual(['l', 'r'])
  })

  it('describes nodes, children and parents as text and as Mermaid', () => {
    const topology = source()
      .addProcessor('upper', { parents: ['in'] }, identity)
      .addSink('out', {
        topic: 'output',
        keySerde: serdes.string(),
        valueSerde: serdes.string(),
        parents: ['upper'],
      })
      .build()
    const description = topology.describe()
    expect(description.text).toContain('Sub-topology: 0')
    expect(description.text).toContain('Source: in (topics: [input])')
    expect(description.text).toContain('Processor: upper')
    expect(description.text).toContain('--> upper')
    expect(description.text).toContain('Sink: out (topic: output)')
    expect(description.mermaid.startsWith('flowchart LR')).toBe(true)
    expect(description.mermaid).toContain('n_in --> n_upper')
    expect(description.mermaid).toContain('n_upper --> n_out')
    expect(String(description)).toBe(description.text)
  })
})
