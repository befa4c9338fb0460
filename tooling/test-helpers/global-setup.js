// Integration tests need real servers. Start the ones this package asked for; each start is
// idempotent, so servers that `tooling/run.sh test` already started are left as they are.
import { startServices } from './vitest-config.js'

export default function setup(project) {
  const services = project.config.provide?.services ?? []
  if (services.length > 0) startServices(services)
}
