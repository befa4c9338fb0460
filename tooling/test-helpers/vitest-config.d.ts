import type { UserConfig } from 'vitest/config'

export type ServiceName = 'kafka' | 'redis' | 's3' | 'gcs' | 'bigtable'

export function packageVitestConfig(
  packageDir: string,
  options?: { services?: ServiceName[]; integrationTimeoutMs?: number },
): UserConfig

export function startServices(names: ServiceName[]): void
