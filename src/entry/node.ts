import { serve } from '@hono/node-server'
import { nodeClientAddress } from './client-address'
import { startService } from './server'

const service = await startService(process.env, { clientAddress: nodeClientAddress })
const server = serve({ port: service.config.port, fetch: service.app.fetch }, (info) => {
  console.log(`Listening on http://localhost:${info.port}`)
})

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    server.close(async () => {
      await service.close()
      process.exit(0)
    })
  })
}
