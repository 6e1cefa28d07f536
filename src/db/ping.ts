import { sql } from 'drizzle-orm'
import type { Database } from './client'

/** The readiness probe's statement: `select 1`, which only a working database answers. */
export async function ping(db: Database): Promise<void> {
  await db.execute(sql`select 1`)
}
