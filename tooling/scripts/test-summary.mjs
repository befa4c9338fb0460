#!/usr/bin/env node
// Adds up the vitest JSON reports every package wrote into .reports/ and prints one closing line.
// Exits non-zero when a test failed or when no test ran at all.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('../..', import.meta.url).pathname
const totals = { passed: 0, failed: 0, skipped: 0 }
const rows = []

function packageDirs() {
  const dirs = []
  for (const group of ['packages', 'apps', 'apps/examples', 'tooling']) {
    const base = join(root, group)
    if (!existsSync(base)) continue
    for (const entry of readdirSync(base, { withFileTypes: true })) {
      if (entry.isDirectory()) dirs.push(join(base, entry.name))
    }
  }
  return dirs
}

for (const dir of packageDirs()) {
  const reports = join(dir, '.reports')
  if (!existsSync(reports)) continue
  for (const file of readdirSync(reports).filter((name) => name.endsWith('.json'))) {
    const report = JSON.parse(readFileSync(join(reports, file), 'utf8'))
    const passed = report.numPassedTests ?? 0
    // A file that failed to load has no failed test of its own but must still count as a failure.
    const brokenFiles = (report.testResults ?? []).filter(
      (file) => file.status === 'failed' && !file.assertionResults?.some((test) => test.status === 'failed'),
    ).length
    const failed = (report.numFailedTests ?? 0) + brokenFiles
    const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
    totals.passed += passed
    totals.failed += failed
    totals.skipped += skipped
    rows.push(
      `${dir.slice(root.length)} ${file.replace('.json', '')}: ${passed} passed, ${failed} failed, ${skipped} skipped`,
    )
  }
}

for (const row of rows) console.log(`  ${row}`)
console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`)
if (totals.failed > 0 || totals.passed === 0) process.exit(1)
