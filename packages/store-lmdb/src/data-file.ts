// Checks the header of an existing LMDB data file before lmdb-js opens it.
//
// lmdb-js 3.5 crashes the whole process (a double free in the failure path of its native
// EnvWrap::openEnv) whenever mdb_env_open fails after the environment was registered, which is
// exactly what happens when LMDB rejects the data file: garbage, a truncated header, another
// version. A crash cannot be caught, so the backend checks what LMDB checks first and reports a
// damaged file as an error the runtime can act on (throw the local state away, restore from the
// changelog). Damage deeper in the file is not detected here: LMDB keeps no checksums.
import { closeSync, openSync, readSync, statSync } from 'node:fs'
import { join } from 'node:path'

/** The name LMDB gives its data file inside the environment directory. */
export const dataFileName = 'data.mdb'

// Layout of the first meta page on 64-bit platforms: a 24-byte page header (page number, txn id,
// pad, flags, bounds), then the MDB_meta structure. 32-bit builds are not checked (see below).
const pageFlagsOffset = 18
const metaPageFlag = 0x08
const magicOffset = 24
const lmdbMagic = 0xbeefc0de
const versionOffset = 28
// MDB_DATA_VERSION of the LMDB that lmdb-js 3 builds (its own fork of 0.9, not MDB_DEVEL).
const dataVersion = 2
const pageSizeOffset = 48
const headerBytes = 52
const smallestPageSize = 512
const largestPageSize = 65_536

/**
 * Why the data file in `directory` would make LMDB fail to open, or undefined when it has a valid
 * header (or does not exist yet, or is empty: LMDB then creates a new environment).
 */
export function checkDataFile(directory: string): string | undefined {
  // The offsets above are those of 64-bit builds; on a 32-bit one a guess could reject a valid file.
  if (!['x64', 'arm64', 'ppc64', 's390x', 'riscv64', 'loong64'].includes(process.arch)) return undefined
  const path = join(directory, dataFileName)
  let size: number
  try {
    const stats = statSync(path)
    // Not a file (a directory, say): lmdb-js reports that one as a catchable error itself.
    if (!stats.isFile()) return undefined
    size = stats.size
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  if (size === 0) return undefined
  if (size < headerBytes) return `${dataFileName} has ${size} bytes, too few for an LMDB header`

  const header = Buffer.alloc(headerBytes)
  const descriptor = openSync(path, 'r')
  try {
    readSync(descriptor, header, 0, headerBytes, 0)
  } finally {
    closeSync(descriptor)
  }
  if ((header.readUInt16LE(pageFlagsOffset) & metaPageFlag) === 0) {
    return `the first page of ${dataFileName} is not an LMDB meta page`
  }
  if (header.readUInt32LE(magicOffset) !== lmdbMagic)
    return `${dataFileName} does not start with the LMDB magic number`
  const version = header.readUInt32LE(versionOffset) & 0xffff
  if (version !== dataVersion) {
    return `${dataFileName} is in LMDB data format ${version}, this lmdb build reads format ${dataVersion}`
  }
  const pageSize = header.readUInt32LE(pageSizeOffset)
  const isPowerOfTwo = (pageSize & (pageSize - 1)) === 0
  if (!isPowerOfTwo || pageSize < smallestPageSize || pageSize > largestPageSize) {
    return `${dataFileName} declares a page size of ${pageSize} bytes`
  }
  // LMDB writes two meta pages before anything else and reads both on open.
  if (size < 2 * pageSize) return `${dataFileName} has ${size} bytes, fewer than its two meta pages`
  return undefined
}
