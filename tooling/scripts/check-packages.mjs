#!/usr/bin/env node
// Fails when a package under packages/ deviates from the skeleton in CONTRIBUTING.md:
// README, LICENSE, src/index.ts, one-line tsconfigs, ESM exports map with types first, engines,
// files, repository, a prepack build, and (for plugins) a peer dependency on @kstreams/core.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('../..', import.meta.url).pathname
const packagesDir = join(root, 'packages')
const problems = []
const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const rootLicense = readFileSync(join(root, 'LICENSE'), 'utf8')
const repositoryUrl = 'git+https://github.com/kstreams/kstreams.git'

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'))
  } catch (error) {
    problems.push(`${file}: cannot be read as JSON (${error.message})`)
    return undefined
  }
}

function checkTsconfig(dir, file, expectedExtends) {
  const path = join(dir, file)
  if (!existsSync(path)) return problems.push(`${path}: missing`)
  const text = readFileSync(path, 'utf8').trim()
  const config = readJson(path)
  if (!config) return
  if (
    config.extends !== expectedExtends ||
    Object.keys(config).length !== 1 ||
    text.split('\n').length !== 1
  ) {
    problems.push(`${path}: must be the one line { "extends": "${expectedExtends}" }`)
  }
}

const folders = readdirSync(packagesDir, { withFileTypes: true }).filter((entry) => entry.isDirectory())
for (const folder of folders) {
  const dir = join(packagesDir, folder.name)
  const where = `packages/${folder.name}`
  const manifest = readJson(join(dir, 'package.json'))
  if (!manifest) continue
  const expectedName = `@kstreams/${folder.name}`
  const isCore = folder.name === 'core'
  const need = (condition, message) => condition || problems.push(`${where}: ${message}`)

  need(manifest.name === expectedName, `package name must be "${expectedName}" (folder name is the suffix)`)
  need(manifest.type === 'module', 'must be ESM only: "type": "module"')
  need(manifest.sideEffects === false, 'must declare "sideEffects": false')
  // src ships beside dist: the source maps and declaration maps point into it.
  need(
    JSON.stringify(manifest.files) === '["dist","src"]',
    'must publish dist and the sources its maps point at: "files": ["dist", "src"]',
  )
  // @platformatic/kafka, core's client, needs Node 22.22; require(esm) needs 22.12.
  need(manifest.engines?.node === '>=22.22.0', 'must declare "engines": { "node": ">=22.22.0" }')
  need(manifest.license === rootManifest.license, `must declare the license "${rootManifest.license}"`)
  need(
    existsSync(join(dir, 'LICENSE')) && readFileSync(join(dir, 'LICENSE'), 'utf8') === rootLicense,
    'LICENSE must be a copy of the root LICENSE (npm pack only ships the package folder)',
  )
  need(
    manifest.repository?.url === repositoryUrl && manifest.repository?.directory === where,
    `must declare "repository": { "type": "git", "url": "${repositoryUrl}", "directory": "${where}" }`,
  )
  need(
    manifest.scripts?.prepack === 'turbo run build',
    'must build before packing: "prepack": "turbo run build" (npm pack and npm publish run it)',
  )
  need(
    manifest.main === './dist/index.js' && manifest.types === './dist/index.d.ts',
    'must declare "main": "./dist/index.js" and "types": "./dist/index.d.ts" for tools that ignore exports',
  )
  for (const [name, range] of Object.entries(manifest.dependencies ?? {})) {
    need(
      !name.startsWith('@kstreams/') || range !== '*',
      `dependencies["${name}"] needs a version range, not "*"`,
    )
  }
  need(
    manifest.private !== true,
    'packages/ holds published packages; private ones belong in tooling/ or apps/',
  )
  need(
    manifest.scripts?.build === 'tsc -p tsconfig.build.json',
    'build script must be "tsc -p tsconfig.build.json"',
  )
  need(typeof manifest.scripts?.typecheck === 'string', 'must have a typecheck script')
  need(typeof manifest.scripts?.test === 'string', 'must have a test script (unit tests, no services)')

  const entry = manifest.exports?.['.']
  if (!entry || typeof entry !== 'object') {
    problems.push(`${where}: must have an exports map with a "." entry`)
  } else {
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      if (subpath === './package.json') continue
      const keys = typeof target === 'object' && target !== null ? Object.keys(target) : []
      need(keys[0] === 'types', `exports["${subpath}"] must list "types" first`)
      need(
        keys.includes('default') || keys.includes('import'),
        `exports["${subpath}"] needs a "default" or "import" target`,
      )
    }
  }

  if (isCore) {
    need(!manifest.peerDependencies?.['@kstreams/core'], 'core must not depend on itself')
  } else {
    need(
      typeof manifest.peerDependencies?.['@kstreams/core'] === 'string',
      'plugins take @kstreams/core as a peer dependency ("peerDependencies": { "@kstreams/core": "..." })',
    )
    need(
      !manifest.dependencies?.['@kstreams/core'],
      '@kstreams/core must be a peer dependency, not a dependency',
    )
  }

  need(existsSync(join(dir, 'README.md')), 'README.md is missing')
  const readme = existsSync(join(dir, 'README.md')) ? readFileSync(join(dir, 'README.md'), 'utf8') : ''
  need(
    readme.includes(`npm install`) && readme.includes(`.packs/kstreams-${folder.name}-*.tgz`),
    `README.md must say how to install it from the registry and, before a release, from .packs/kstreams-${folder.name}-*.tgz (npm run pack)`,
  )
  need(existsSync(join(dir, 'src', 'index.ts')), 'src/index.ts is missing (the only public face)')
  need(existsSync(join(dir, 'test')), 'test/ is missing')
  for (const file of existsSync(join(dir, 'src')) ? readdirSync(join(dir, 'src'), { recursive: true }) : []) {
    const base = String(file).split('/').pop()
    if (base.endsWith('.ts') && !/^[a-z0-9]+(-[a-z0-9]+)*(\.d)?\.ts$/.test(base)) {
      problems.push(`${where}/src/${file}: source file names are kebab-case`)
    }
  }
  checkTsconfig(dir, 'tsconfig.json', '@kstreams/tsconfig/base.json')
  checkTsconfig(dir, 'tsconfig.build.json', '@kstreams/tsconfig/build.json')
}

if (problems.length > 0) {
  console.error(
    `package skeleton check failed (${problems.length} problem${problems.length === 1 ? '' : 's'}):`,
  )
  for (const problem of problems) console.error(`  - ${problem}`)
  process.exit(1)
}
console.log(`package skeleton check: ${folders.length} package(s) follow the skeleton`)
