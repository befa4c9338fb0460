import { ConfigError, IllegalStateError } from '@kstreams/core'
import { Gauge, Registry } from 'prom-client'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createPrometheusMetrics, serveRegistry } from '../src/index.js'
import { publish } from './samples.js'

describe('serve', () => {
  it('serves the metrics on the path with the registry content type, 404 elsewhere, 405 for other methods', async () => {
    const metrics = createPrometheusMetrics()
    onTestFinished(() => metrics.close())
    const server = await metrics.serve({ port: 0 })
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    publish('kstreams:records:produced', { topic: 'out', count: 4 })

    const response = await fetch(server.url)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe(metrics.registry.contentType)
    const text = await response.text()
    expect(text).toContain('# TYPE kstreams_records_produced_total counter')
    expect(text).toContain('kstreams_records_produced_total{topic="out"} 4')

    expect((await fetch(`${server.url}?debug=1`)).status).toBe(200)
    const head = await fetch(server.url, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(await head.text()).toBe('')
    expect((await fetch(new URL('/', server.url))).status).toBe(404)
    expect((await fetch(new URL('/metrics/x', server.url))).status).toBe(404)
    const post = await fetch(server.url, { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
  })

  it('serves on another path and stops when closed', async () => {
    const metrics = createPrometheusMetrics()
    onTestFinished(() => metrics.close())
    const server = await metrics.serve({ port: 0, path: '/internal/prometheus' })
    expect(new URL(server.url).pathname).toBe('/internal/prometheus')
    expect((await fetch(server.url)).status).toBe(200)
    expect((await fetch(new URL('/metrics', server.url))).status).toBe(404)
    await server.close()
    await expect(fetch(server.url)).rejects.toThrow()
    await server.close()
  })

  it('closes its servers when the metrics close, and refuses to serve afterwards', async () => {
    const metrics = createPrometheusMetrics()
    const first = await metrics.serve({ port: 0 })
    const second = await metrics.serve({ port: 0 })
    // A keep-alive connection left open must not hold close() up.
    expect((await fetch(first.url)).status).toBe(200)
    await metrics.close()
    await expect(fetch(first.url)).rejects.toThrow()
    await expect(fetch(second.url)).rejects.toThrow()
    await expect(metrics.serve({ port: 0 })).rejects.toThrow(IllegalStateError)
  })

  it('rejects a path without a leading slash and reports a port in use', async () => {
    const registry = new Registry()
    await expect(serveRegistry(registry, { port: 0, path: 'metrics' })).rejects.toThrow(ConfigError)
    const server = await serveRegistry(registry, { port: 0 })
    onTestFinished(() => server.close())
    await expect(serveRegistry(registry, { port: Number(new URL(server.url).port) })).rejects.toThrow(
      /EADDRINUSE/,
    )
  })

  it('answers 500 when collecting fails, and keeps serving', async () => {
    const registry = new Registry()
    const server = await serveRegistry(registry, { port: 0 })
    onTestFinished(() => server.close())
    let failing = true
    new Gauge({
      name: 'flaky',
      help: 'Fails to collect once.',
      registers: [registry],
      collect() {
        if (failing) {
          failing = false
          throw new Error('source unavailable')
        }
        this.set(1)
      },
    })
    const failed = await fetch(server.url)
    expect(failed.status).toBe(500)
    expect(await failed.text()).toContain('source unavailable')
    const recovered = await fetch(server.url)
    expect(recovered.status).toBe(200)
    expect(await recovered.text()).toContain('flaky 1')
  })
})
