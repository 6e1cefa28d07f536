import { bunClientAddress } from './client-address'
import { startService } from './server'

let server: Bun.Server<undefined> | undefined
const service = await startService(process.env, { clientAddress: bunClientAddress(() => server) })
server = Bun.serve({ port: service.config.port, fetch: service.app.fetch })
console.log(`Listening on http://localhost:${server.port}`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    await server.stop()
    await service.close()
    process.exit(0)
  })
}
