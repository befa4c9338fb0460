import { passthrough } from './passthrough.js'
import type { Scenario } from './scenario.js'

export const scenarios: ReadonlyMap<string, Scenario> = new Map([[passthrough.name, passthrough]])
