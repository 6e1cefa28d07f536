import { PGlite } from '@electric-sql/pglite'
import { openPglite } from './src/db/drivers/pglite'
import { migrateDatabase } from './src/db/migrate'
let t = performance.now()
const h = await openPglite(null)
console.log('open', performance.now() - t); t = performance.now()
await migrateDatabase(h)
console.log('migrate', performance.now() - t); t = performance.now()
const client = (h.db as any).$client as PGlite
const dump = await client.dumpDataDir('none')
console.log('dump', performance.now() - t, dump.size); t = performance.now()
for (let i = 0; i < 3; i++) {
  t = performance.now()
  const c2 = new PGlite({ loadDataDir: dump })
  await c2.waitReady
  console.log('load', performance.now() - t); t = performance.now()
  const r = await c2.query('select count(*) from users')
  console.log('q', performance.now() - t, r.rows)
}
for (let i = 0; i < 2; i++) {
  t = performance.now()
  const c3 = new PGlite()
  await c3.waitReady
  console.log('fresh', performance.now() - t)
}
