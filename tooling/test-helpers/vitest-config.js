// The shared vitest configuration of every package. Two projects:
//   unit         test/**/*.test.ts outside test/integration: no services, deterministic
//   integration  test/integration/**/*.test.ts: real servers from tooling/services, started on demand
// Each run writes a JSON report to .reports/<script>.json, which tooling/scripts/test-summary.mjs adds up.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const servicesDir = fileURLToPath(new URL('../services', import.meta.url))

/**
 * @param {string} packageDir the package folder (import.meta.dirname of its vitest.config.ts)
 * @param {{ services?: Array<'kafka' | 'redis' | 's3' | 'gcs' | 'bigtable'>, integrationTimeoutMs?: number }} [options]
 */
export function packageVitestConfig(packageDir, options = {}) {
  const script = process.env.npm_lifecycle_event === 'test:integration' ? 'integration' : 'unit'
  return defineConfig({
    test: {
      reporters: ['default', ['json', { outputFile: join(packageDir, '.reports', `${script}.json`) }]],
      projects: [
        {
          extends: true,
          test: {
            name: 'unit',
            include: ['test/**/*.test.ts'],
            exclude: ['test/integration/**'],
            // The test command runs unit tests while the services start beside them on 2 cores: a
            // property test that takes 2 s alone can take three times that. Hangs still fail.
            testTimeout: 30_000,
          },
        },
        {
          extends: true,
          test: {
            name: 'integration',
            include: ['test/integration/**/*.test.ts'],
            testTimeout: options.integrationTimeoutMs ?? 120_000,
            hookTimeout: 120_000,
            fileParallelism: false,
            provide: { services: options.services ?? [] },
            globalSetup: [fileURLToPath(new URL('./global-setup.js', import.meta.url))],
          },
        },
      ],
    },
  })
}

/** Starts the named services (idempotent: a running one is left as it is). */
export function startServices(names) {
  for (const name of names) {
    execFileSync('bash', [join(servicesDir, `${name}.sh`), 'start'], {
      stdio: 'inherit',
    })
  }
}
