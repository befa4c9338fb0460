import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { onTestFinished } from 'vitest'

/** A Node script running as a child process, with its stdout collected. */
export interface ChildApp {
  child: ChildProcess
  /** Everything it printed on stdout so far. */
  output(): string
  /** Waits until its stdout contains `text`; throws with the output when it exits or time runs out. */
  waitFor(text: string, timeoutMs?: number): Promise<void>
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>
}

/**
 * Starts `node script` with `env` added to the environment (stderr inherited). The process is
 * killed when the test ends, whatever happens.
 */
export function spawnNodeScript(script: string, env: { [name: string]: string | undefined }): ChildApp {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let text = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    text += chunk.toString()
  })
  return {
    child,
    output: () => text,
    async waitFor(expected, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs
      while (!text.includes(expected)) {
        if (Date.now() > deadline)
          throw new Error(`"${expected}" not printed within ${timeoutMs} ms; output:\n${text}`)
        if (child.exitCode !== null)
          throw new Error(`exited with ${child.exitCode} before printing "${expected}"; output:\n${text}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    },
  }
}
