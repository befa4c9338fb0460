#!/usr/bin/env node
// `npm run pack [-- --out <dir>]`: builds every published package (packages/*) and writes its npm
// tarball into <dir> (default .packs/), as `npm publish` would upload it. Each package's `prepack`
// script builds it too (turbo, cached), so `npm pack -w @kstreams/<name>` alone works as well.
// Prints the tarballs' paths, one a line, after the line "tarballs:".
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

const root = new URL('../..', import.meta.url).pathname
const { values } = parseArgs({ options: { out: { type: 'string', default: join(root, '.packs') } } })
const out = resolve(values.out)
mkdirSync(out, { recursive: true })
// Tarballs of an earlier pack would match the README's `kstreams-<name>-*.tgz` beside the new ones.
for (const file of readdirSync(out)) if (/^kstreams-.+\.tgz$/.test(file)) rmSync(join(out, file))

const packages = readdirSync(join(root, 'packages'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => JSON.parse(readFileSync(join(root, 'packages', entry.name, 'package.json'), 'utf8')))
  .filter((manifest) => manifest.private !== true)
  .map((manifest) => manifest.name)

const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1' }
console.log(`building ${packages.length} packages`)
execFileSync(
  'node',
  [join(root, 'tooling/scripts/turbo-progress.mjs'), 'build', ...packages.map((name) => `--filter=${name}`)],
  { cwd: root, env, stdio: 'inherit' },
)

console.log(`packing into ${out}`)
const report = execFileSync(
  'npm',
  ['pack', '--json', '--pack-destination', out, ...packages.flatMap((name) => ['-w', name])],
  { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 },
)
// npm prints the prepack scripts' output on stdout before the JSON report.
const tarballs = JSON.parse(report.slice(report.indexOf('\n[') + 1)).map((entry) => join(out, entry.filename))
console.log('tarballs:')
for (const tarball of tarballs) console.log(tarball)
