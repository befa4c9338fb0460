import { describe, expect, it } from 'vitest'
import { OutputTally } from '../src/tally.js'
import { generateLines, maxWordsPerLine, parseLine, truthOf } from '../src/workload.js'

const workload = { lines: 500, seed: 7, vocabulary: 40 }

/** What a perfect run writes: each occurrence once, with the count it reached. */
function perfectOutput(): Array<{ key: string; value: string }> {
  const counts = new Map<string, number>()
  const output: Array<{ key: string; value: string }> = []
  for (const line of generateLines(workload)) {
    for (const [position, word] of line.words.entries()) {
      const count = (counts.get(word) ?? 0) + 1
      counts.set(word, count)
      output.push({ key: word, value: `${line.index * maxWordsPerLine + position} ${count}` })
    }
  }
  return output
}

describe('the workload', () => {
  it('is the same for the same seed and differs for another', () => {
    const first = [...generateLines(workload)].map((line) => line.value)
    expect([...generateLines(workload)].map((line) => line.value)).toEqual(first)
    expect([...generateLines({ ...workload, seed: 8 })].map((line) => line.value)).not.toEqual(first)
  })

  it('has a truth that adds up to its lines', () => {
    const truth = truthOf(workload)
    const words = [...generateLines(workload)].flatMap((line) => line.words)
    expect(truth.occurrences).toBe(words.length)
    expect([...truth.counts.values()].reduce((sum, count) => sum + count, 0)).toBe(words.length)
    expect(truth.expected.reduce((sum, flag) => sum + flag, 0)).toBe(words.length)
    for (const line of generateLines(workload)) {
      expect(line.words.length).toBeGreaterThanOrEqual(1)
      expect(line.words.length).toBeLessThanOrEqual(maxWordsPerLine)
      expect(parseLine(line.value)).toEqual({ index: line.index, words: line.words })
    }
  })

  it('rejects a line that is not its own', () => {
    expect(() => parseLine('hello world')).toThrow(/not a chaos input line/)
  })
})

describe('the output tally', () => {
  it('finds nothing wrong with a perfect output', () => {
    const tally = new OutputTally(truthOf(workload))
    for (const { key, value } of perfectOutput()) tally.add(key, value)
    const report = tally.report()
    expect(tally.complete).toBe(true)
    expect(report).toMatchObject({ lost: 0, duplicates: 0, unexpected: 0, keysShort: 0, keysAbove: 0 })
    expect(report.keysExact).toBe(report.keys)
  })

  it('counts a missing occurrence as lost and its word as short', () => {
    const tally = new OutputTally(truthOf(workload))
    const output = perfectOutput()
    // The last occurrence of a word carries its final count: without it, the word is short.
    const dropped = output.pop()!
    for (const { key, value } of output) tally.add(key, value)
    const report = tally.report()
    expect(tally.complete).toBe(false)
    expect(report.lost).toBe(1)
    expect(report.lostExamples).toEqual([Number(dropped.value.split(' ')[0])])
    expect(report.keysShort).toBe(1)
    expect(report.shortExamples[0]).toMatch(new RegExp(`^${dropped.key}: `))
  })

  it('counts a repeated occurrence as a duplicate, and a count past the truth as above', () => {
    const tally = new OutputTally(truthOf(workload))
    const output = perfectOutput()
    for (const { key, value } of output) tally.add(key, value)
    const [id, count] = output.at(-1)!.value.split(' ')
    tally.add(output.at(-1)!.key, `${id} ${Number(count) + 1}`)
    const report = tally.report()
    expect(report).toMatchObject({ lost: 0, duplicates: 1, keysAbove: 1, keysShort: 0 })
    expect(report.recordsOut).toBe(output.length + 1)
  })

  it('does not take an occurrence the input lacks for one it has', () => {
    const tally = new OutputTally(truthOf(workload))
    const output = perfectOutput()
    for (const { key, value } of output.slice(1)) tally.add(key, value)
    tally.add('w1', `${workload.lines * maxWordsPerLine + 3} 1`)
    tally.add('w1', 'garbage')
    const report = tally.report()
    expect(report.unexpected).toBe(2)
    expect(report.lost).toBe(1)
  })
})
