#!/usr/bin/env node
// Runs the chaos CLI (dist/cli.js). It uses @kstreams/test-helpers, which is TypeScript source
// (vitest runs it as it is): Node strips its types, but does not map its `./x.js` imports to the
// `./x.ts` files, so this hook does that for imports made from .ts files.
import { registerHooks } from 'node:module'

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context)
    } catch (error) {
      const fromTypeScript = context.parentURL?.endsWith('.ts') && specifier.startsWith('.')
      if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !fromTypeScript || !specifier.endsWith('.js')) throw error
      return nextResolve(`${specifier.slice(0, -3)}.ts`, context)
    }
  },
})

await import('../dist/cli.js')
