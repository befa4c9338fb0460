import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'
import { createLmdbBackend } from '../src/index.js'
import { contextFor, temporaryDirectory } from './helpers.js'

const run = promisify(execFile)

// Fsync itself cannot be observed without pulling the power; what can be checked is that flushed
// writes are in the files, where another process finds them while this backend is still open.
it('after flush, another process reads the writes from the directory', async () => {
  const directory = await temporaryDirectory()
  const backend = await createLmdbBackend().open(contextFor(directory))
  try {
    await backend.write([
      { key: Uint8Array.of(1), value: Buffer.from('one') },
      { key: Uint8Array.of(2), value: Buffer.from('two') },
    ])
    await backend.write([{ key: Uint8Array.of(1), value: null }])
    await backend.flush()
    const script = `
      import { open } from 'lmdb'
      const database = open({ path: process.argv[1], noSubdir: false, readOnly: true, keyEncoding: 'binary', encoding: 'binary' })
      const read = (byte) => database.getBinary(Uint8Array.of(byte))?.toString() ?? 'missing'
      console.log(JSON.stringify([read(1), read(2)]))
      await database.close()
    `
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script, directory], {
      cwd: import.meta.dirname,
    })
    expect(JSON.parse(stdout)).toEqual(['missing', 'two'])
  } finally {
    await backend.close()
  }
})
