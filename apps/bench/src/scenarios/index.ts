import { count } from './count.js'
import { passthrough } from './passthrough.js'
import { restore } from './restore.js'
import type { Scenario } from './scenario.js'

export const scenarios: ReadonlyMap<string, Scenario> = new Map(
  [passthrough, count, restore].map((scenario) => [scenario.name, scenario]),
)
