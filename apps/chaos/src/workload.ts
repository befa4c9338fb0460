// The input of a chaos run and its truth, both derived from a seed alone: line i of the run is
// `<i> <word> <word> ...` (1 to 4 words from a skewed vocabulary), so the runner knows, without
// kstreams, which word occurrences exist and how often each word occurs. Occurrence ids are
// `line × 4 + position`, unique over the run; the app under test writes the id of the occurrence
// it counted into each output record, so loss and duplicates can be told apart.

/** Words per line at most: occurrence ids are `line × maxWordsPerLine + position`. */
export const maxWordsPerLine = 4

/** A small, fast, seeded PRNG (mulberry32): the same seed gives the same run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let value = state
    value = Math.imul(value ^ (value >>> 15), value | 1)
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61)
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296
  }
}

export interface WorkloadOptions {
  /** Input lines (records in). */
  lines: number
  /** Distinct words. @default 2000 */
  vocabulary?: number
  seed: number
}

export interface Line {
  index: number
  key: string
  value: string
  words: string[]
}

/** The lines of a run, in order; each call gives the same sequence for the same options. */
export function* generateLines(options: WorkloadOptions): Generator<Line> {
  const vocabulary = options.vocabulary ?? 2000
  const random = seededRandom(options.seed)
  for (let index = 0; index < options.lines; index += 1) {
    const count = 1 + Math.floor(random() * maxWordsPerLine)
    const words: string[] = []
    // Squaring skews the draw towards low word numbers: a few hot keys, a long tail.
    for (let position = 0; position < count; position += 1)
      words.push(`w${Math.floor(random() * random() * vocabulary)}`)
    yield { index, key: `line-${index}`, value: `${index} ${words.join(' ')}`, words }
  }
}

/** What the output must show: every occurrence id, and each word's count. */
export interface Truth {
  lines: number
  /** Word occurrences in all lines. */
  occurrences: number
  /** `expected[id]` is 1 for an occurrence id that exists. */
  expected: Uint8Array
  counts: Map<string, number>
}

export function truthOf(options: WorkloadOptions): Truth {
  const expected = new Uint8Array(options.lines * maxWordsPerLine)
  const counts = new Map<string, number>()
  let occurrences = 0
  for (const line of generateLines(options)) {
    for (const [position, word] of line.words.entries()) {
      expected[line.index * maxWordsPerLine + position] = 1
      counts.set(word, (counts.get(word) ?? 0) + 1)
      occurrences += 1
    }
  }
  return { lines: options.lines, occurrences, expected, counts }
}

/** Parses an input line as the app under test does: its index and its words. */
export function parseLine(value: string): { index: number; words: string[] } {
  const [index, ...words] = value.split(' ')
  const parsed = Number(index)
  if (!Number.isSafeInteger(parsed) || parsed < 0) throw new Error(`not a chaos input line: "${value}"`)
  return { index: parsed, words }
}
