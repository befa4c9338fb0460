// A minimal HTTP endpoint for Prometheus to scrape: one path answers with the registry's metrics,
// everything else is 404. node:http only, so serving metrics adds no web framework.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ConfigError } from '@kstreams/core'
import type { Registry } from 'prom-client'

export interface ServeOptions {
  /**
   * TCP port to listen on; 0 picks a free one (read it from `url`).
   * @default 9464
   */
  port?: number
  /**
   * Interface to listen on. The default keeps the metrics off the network; use `'0.0.0.0'` (or
   * `'::'`) when Prometheus scrapes from another host.
   * @default '127.0.0.1'
   */
  host?: string
  /**
   * Path the metrics are served on; other paths answer 404.
   * @default '/metrics'
   */
  path?: string
}

export interface MetricsServer {
  /** Where the metrics are served, e.g. `http://127.0.0.1:9464/metrics`, with the port actually bound. */
  readonly url: string
  /** Stops listening and closes open connections. Calling it again does nothing. */
  close(): Promise<void>
}

/**
 * Serves `registry` over HTTP: `GET` or `HEAD` on `path` answers 200 with the metrics in the
 * registry's content type, another method 405, another path 404.
 * @throws ConfigError when `path` does not start with "/"
 * @throws Error when the server cannot listen (e.g. `EADDRINUSE`)
 * @example
 * const server = await serveRegistry(registry, { port: 0 })
 * const text = await (await fetch(server.url)).text()
 * await server.close()
 */
export async function serveRegistry(registry: Registry, options: ServeOptions = {}): Promise<MetricsServer> {
  const port = options.port ?? 9464
  const host = options.host ?? '127.0.0.1'
  const path = options.path ?? '/metrics'
  if (!path.startsWith('/')) {
    throw new ConfigError(`option "path" must start with "/", got "${path}"`, { context: { option: 'path' } })
  }

  const server = createServer((request, response) => {
    void answer(registry, path, request, response)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address
  let closing: Promise<void> | undefined
  return {
    url: `http://${urlHost}:${address.port}${path}`,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        // Keep-alive connections (fetch keeps them by default) would hold close() open until they time out.
        server.closeAllConnections()
      })
      return closing
    },
  }
}

async function answer(
  registry: Registry,
  path: string,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const pathname = (request.url ?? '/').split('?', 1)[0]
  if (pathname !== path) {
    response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found\n')
    return
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response
      .writeHead(405, { 'content-type': 'text/plain; charset=utf-8', allow: 'GET, HEAD' })
      .end('Method not allowed\n')
    return
  }
  try {
    const body = await registry.metrics()
    response.writeHead(200, { 'content-type': registry.contentType })
    response.end(request.method === 'HEAD' ? undefined : body)
  } catch (error) {
    // A collect callback of another metric in a shared registry can throw; the scrape fails, not the app.
    response
      .writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
      .end(`Cannot collect the metrics: ${error instanceof Error ? error.message : String(error)}\n`)
  }
}
