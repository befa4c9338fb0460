#!/usr/bin/env node
// `node tooling/scripts/turbo-progress.mjs <tasks and turbo flags...>` runs `turbo run` and prints
// one line per task as it finishes (turbo itself prints nothing for a passing task with
// --output-logs=errors-only, so a cold build looked hung for minutes). A failed task's full log is
// printed after turbo's summary. Exits with turbo's status.
//
// How: with --log-order=grouped, turbo prints a task's lines when the task has finished, and with
// --output-logs=hash-only the only line is "<package>:<task>: cache hit|miss|bypass, ... <hash>".
// Each task's log is also written to <package dir>/.turbo/turbo-<task>.log, failed ones included.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

const root = new URL('../..', import.meta.url).pathname
const startedAt = Date.now()
const child = spawn(
  'npx',
  ['turbo', 'run', ...process.argv.slice(2), '--output-logs=hash-only', '--log-order=grouped'],
  {
    cwd: process.cwd(),
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  },
)

const failed = [] // { directory, task }
const finishedLine = /^(\S+):(\S+): cache (hit|miss|bypass)/
const failedLine = /ERROR\s+command \((.+?)\) .* run (\S+) exited/

function elapsed() {
  const seconds = Math.round((Date.now() - startedAt) / 1000)
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`
}

function onLine(line) {
  const finished = finishedLine.exec(line)
  if (finished) {
    const how = finished[3] === 'hit' ? 'cached' : 'ran'
    console.log(`  [${elapsed()}] finished ${finished[1]}:${finished[2]} (${how})`)
    return
  }
  const failure = failedLine.exec(line)
  if (failure) failed.push({ directory: failure[1], task: failure[2] })
  console.log(line)
}

createInterface({ input: child.stdout }).on('line', onLine)
createInterface({ input: child.stderr }).on('line', onLine)

child.on('close', (code, signal) => {
  for (const { directory, task } of failed) {
    const log = join(directory, '.turbo', `turbo-${task}.log`)
    console.log(
      `\n---- ${directory.startsWith(root) ? directory.slice(root.length) : directory}: ${task} ----`,
    )
    console.log(existsSync(log) ? readFileSync(log, 'utf8') : `(no log at ${log})`)
  }
  process.exit(code ?? (signal ? 1 : 0))
})
