// Directories and contexts for the LMDB-specific tests (the conformance suite makes its own).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BackendContext } from '@kstreams/core'
import { afterEach } from 'vitest'

const directories: string[] = []

afterEach(async () => {
  await Promise.all(directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })))
})

/** A fresh directory, removed after the test. */
export async function temporaryDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'kstreams-lmdb-test-'))
  directories.push(directory)
  return directory
}

export function contextFor(directory: string): BackendContext {
  return {
    applicationId: 'lmdb-test',
    taskId: '1_3',
    partition: 3,
    storeName: 'counts',
    directory,
    ownership: { taskId: '1_3', memberId: 'lmdb-test', memberEpoch: 1 },
  }
}
