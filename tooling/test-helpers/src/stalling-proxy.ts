// A TCP proxy in front of a storage server (S3, GCS) that can hold back requests: once armed, the first request
// whose head matches (say, a PUT of a manifest) and everything after it on that connection stay
// in the proxy until release(). It lets a test freeze a flush exactly before its manifest write.
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { onTestFinished } from 'vitest'

export interface StallingProxy {
  endpoint: string
  /** Holds the next request whose first bytes match `pattern`, and all that follows on its connection. */
  arm(pattern: RegExp): void
  /** Resolves once a request was held. */
  held(): Promise<void>
  /** Sends what was held on to the server, and stops holding. */
  release(): void
}

export async function startStallingProxy(target: string): Promise<StallingProxy> {
  const { hostname, port } = new URL(target)
  let pattern: RegExp | undefined
  const stalled: Array<{ upstream: Socket; chunks: Buffer[] }> = []
  let onHeld: (() => void) | undefined
  const heldOnce = new Promise<void>((resolve) => {
    onHeld = resolve
  })
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: hostname, port: Number(port) })
    sockets.add(client)
    sockets.add(upstream)
    let hold: { upstream: Socket; chunks: Buffer[] } | undefined
    client.on('data', (chunk: Buffer) => {
      if (
        hold === undefined &&
        pattern !== undefined &&
        pattern.test(chunk.subarray(0, 4096).toString('latin1'))
      ) {
        hold = { upstream, chunks: [] }
        stalled.push(hold)
        pattern = undefined
        onHeld?.()
      }
      if (hold !== undefined && stalled.includes(hold)) hold.chunks.push(chunk)
      else upstream.write(chunk)
    })
    upstream.on('data', (chunk: Buffer) => client.write(chunk))
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end)
    upstream.on('error', end)
    client.on('close', end)
    upstream.on('close', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const address = server.address() as { port: number }
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    arm(next) {
      pattern = next
    },
    held: () => heldOnce,
    release() {
      pattern = undefined
      for (const hold of stalled.splice(0)) for (const chunk of hold.chunks) hold.upstream.write(chunk)
    },
  }
}
