// A scenario's settings: the common defaults, then the scenario's full-scale or CI profile, then
// what the command line (or a test) gives.
import type { Scenario, ScenarioSettings } from './scenario.js'
import { scenarios } from './scenarios.js'

export type Profile = 'full' | 'ci'

const common: ScenarioSettings = {
  records: 100_000,
  seed: 1,
  linesPerSecond: undefined,
  drainTimeoutMs: 300_000,
  kills: 5,
  durationMs: 30_000,
  intervalMs: 5000,
  outageMs: 15_000,
}

export function findScenario(name: string): Scenario {
  const scenario = scenarios.find((candidate) => candidate.name === name.toLowerCase())
  if (!scenario)
    throw new Error(
      `unknown scenario "${name}"; one of ${scenarios.map((candidate) => candidate.name).join(', ')}`,
    )
  return scenario
}

export function resolveSettings(
  scenario: Scenario,
  profile: Profile,
  overrides: Partial<ScenarioSettings> = {},
): ScenarioSettings {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined))
  const settings: ScenarioSettings = { ...common, ...scenario[profile], ...defined }
  for (const [name, value] of Object.entries(settings)) {
    if (value === undefined && name === 'linesPerSecond') continue
    if (
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      value < 0 ||
      (name !== 'seed' && value === 0 && name !== 'kills')
    )
      throw new Error(`chaos ${scenario.name}: ${name} must be a positive number, got ${value}`)
  }
  if (!Number.isInteger(settings.records))
    throw new Error(`chaos ${scenario.name}: records must be an integer`)
  return settings
}
