// What a user gets from npm: every published package is packed (`npm run pack`, prepack builds
// included), the tarballs are installed with npm into a fresh project in the system's temp folder
// (their third-party dependencies come from the registry), and in that project:
//   - each installed package holds every file its exports and source maps name;
//   - the README's snippet of @kstreams/core compiles with tsc (strict, NodeNext, ESM) and runs;
//   - CommonJS `require` loads every package and runs the same topology.
// Both programs run against the local broker and must close cleanly on SIGTERM.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { promisify } from 'node:util'
import {
  createTestTopics,
  endpoints,
  produceStrings,
  type ReadMessage,
  readTopicUntil,
  type TestMessage,
  uniqueName,
} from '@kstreams/test-helpers'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'

const run = promisify(execFile)
const workspace = resolve(import.meta.dirname, '../../../..')
const here = resolve(import.meta.dirname, '../..')
let project = ''
let packageNames: string[] = []

// npm run (and turbo) pass npm_* variables to children; a child npm in the fresh project would read
// the workspace's prefix and package from them.
function cleanEnvironment(): NodeJS.ProcessEnv {
  const keep = new Set([
    'npm_config_cache',
    'npm_config_registry',
    'npm_config_nodedir',
    'npm_config_userconfig',
  ])
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_') || keep.has(name)),
  )
}

async function inProject(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(command, args, {
      cwd: project,
      env: cleanEnvironment(),
      maxBuffer: 64 * 1024 * 1024,
    })
    return stdout
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; message: string }
    throw new Error(
      `${command} ${args.join(' ')} failed in ${project}:\n${failure.stdout}\n${failure.stderr}`,
    )
  }
}

function versionOf(dependency: string): string {
  return JSON.parse(readFileSync(join(workspace, 'node_modules', dependency, 'package.json'), 'utf8')).version
}

beforeAll(async () => {
  project = mkdtempSync(join(tmpdir(), 'kstreams-consumer-'))
  const startedAt = Date.now()
  const seconds = () => `${Math.round((Date.now() - startedAt) / 1000)} s`
  const packed = await run(
    'node',
    [join(workspace, 'tooling/scripts/pack.mjs'), '--out', join(project, 'tarballs')],
    {
      cwd: workspace,
      maxBuffer: 64 * 1024 * 1024,
    },
  )
  const tarballs = packed.stdout
    .slice(packed.stdout.indexOf('tarballs:\n') + 'tarballs:\n'.length)
    .trim()
    .split('\n')
  expect(tarballs.length).toBe(readdirSync(join(workspace, 'packages')).length)
  console.log(`packed ${tarballs.length} packages into ${project}/tarballs (${seconds()})`)
  writeFileSync(
    join(project, 'package.json'),
    `${JSON.stringify({ name: 'kstreams-consumer', private: true, type: 'module' }, null, 2)}\n`,
  )
  // The TypeScript and Node types the workspace builds with, so the check is the one users of that
  // TypeScript get.
  await inProject('npm', [
    'install',
    '--no-audit',
    '--no-fund',
    '--prefer-offline',
    // A stalled download is retried after a minute instead of npm's five (a CI run once spent its
    // whole hook timeout in one install).
    '--fetch-timeout=60000',
    '--fetch-retries=4',
    '--loglevel=error',
    ...tarballs,
    `typescript@${versionOf('typescript')}`,
    `@types/node@${versionOf('@types/node')}`,
  ])
  console.log(`installed them with npm into ${project} (${seconds()})`)
  packageNames = readdirSync(join(project, 'node_modules/@kstreams')).map((name) => `@kstreams/${name}`)
}, 900_000)

afterAll(() => {
  if (project && !process.env.KSTREAMS_KEEP_CONSUMER_PROJECT)
    rmSync(project, { recursive: true, force: true })
})

function installed(name: string): { dir: string; manifest: Record<string, unknown> } {
  const dir = join(project, 'node_modules', name)
  return { dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((file) => join(dir, file))
}

/** Every subpath of the exports map but ./package.json, as `import` specifiers. */
function entryPoints(name: string): string[] {
  const exportsMap = installed(name).manifest.exports as Record<string, unknown>
  return Object.keys(exportsMap)
    .filter((subpath) => subpath !== './package.json')
    .map((subpath) => (subpath === '.' ? name : `${name}/${subpath.slice(2)}`))
}

/** Starts `node <args>` in the project; SIGKILLed when the test ends if still running. */
function startInProject(
  args: string[],
  env: Record<string, string>,
): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, args, { cwd: project, env: { ...cleanEnvironment(), ...env } })
  let text = ''
  child.stdout.on('data', (chunk: Buffer) => {
    text += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    text += chunk.toString()
  })
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return { child, output: () => text }
}

type App = { child: ChildProcess; output: () => string }

/** Feeds `sent` in, waits for `expected` on the output (values decoded by `decode`), then stops the app with SIGTERM. */
async function expectOutput(
  app: App,
  topics: { input: string; output: string },
  sent: TestMessage[],
  expected: [string | null, unknown][],
  decode: (message: ReadMessage) => unknown,
): Promise<void> {
  await produceStrings(topics.input, sent)
  const exited = once(app.child, 'exit')
  const messages = await Promise.race([
    readTopicUntil(topics.output, (read) => read.length >= expected.length, 180_000),
    exited.then(() => {
      throw new Error(`the app exited early:\n${app.output()}`)
    }),
  ])
  expect(messages.map((message) => [message.key, decode(message)])).toEqual(expected)
  app.child.kill('SIGTERM')
  const [code, signal] = await exited
  expect({ code, signal, output: code === 0 ? '' : app.output() }).toEqual({
    code: 0,
    signal: null,
    output: '',
  })
}

/** Two orders in, their totals (float64) out: the topology of packages/core/README.md and require.cjs. */
function expectTotals(app: App, topics: { input: string; output: string }): Promise<void> {
  return expectOutput(
    app,
    topics,
    [
      { key: 'order-1', value: JSON.stringify({ total: 12.5 }) },
      { key: 'order-2', value: JSON.stringify({ total: 7 }) },
    ],
    [
      ['order-1', 12.5],
      ['order-2', 7],
    ],
    (message) => message.valueBytes?.readDoubleBE(0),
  )
}

/**
 * The first TypeScript snippet of a README, with its names replaced by unique ones. A README that
 * no longer has one of them fails here, naming it.
 */
function snippetOf(readme: string, replacements: [string, string][]): string {
  let snippet = /```ts\n([\s\S]*?)```/.exec(readFileSync(join(workspace, readme), 'utf8'))?.[1] ?? ''
  for (const [from, to] of replacements) {
    expect(snippet.split(from).length - 1, `${readme}'s first snippet contains ${from} once`).toBe(1)
    snippet = snippet.replace(from, to)
  }
  return snippet
}

const bootstrapReplacement: [string, string] = [
  "bootstrapServers: ['127.0.0.1:9092']",
  `bootstrapServers: ${JSON.stringify(endpoints.kafkaBootstrapServers)}`,
]

describe('the packed packages in a fresh project', () => {
  it('installs every package from its tarball, each once, at the workspace version', () => {
    const published = readdirSync(join(workspace, 'packages')).map((folder) => {
      const manifest = JSON.parse(readFileSync(join(workspace, 'packages', folder, 'package.json'), 'utf8'))
      return [manifest.name, manifest.version]
    })
    expect(packageNames.map((name) => [name, installed(name).manifest.version]).sort()).toEqual(
      published.sort(),
    )
    // A dependency between two of them resolves to the top-level copy, not to one from the registry.
    for (const name of packageNames)
      expect(existsSync(join(installed(name).dir, 'node_modules/@kstreams'))).toBe(false)
  })

  it('ships every file its package.json and source maps point at', () => {
    const missing: string[] = []
    for (const name of packageNames) {
      const { dir, manifest } = installed(name)
      for (const field of ['main', 'types'] as const) {
        const target = manifest[field]
        if (typeof target === 'string' && !existsSync(join(dir, target)))
          missing.push(`${name}: ${field} ${target}`)
      }
      for (const [subpath, conditions] of Object.entries(manifest.exports as Record<string, unknown>)) {
        const targets = typeof conditions === 'string' ? [conditions] : Object.values(conditions as object)
        for (const target of targets) {
          if (!existsSync(join(dir, target))) missing.push(`${name}: exports["${subpath}"] ${target}`)
        }
      }
      const maps = filesUnder(dir).filter((file) => file.endsWith('.map'))
      expect(maps.length, `${name} ships source maps`).toBeGreaterThan(0)
      for (const map of maps) {
        const { sources, sourceRoot = '' } = JSON.parse(readFileSync(map, 'utf8')) as {
          sources: string[]
          sourceRoot?: string
        }
        for (const source of sources) {
          const file = resolve(dirname(map), sourceRoot, source)
          if (!existsSync(file) || relative(dir, file).startsWith('..')) {
            missing.push(`${relative(project, map)} -> ${source}`)
          }
        }
      }
    }
    expect(missing).toEqual([])
  })

  it("compiles the README snippets (the root one and @kstreams/core's) with tsc and runs them as ESM", async () => {
    const [orders, totals, lines, words] = await createTestTopics(
      { prefix: 'consumer-orders' },
      { prefix: 'consumer-totals' },
      { prefix: 'consumer-text' },
      { prefix: 'consumer-words' },
    )
    mkdirSync(join(project, 'src'), { recursive: true })
    writeFileSync(
      join(project, 'src/core-readme.ts'),
      snippetOf('packages/core/README.md', [
        ["topics: ['orders']", `topics: ['${orders}']`],
        ["topic: 'order-totals'", `topic: '${totals}'`],
        ["applicationId: 'order-totals'", `applicationId: '${uniqueName('consumer-esm')}'`],
        bootstrapReplacement,
      ]),
    )
    writeFileSync(
      join(project, 'src/root-readme.ts'),
      snippetOf('README.md', [
        ["topics: ['text']", `topics: ['${lines}']`],
        ["topic: 'words'", `topic: '${words}'`],
        ["applicationId: 'words'", `applicationId: '${uniqueName('consumer-words')}'`],
        bootstrapReplacement,
      ]),
    )
    // Every entry point of every package, imported by name: their types must resolve under NodeNext.
    const entries = packageNames.flatMap(entryPoints)
    writeFileSync(
      join(project, 'src/every-package.ts'),
      [
        ...entries.map((entry, index) => `import * as module${index} from '${entry}'`),
        `const modules: Record<string, object> = { ${entries.map((entry, index) => `'${entry}': module${index}`).join(', ')} }`,
        'for (const [name, module] of Object.entries(modules)) {',
        "  console.log('imported ' + name + ' (' + Object.keys(module).length + ' exports)')",
        '}',
        '',
      ].join('\n'),
    )
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2023',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          types: ['node'],
          rootDir: 'src',
          outDir: 'dist',
        },
        include: ['src'],
      }),
    )
    // skipLibCheck stays off, so kstreams' own declarations are checked too. Errors in third-party
    // declarations (@platformatic/kafka's need @types/debug and undici's RequestInit) are theirs:
    // they are printed, and tsc still emits.
    const diagnostics = await run(join(project, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], {
      cwd: project,
      env: cleanEnvironment(),
    }).then(
      ({ stdout }) => stdout,
      (error: { stdout: string }) => error.stdout,
    )
    const errors = diagnostics.split('\n').filter((line) => /^\S+\(\d+,\d+\): error /.test(line))
    const thirdParty = errors.filter(
      (line) => line.startsWith('node_modules/') && !line.startsWith('node_modules/@kstreams/'),
    )
    if (thirdParty.length > 0) console.warn(`tsc, in third-party declarations:\n${thirdParty.join('\n')}`)
    expect(errors.filter((line) => !thirdParty.includes(line))).toEqual([])
    expect(existsSync(join(project, 'dist/core-readme.js'))).toBe(true)

    const imported = await inProject(process.execPath, ['dist/every-package.js'])
    for (const entry of entries)
      expect(imported).toMatch(new RegExp(`imported ${entry} \\([1-9]\\d* exports\\)`))

    await expectTotals(startInProject(['dist/core-readme.js'], {}), { input: orders!, output: totals! })
    await expectOutput(
      startInProject(['dist/root-readme.js'], {}),
      { input: lines!, output: words! },
      [{ key: 'line-1', value: 'hello kafka' }],
      [
        ['hello', 'hello'],
        ['kafka', 'kafka'],
      ],
      (message) => message.value,
    )
  })

  it('requires every package from CommonJS and runs the topology', async () => {
    const [input, output] = await createTestTopics(
      { prefix: 'consumer-cjs-orders' },
      { prefix: 'consumer-cjs-totals' },
    )
    copyFileSync(join(here, 'fixtures/require.cjs'), join(project, 'require.cjs'))
    const entries = packageNames.flatMap(entryPoints)
    const app = startInProject(['require.cjs'], {
      KSTREAMS_PACKAGES: entries.join(','),
      INPUT_TOPIC: input!,
      OUTPUT_TOPIC: output!,
      APPLICATION_ID: uniqueName('consumer-cjs'),
      BOOTSTRAP_SERVERS: endpoints.kafkaBootstrapServers.join(','),
    })
    await expectTotals(app, { input: input!, output: output! })
    for (const entry of entries)
      expect(app.output()).toMatch(new RegExp(`required ${entry} \\([1-9]\\d* exports\\)`))
    expect(app.output()).toContain('started')
  })
})
