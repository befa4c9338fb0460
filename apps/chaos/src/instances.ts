// The instances of the app under test: child processes (dist/instance.js) with the same
// applicationId, each in a slot with its own state directory, which a restart in that slot keeps
// (a process restarted on the same disk). Each writes its stdout and stderr to a log file in the
// run directory; the runner reads the stdout lines (see instance.ts) to follow states and faults.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream, type WriteStream } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const instanceScript = fileURLToPath(new URL('../dist/instance.js', import.meta.url))

/** An exit the runner did not cause: the scenario fails on any. */
export interface UnexpectedExit {
  instance: string
  code: number | null
  signal: string | null
  /** The error code of its `failed` line, when it printed one. */
  failure: string | undefined
  /** The last lines it printed. */
  logTail: string
}

export interface InstanceEvents {
  hung: number
  slow: number
  /** `error` lines: errors the app reported (it may have recovered). */
  errors: string[]
}

/** Instances whose process runs, so that the CLI can kill them when it is interrupted. */
export const runningInstances = new Set<Instance>()

export class Instance {
  readonly name: string
  readonly stateDir: string
  readonly logFile: string
  readonly #env: { [name: string]: string }
  readonly #onUnexpectedExit: (exit: UnexpectedExit) => void
  #child: ChildProcess | undefined
  #log: WriteStream | undefined
  #expectingExit = false
  #failure: string | undefined
  #states: Array<{ state: string; atMs: number }> = []
  readonly events: InstanceEvents = { hung: 0, slow: 0, errors: [] }
  starts = 0

  constructor(options: {
    name: string
    runDir: string
    env: { [name: string]: string }
    onUnexpectedExit: (exit: UnexpectedExit) => void
  }) {
    this.name = options.name
    this.stateDir = join(options.runDir, 'state', options.name)
    this.logFile = join(options.runDir, `${options.name}.log`)
    this.#env = options.env
    this.#onUnexpectedExit = options.onUnexpectedExit
  }

  get alive(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null
  }

  /** The states it reported since `sinceMs` (wall clock), in order. */
  statesSince(sinceMs: number): string[] {
    return this.#states.filter((entry) => entry.atMs >= sinceMs).map((entry) => entry.state)
  }

  get lastState(): string | undefined {
    return this.#states.at(-1)?.state
  }

  async start(): Promise<void> {
    if (this.alive) throw new Error(`instance ${this.name} is already running`)
    await mkdir(this.stateDir, { recursive: true })
    this.starts += 1
    this.#expectingExit = false
    this.#failure = undefined
    const log = createWriteStream(this.logFile, { flags: 'a' })
    log.write(`--- start ${this.starts} at ${new Date().toISOString()}\n`)
    const child = spawn(process.execPath, [instanceScript], {
      env: {
        ...process.env,
        ...this.#env,
        CHAOS_INSTANCE: this.name,
        CHAOS_STATE_DIR: this.stateDir,
        CHAOS_START: String(this.starts),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.#child = child
    this.#log = log
    runningInstances.add(this)
    let pending = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      log.write(chunk)
      pending += chunk.toString()
      let newline = pending.indexOf('\n')
      while (newline >= 0) {
        this.#line(pending.slice(0, newline))
        pending = pending.slice(newline + 1)
        newline = pending.indexOf('\n')
      }
    })
    child.stderr!.on('data', (chunk: Buffer) => log.write(chunk))
    child.once('exit', (code, signal) => {
      runningInstances.delete(this)
      log.write(`--- exit code ${code} signal ${signal} at ${new Date().toISOString()}\n`)
      // The tail is read once the log is on disk, so that it holds this start's last lines.
      log.end(() => {
        if (this.#expectingExit) return
        void this.logTail().then((logTail) =>
          this.#onUnexpectedExit({ instance: this.name, code, signal, failure: this.#failure, logTail }),
        )
      })
    })
  }

  #line(line: string): void {
    if (line.startsWith('state ')) this.#states.push({ state: line.slice(6), atMs: Date.now() })
    else if (line.startsWith('hung ')) this.events.hung += 1
    else if (line.startsWith('slow ')) this.events.slow += 1
    else if (line.startsWith('error ')) this.events.errors.push(line.slice(6))
    else if (line.startsWith('failed ')) this.#failure = /^failed (\S+?):/.exec(line)?.[1]
  }

  /** Waits until it reports `state running`, or throws with its log. */
  async waitRunning(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.lastState !== 'running') {
      if (!this.alive)
        throw new Error(`instance ${this.name} exited before running:\n${await this.logTail()}`)
      if (Date.now() > deadline)
        throw new Error(`instance ${this.name} not running after ${timeoutMs} ms:\n${await this.logTail()}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  /** SIGKILL: no close, no commit, no flush. */
  async kill(): Promise<void> {
    await this.#end('SIGKILL', 0)
  }

  /** SIGTERM: the app closes gracefully (commits and leaves the group); SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 60_000): Promise<void> {
    await this.#end('SIGTERM', timeoutMs)
  }

  async #end(signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
    const child = this.#child
    if (!child || !this.alive) return
    this.#expectingExit = true
    const exited = once(child, 'exit')
    child.kill(signal)
    if (timeoutMs > 0) {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      await exited.finally(() => clearTimeout(timer))
    } else await exited
    await new Promise<void>((resolve) =>
      this.#log?.writableFinished ? resolve() : this.#log?.once('finish', resolve),
    )
  }

  /** The last lines of its log (of its last start), each cut at 400 characters. */
  async logTail(lines = 12): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '')
    return text
      .slice(Math.max(0, text.lastIndexOf('--- start ')))
      .split('\n')
      .slice(-lines - 1)
      .map((line) => (line.length > 400 ? `${line.slice(0, 400)}…` : line))
      .join('\n')
  }
}
