// Registers the conformance cases with the caller's test runner. The suite reads the capabilities of
// one probe backend first, so that a case a backend declares unsupported is registered as skipped
// with the reason in its name, and shows up in the runner's report instead of passing silently.
import type { BackendCapabilities, StoreBackendFactory } from '@kstreams/core'
import { type CaseEnvironment, cases, type StoreBackdoor } from './cases.js'
import { type DirectoryProvider, TestScope } from './scope.js'

/** A test body as the suite hands it to the runner. */
export type SuiteTestFunction = () => Promise<void> | void

/**
 * The test function of the runner, e.g. vitest's `it`: typed by its shape so that the suite
 * depends on no runner.
 */
export interface TestRegistrar {
  (name: string, fn: SuiteTestFunction, timeout?: number): void
  skip: (name: string, fn: SuiteTestFunction) => void
}

export interface StoreTestSuiteOptions {
  /**
   * Gives a fresh empty directory for each backend the suite opens. The caller owns these
   * directories and removes them.
   * @default a new directory under os.tmpdir() (mkdtemp), removed by the suite when the test ends
   */
  directory?: () => string | Promise<string>
  /**
   * Reads persisted data straight from the storage, not through the backend: the suite calls it
   * after the backend was flushed and closed, to check that the data really reached the storage.
   * @default none: that case is skipped
   */
  backdoor?: StoreBackdoor
  /** Size of the value of the large value case. @default 1 MiB + 1 (1_048_577) */
  largeValueBytes?: number
  /** Timeout of each test, passed to the runner. @default the runner's default */
  timeoutMs?: number
}

const defaultLargeValueBytes = 1024 * 1024 + 1

/**
 * Registers the conformance tests of a store backend with `it`. Await it at the top level of the
 * test file (ESM test files allow top-level await): it opens one backend to read its capabilities
 * before it registers the tests, and tests registered after the runner collected the file would
 * never run.
 *
 * @example
 * import { it } from 'vitest'
 * import { storeTestSuite } from '@kstreams/store-test-suite'
 * import { createLmdbBackend } from '@kstreams/store-lmdb'
 *
 * await storeTestSuite(it, createLmdbBackend())
 */
export async function storeTestSuite(
  it: TestRegistrar,
  factory: StoreBackendFactory,
  options: StoreTestSuiteOptions = {},
): Promise<void> {
  const environment: CaseEnvironment = {
    factory,
    capabilities: await probeCapabilities(factory, options.directory),
    largeValueBytes: options.largeValueBytes ?? defaultLargeValueBytes,
    backdoor: options.backdoor,
  }
  for (const suiteCase of cases) {
    const name = `${factory.name}: ${suiteCase.name}`
    const skipReason = suiteCase.skipReason?.(environment)
    const body = async () => {
      const scope = new TestScope(factory, options.directory)
      try {
        await suiteCase.run(scope, environment)
      } catch (error) {
        // The failure of the case is the one to report; a close failing after it is a consequence.
        await scope.dispose().catch(() => {})
        throw error
      }
      await scope.dispose()
    }
    if (skipReason !== undefined) it.skip(`${name} (skipped: ${skipReason})`, body)
    else if (options.timeoutMs === undefined) it(name, body)
    else it(name, body, options.timeoutMs)
  }
}

/** The capabilities of a backend opened (and closed again) on a directory of its own. */
async function probeCapabilities(
  factory: StoreBackendFactory,
  directory: DirectoryProvider | undefined,
): Promise<BackendCapabilities> {
  const scope = new TestScope(factory, directory)
  try {
    const backend = await scope.open()
    // A copy: the cases compare it with the capabilities of the backends they open.
    return { ...backend.capabilities }
  } finally {
    await scope.dispose()
  }
}
