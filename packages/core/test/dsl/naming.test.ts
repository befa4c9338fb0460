// Names: user names become node, store and internal topic names; names that would come from
// positions are warned about at build time (or rejected with requireNames), as KIP-1111 does.
import { describe, expect, it } from 'vitest'
import { StreamsBuilder, silentLogger, TopologyError } from '../../src/index.js'
import { builder, number, string } from './helpers.js'

const wordCount = (b: StreamsBuilder, named: boolean) =>
  b
    .stream('lines', { key: string, value: string, ...(named ? { named: 'lines' } : {}) })
    .flatMapValues((line) => line.split(' '), named ? { named: 'split-words' } : {})
    .groupBy((_key, word) => word, { key: string, value: string, ...(named ? { named: 'words' } : {}) })
    .count(named ? { as: 'word-counts', named: 'count' } : {})
    .toStream(named ? { named: 'changes' } : {})
    .to('counts', { value: number, ...(named ? { named: 'to-counts' } : {}) })

describe('names', () => {
  it('come from the user: nodes, the store, its changelog and the repartition topic', () => {
    const { builder: b, warnings } = builder()
    wordCount(b, true)
    const topology = b.build()
    expect(warnings).toEqual([])
    expect([...topology.nodes.keys()]).toEqual([
      'lines',
      'split-words',
      'words-key-select',
      'words-repartition-sink',
      'words-repartition-source',
      'count',
      'changes',
      'to-counts',
    ])
    const text = topology.describe().text
    expect(text).toContain('Sub-topology: 1')
    expect(text).toContain('repartition: <applicationId>-words-repartition (partitions as [lines])')
    expect(text).toContain(
      'word-counts (in memory, changelog: <applicationId>-word-counts-changelog, sub-topology 1)',
    )
    expect(topology.describe().mermaid).toContain('n_count -.- n_store_3aword_2dcounts[("word-counts")]')
    expect(topology.resolve('wc').describe().text).toContain('repartition: wc-words-repartition')
  })

  it('generated internal names warn at build time, and fail it with requireNames', () => {
    const { builder: b, warnings } = builder()
    wordCount(b, false)
    b.build()
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain('store "KSTREAM-COUNT-0000000003-STATE-STORE"')
    expect(warnings[0]).toContain('name them')
    const strict = new StreamsBuilder({ requireNames: true, logger: silentLogger })
    wordCount(strict, false)
    expect(() => strict.build()).toThrow(TopologyError)
    const named = new StreamsBuilder({ requireNames: true, logger: silentLogger })
    wordCount(named, true)
    expect(() => named.build()).not.toThrow()
  })

  it('the same generated names come out for the same topology (stable across builds)', () => {
    const first = builder().builder
    const second = builder().builder
    wordCount(first, false)
    wordCount(second, false)
    expect(first.build().describe().text).toBe(second.build().describe().text)
  })

  it('a name used twice is a TopologyError', () => {
    const { builder: b } = builder()
    const stream = b.stream('in', { key: string, value: string })
    stream.filter(() => true, { named: 'same' })
    expect(() => stream.filter(() => true, { named: 'same' })).toThrow(/node name "same" is used twice/)
  })
})
