// The on-disk state of one task: `<stateDir>/<applicationId>/<taskId>/`, holding one directory per
// persistent store, a lock file, and the checkpoint (changelog offsets the local state matches).
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { StoreError } from '../errors.js'
import type { Logger } from '../logger.js'

const LOCK_FILE = '.lock'
const CHECKPOINT_FILE = '.checkpoint'

/** Task directories locked by this process, so a second app in the same process is refused too. */
const lockedHere = new Set<string>()

export class TaskDirectory {
  readonly path: string
  readonly taskId: string
  #checkpointValid: boolean | undefined
  #released = false

  private constructor(path: string, taskId: string) {
    this.path = path
    this.taskId = taskId
  }

  /**
   * Creates and locks the task's directory. Fails with a StoreError naming `store` and the task
   * when another live process (or another app in this one) holds it.
   */
  static async lock(
    stateDir: string,
    applicationId: string,
    taskId: string,
    store: string,
  ): Promise<TaskDirectory> {
    const path = join(stateDir, applicationId, taskId)
    const lockPath = join(path, LOCK_FILE)
    try {
      await mkdir(path, { recursive: true })
    } catch (cause) {
      throw new StoreError(
        `cannot create the state directory ${path} for store "${store}" of task ${taskId}: ${(cause as Error).message}`,
        { cause, context: { store, taskId } },
      )
    }
    const owner = readLock(lockPath)
    if (
      lockedHere.has(path) ||
      (owner && owner.pid !== process.pid && owner.host === hostname() && alive(owner.pid))
    ) {
      const who = lockedHere.has(path) ? 'another application in this process' : `process ${owner!.pid}`
      throw new StoreError(
        `store "${store}" of task ${taskId} cannot be opened: its state directory ${path} is locked by ${who}; two instances on one host need different "stateDir"s`,
        { context: { store, taskId }, retriable: true },
      )
    }
    try {
      const descriptor = openSync(lockPath, 'w')
      writeSync(descriptor, JSON.stringify({ pid: process.pid, host: hostname() }))
      closeSync(descriptor)
    } catch (cause) {
      throw new StoreError(
        `cannot lock the state directory ${path} for store "${store}" of task ${taskId}: ${(cause as Error).message}`,
        { cause, context: { store, taskId } },
      )
    }
    lockedHere.add(path)
    return new TaskDirectory(path, taskId)
  }

  storeDirectory(store: string): string {
    return join(this.path, store)
  }

  /** Changelog offsets per store that the local state matches, or an empty map when none is valid. */
  readCheckpoint(): Map<string, bigint> {
    const offsets = new Map<string, bigint>()
    let text: string
    try {
      text = readFileSync(join(this.path, CHECKPOINT_FILE), 'utf8')
    } catch {
      this.#checkpointValid = false
      return offsets
    }
    try {
      const parsed = JSON.parse(text) as { version: number; offsets: { [store: string]: string } }
      if (parsed.version !== 1) throw new Error(`unknown checkpoint version ${parsed.version}`)
      for (const [store, offset] of Object.entries(parsed.offsets)) offsets.set(store, BigInt(offset))
    } catch {
      // An unreadable checkpoint vouches for nothing: the stores are rebuilt from their changelogs.
      offsets.clear()
    }
    this.#checkpointValid = offsets.size > 0
    return offsets
  }

  /** Writes the checkpoint atomically (after a commit, or after a restore). */
  writeCheckpoint(offsets: ReadonlyMap<string, bigint>): void {
    const target = join(this.path, CHECKPOINT_FILE)
    const temporary = `${target}.tmp`
    const body = {
      version: 1,
      offsets: Object.fromEntries([...offsets].map(([store, offset]) => [store, String(offset)])),
    }
    writeFileSync(temporary, JSON.stringify(body))
    renameSync(temporary, target)
    this.#checkpointValid = true
  }

  /**
   * Removes the checkpoint before local state moves past it, so a crash before the next commit
   * makes the next owner rebuild from the changelog instead of trusting state that is ahead of the
   * committed input.
   */
  invalidateCheckpoint(): void {
    if (this.#checkpointValid === false) return
    rmSync(join(this.path, CHECKPOINT_FILE), { force: true })
    this.#checkpointValid = false
  }

  /** Deletes a store's local files (before rebuilding it from the changelog). */
  wipeStore(store: string): void {
    rmSync(this.storeDirectory(store), { recursive: true, force: true })
  }

  release(): void {
    if (this.#released) return
    this.#released = true
    lockedHere.delete(this.path)
    rmSync(join(this.path, LOCK_FILE), { force: true })
  }
}

/**
 * Deletes directories of tasks this instance does not own that nobody holds and that were not
 * touched for `olderThanMs`: state of tasks that moved elsewhere for good.
 */
export async function cleanTaskDirectories(
  stateDir: string,
  applicationId: string,
  owned: ReadonlySet<string>,
  olderThanMs: number,
  logger: Logger,
): Promise<string[]> {
  const root = join(stateDir, applicationId)
  let names: string[]
  try {
    names = await readdir(root)
  } catch {
    return []
  }
  const removed: string[] = []
  for (const name of names) {
    const path = join(root, name)
    if (owned.has(name) || lockedHere.has(path)) continue
    const owner = readLock(join(path, LOCK_FILE))
    if (owner && owner.host === hostname() && alive(owner.pid) && owner.pid !== process.pid) continue
    try {
      const info = await stat(path)
      if (!info.isDirectory() || Date.now() - info.mtimeMs < olderThanMs) continue
      await rm(path, { recursive: true, force: true })
      removed.push(name)
    } catch (error) {
      logger.warn(`could not clean up the state directory ${path}: ${(error as Error).message}`)
    }
  }
  if (removed.length > 0)
    logger.info(`removed the state of ${removed.length} task(s) no longer owned here`, { tasks: removed })
  return removed
}

function readLock(path: string): { pid: number; host: string } | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as { pid: number; host: string }
    return typeof parsed.pid === 'number' ? parsed : undefined
  } catch {
    return undefined
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
