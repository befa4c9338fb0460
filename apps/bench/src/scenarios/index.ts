import { asyncIo } from './async-io.js'
import { count } from './count.js'
import { dsl } from './dsl.js'
import { join } from './join.js'
import { objectStore } from './object-store.js'
import { backlog, passthrough } from './passthrough.js'
import { restore } from './restore.js'
import type { Scenario } from './scenario.js'

export const scenarios: ReadonlyMap<string, Scenario> = new Map(
  [passthrough, count, dsl, join, restore, asyncIo, backlog, objectStore].map((scenario) => [
    scenario.name,
    scenario,
  ]),
)
