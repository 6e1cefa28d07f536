import type { DatabaseConfig, DatabaseHandle } from './client'

/**
 * Opens the configured database. Each driver lives in its own module, loaded only when chosen,
 * so a bundle for one runtime does not carry the others (the Worker imports `drivers/neon-http` alone).
 */
export async function makeDb(config: DatabaseConfig): Promise<DatabaseHandle> {
  switch (config.driver) {
    case 'pglite':
      return (await import('./drivers/pglite')).openPglite(config.dataDir)
    case 'postgres':
      return (await import('./drivers/postgres')).openPostgres(config.url)
    case 'neon-http':
      return (await import('./drivers/neon-http')).openNeonHttp(config.url, config.fetchEndpoint)
  }
}
