import { randomBytes, randomUUID } from 'node:crypto'
import { NeonDbError, type NeonQueryFunction, neon, neonConfig } from '@neondatabase/serverless'
import { eq, sql as raw } from 'drizzle-orm'
import { DrizzleQueryError } from 'drizzle-orm/errors'
import { drizzle, type NeonHttpDatabase } from 'drizzle-orm/neon-http'
import {
  bigint,
  boolean,
  integer,
  jsonb,
  pgTable,
  serial,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type NeonLocal, startNeonLocal } from '../scripts/neon-local'

const ADMIN_URL =
  process.env.NEON_LOCAL_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const DB_NAME = `neon_local_${randomBytes(6).toString('hex')}`
const DB_URL = withDatabase(ADMIN_URL, DB_NAME)

/** Hosts in the driver's connection string pick the endpoint instance (see fetchEndpoint). */
const HOST = {
  main: 'main.neon-local.test',
  single: 'single.neon-local.test',
  tiny: 'tiny.neon-local.test',
}
const connString = (host: string) => `postgres://neon:secret@${host}/${DB_NAME}`
const MAIN = connString(HOST.main)

const TRICKY_TEXT = 'héllo wörld ✓ 😀 日本語 \t\n\r\u0001\u001f "quoted" \\back\\slash {a,b} NULL'

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

async function probePostgres(url: string): Promise<string | undefined> {
  const client = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} })
  try {
    await client`SELECT 1`
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  } finally {
    await client.end({ timeout: 0 })
  }
}

const unreachable = await probePostgres(ADMIN_URL)
if (unreachable !== undefined && process.env.CI === 'true') {
  throw new Error(`Postgres at ${ADMIN_URL} is required in CI: ${unreachable}`)
}
if (unreachable !== undefined) {
  console.warn(`[neon-local.test] skipped: Postgres at ${ADMIN_URL} unreachable (${unreachable})`)
}

async function rejection(promise: PromiseLike<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected the promise to reject')
}

function only<T>(rows: readonly T[]): T {
  expect(rows).toHaveLength(1)
  return rows[0] as T
}

async function neonError(promise: PromiseLike<unknown>): Promise<NeonDbError> {
  const error = await rejection(promise)
  expect(error).toBeInstanceOf(NeonDbError)
  return error as NeonDbError
}

describe.skipIf(unreachable !== undefined)('neon-local endpoint with the real Neon driver', () => {
  let admin: postgres.Sql
  let direct: postgres.Sql
  let main: NeonLocal
  let single: NeonLocal
  let tiny: NeonLocal
  let sql: NeonQueryFunction<false, false>
  const savedEndpoint = neonConfig.fetchEndpoint

  beforeAll(async () => {
    admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} })
    await admin.unsafe(`CREATE DATABASE ${DB_NAME}`)
    direct = postgres(DB_URL, { max: 2, onnotice: () => {} })
    main = await startNeonLocal({ databaseUrl: DB_URL, port: 0 })
    single = await startNeonLocal({ databaseUrl: DB_URL, port: 0, maxConnections: 1 })
    tiny = await startNeonLocal({
      databaseUrl: DB_URL,
      port: 0,
      maxRequestBytes: 1024,
      maxResponseBytes: 1024,
    })
    const byHost: Record<string, string> = {
      [HOST.main]: main.url,
      [HOST.single]: single.url,
      [HOST.tiny]: tiny.url,
    }
    neonConfig.fetchEndpoint = (host) => byHost[host] ?? `http://unknown-host.invalid/${host}`
    sql = neon(MAIN)
  })

  afterAll(async () => {
    neonConfig.fetchEndpoint = savedEndpoint
    await Promise.all([main?.close(), single?.close(), tiny?.close()])
    await direct?.end({ timeout: 5 })
    await admin?.unsafe(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`)
    await admin?.end({ timeout: 5 })
  })

  describe('raw neon() queries', () => {
    beforeAll(async () => {
      await direct.unsafe(`CREATE TABLE raw_people (
        id serial PRIMARY KEY,
        email text NOT NULL UNIQUE,
        active boolean NOT NULL DEFAULT true,
        tags text[] NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now()
      )`)
    })

    it('decodes scalars with the driver parsers (int8 and numeric stay strings)', async () => {
      const rows = await sql`SELECT 42::int4 AS i4, 7::int2 AS i2,
        9007199254740993::int8 AS i8, 12.50::numeric AS num, 1.5::float8 AS f8,
        true AS yes, false AS no, NULL::int4 AS nothing, ${TRICKY_TEXT}::text AS txt,
        ${TRICKY_TEXT} AS untyped`
      expect(rows).toEqual([
        {
          i4: 42,
          i2: 7,
          i8: '9007199254740993',
          num: '12.50',
          f8: 1.5,
          yes: true,
          no: false,
          nothing: null,
          txt: TRICKY_TEXT,
          untyped: TRICKY_TEXT,
        },
      ])
    })

    it('round-trips timestamptz as Date', async () => {
      const when = new Date('2024-02-29T23:59:58.123Z')
      const row = only(
        await sql`SELECT ${when}::timestamptz AS ts,
        ${when}::timestamptz + interval '1 day' AS next, NULL::timestamptz AS none`,
      )
      expect(row.ts).toBeInstanceOf(Date)
      expect((row.ts as Date).getTime()).toBe(when.getTime())
      expect((row.next as Date).toISOString()).toBe('2024-03-01T23:59:58.123Z')
      expect(row.none).toBeNull()
    })

    it('parses json and jsonb', async () => {
      const doc = { name: 'Zoë', n: 1.25, list: [1, null, 'x'], nested: { ok: true } }
      const [row] = await sql`SELECT ${doc}::jsonb AS jb,
        '{"a":[1,2,{"b":null}]}'::json AS j, 'null'::jsonb AS jnull, '"str"'::jsonb AS jstr`
      expect(row).toEqual({ jb: doc, j: { a: [1, 2, { b: null }] }, jnull: null, jstr: 'str' })
    })

    it('parses int and text arrays, with NULL elements, empty and nested arrays', async () => {
      const [row] = await sql`SELECT ARRAY[1, NULL, 3]::int4[] AS ints, '{}'::int4[] AS empty,
        ARRAY['a', NULL, 'b,"c"\\d', 'NULL', '', ${TRICKY_TEXT}]::text[] AS texts,
        ${[4, 5, 6]}::int4[] AS param_ints, ${['x', null, 'y "z"']}::text[] AS param_texts,
        '{{1,2},{3,4}}'::int4[] AS nested, ARRAY[true, NULL]::bool[] AS bools`
      expect(row).toEqual({
        ints: [1, null, 3],
        empty: [],
        texts: ['a', null, 'b,"c"\\d', 'NULL', '', TRICKY_TEXT],
        param_ints: [4, 5, 6],
        param_texts: ['x', null, 'y "z"'],
        nested: [
          [1, 2],
          [3, 4],
        ],
        bools: [true, null],
      })
    })

    it('round-trips bytea and uuid', async () => {
      const bytes = Buffer.from([0, 1, 2, 127, 128, 253, 254, 255])
      const id = randomUUID()
      const row = only(
        await sql`SELECT ${bytes} AS b, octet_length(${bytes}) AS len,
        ${id}::uuid AS id, gen_random_uuid() AS fresh, '\\x'::bytea AS empty`,
      )
      expect([...(row.b as Uint8Array)]).toEqual([...bytes])
      expect(row.len).toBe(8)
      expect(row.id).toBe(id)
      expect(row.fresh).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      )
      expect([...(row.empty as Uint8Array)]).toEqual([])
    })

    it('honours array mode, object mode and full results', async () => {
      const arrays = neon(MAIN, { arrayMode: true })
      expect(await arrays`SELECT 1 AS a, 'x' AS b`).toEqual([[1, 'x']])
      expect(await sql.query('SELECT $1::int4 AS n', [3], { arrayMode: true })).toEqual([[3]])
      expect(await sql.query('SELECT $1::int4 AS n', [3])).toEqual([{ n: 3 }])

      const full = await neon(MAIN, { fullResults: true })`SELECT 1::int4 AS a, 'x'::text AS b`
      expect(full.command).toBe('SELECT')
      expect(full.rowCount).toBe(1)
      expect(full.rowAsArray).toBe(false)
      expect(full.rows).toEqual([{ a: 1, b: 'x' }])
      expect(full.fields.map((f) => [f.name, f.dataTypeID])).toEqual([
        ['a', 23],
        ['b', 25],
      ])
    })

    it('returns RETURNING rows and zero rows for ON CONFLICT DO NOTHING', async () => {
      const [created] = await sql`INSERT INTO raw_people (email, tags)
        VALUES (${'ada@example.test'}, ${['admin', 'ops']}) RETURNING *`
      expect(created).toMatchObject({
        email: 'ada@example.test',
        active: true,
        tags: ['admin', 'ops'],
      })
      expect(created?.id).toEqual(expect.any(Number))
      expect(created?.created_at).toBeInstanceOf(Date)

      const skipped = await sql`INSERT INTO raw_people (email) VALUES (${'ada@example.test'})
        ON CONFLICT DO NOTHING RETURNING id`
      expect(skipped).toEqual([])

      const full = neon(MAIN, { fullResults: true })
      const none = await full`INSERT INTO raw_people (email) VALUES (${'ada@example.test'})
        ON CONFLICT DO NOTHING`
      expect([none.command, none.rowCount, none.fields]).toEqual(['INSERT', 0, []])
      const updated =
        await full`UPDATE raw_people SET active = ${false} WHERE email = ${'ada@example.test'}`
      expect([updated.command, updated.rowCount]).toEqual(['UPDATE', 1])
      const ddl = await full`CREATE TEMP TABLE scratch (a int)`
      expect([ddl.command, ddl.rowCount]).toEqual(['CREATE', null])
    })

    it('surfaces a unique violation as NeonDbError 23505 with its fields', async () => {
      await sql`INSERT INTO raw_people (email) VALUES (${'dup@example.test'})`
      const error = await neonError(
        sql`INSERT INTO raw_people (email) VALUES (${'dup@example.test'})`,
      )
      expect(error).toMatchObject({
        code: '23505',
        severity: 'ERROR',
        constraint: 'raw_people_email_key',
        table: 'raw_people',
        schema: 'public',
      })
      expect(error.message).toMatch(/duplicate key value violates unique constraint/)
      expect(error.detail).toMatch(/already exists/)
    })

    it('surfaces syntax, type and not-null errors with SQLSTATE', async () => {
      const syntax = await neonError(sql`SELEC 1`)
      expect([syntax.code, syntax.position]).toEqual(['42601', '1'])
      const multi = await neonError(sql`SELECT 1; SELECT 2`)
      expect(multi.code).toBe('42601')
      const badInt = await neonError(sql`SELECT ${'abc'}::int4`)
      expect(badInt.code).toBe('22P02')
      const notNull = await neonError(sql`INSERT INTO raw_people (email) VALUES (${null})`)
      expect(notNull).toMatchObject({ code: '23502', column: 'email', table: 'raw_people' })
    })

    it('runs sql.transaction() in one transaction and rolls back on error', async () => {
      const [inserted, counted] = await sql.transaction([
        sql`INSERT INTO raw_people (email) VALUES (${'tx-ok@example.test'}) RETURNING email`,
        sql`SELECT count(*)::int4 AS n FROM raw_people WHERE email = ${'tx-ok@example.test'}`,
      ])
      expect(inserted).toEqual([{ email: 'tx-ok@example.test' }])
      expect(counted).toEqual([{ n: 1 }])

      const error = await neonError(
        sql.transaction([
          sql`INSERT INTO raw_people (email) VALUES (${'tx-lost@example.test'})`,
          sql`INSERT INTO raw_people (email) VALUES (${'tx-ok@example.test'})`,
        ]),
      )
      expect(error.code).toBe('23505')
      const left = await direct`SELECT 1 FROM raw_people WHERE email = 'tx-lost@example.test'`
      expect(left).toHaveLength(0)
    })

    it('applies isolation level, read-only and deferrable to transactions', async () => {
      const results = await sql.transaction(
        (tx) => [
          tx`SHOW transaction_isolation`,
          tx`SHOW transaction_read_only`,
          tx`SHOW transaction_deferrable`,
        ],
        { isolationLevel: 'Serializable', readOnly: true, deferrable: true },
      )
      expect(results).toEqual([
        [{ transaction_isolation: 'serializable' }],
        [{ transaction_read_only: 'on' }],
        [{ transaction_deferrable: 'on' }],
      ])
      const readOnly = await neonError(
        sql.transaction([sql`INSERT INTO raw_people (email) VALUES ('ro@example.test')`], {
          readOnly: true,
        }),
      )
      expect(readOnly.code).toBe('25006')
    })

    it('does not leak a transaction opened by a single BEGIN', async () => {
      const lone = neon(connString(HOST.single))
      await lone`BEGIN`
      await lone`INSERT INTO raw_people (email) VALUES (${'after-begin@example.test'})`
      const seen = await direct`SELECT 1 FROM raw_people WHERE email = 'after-begin@example.test'`
      expect(seen).toHaveLength(1)
    })

    it('reports oversized responses as a server error', async () => {
      const small = neon(connString(HOST.tiny))
      expect(await small`SELECT 1 AS ok`).toEqual([{ ok: 1 }])
      const error = await neonError(small`SELECT repeat('x', 5000) AS big`)
      expect(error.message).toMatch(/HTTP status 507/)
    })
  })

  describe('drizzle-orm/neon-http', () => {
    const users = pgTable('drizzle_users', {
      id: serial('id').primaryKey(),
      email: text('email').notNull().unique(),
      active: boolean('active').notNull().default(true),
      visits: bigint('visits', { mode: 'bigint' }).notNull().default(0n),
      score: integer('score'),
      profile: jsonb('profile').$type<{ name: string; langs: string[] }>(),
      tags: text('tags').array().notNull().default(raw`'{}'`),
      externalId: uuid('external_id').notNull().defaultRandom(),
      createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' })
        .notNull()
        .defaultNow(),
    })
    let db: NeonHttpDatabase

    beforeAll(async () => {
      await direct.unsafe(`CREATE TABLE drizzle_users (
        id serial PRIMARY KEY,
        email text NOT NULL UNIQUE,
        active boolean NOT NULL DEFAULT true,
        visits bigint NOT NULL DEFAULT 0,
        score integer,
        profile jsonb,
        tags text[] NOT NULL DEFAULT '{}',
        external_id uuid NOT NULL DEFAULT gen_random_uuid(),
        created_at timestamptz NOT NULL DEFAULT now()
      )`)
      // Constructing the drizzle driver swaps the driver's global timestamp parsers to
      // identity, so it happens here, after the raw neon() tests have checked Dates.
      db = drizzle({ client: neon(MAIN) })
    })

    it('inserts and selects typed rows', async () => {
      const createdAt = new Date('2023-06-01T12:34:56.789Z')
      const [row] = await db
        .insert(users)
        .values({
          email: 'grace@example.test',
          visits: 9007199254740993n,
          score: -5,
          profile: { name: 'Grace', langs: ['COBOL', 'Fortran'] },
          tags: ['navy', null as unknown as string, 'pioneer'],
          createdAt,
        })
        .returning()
      expect(row).toMatchObject({
        email: 'grace@example.test',
        active: true,
        visits: 9007199254740993n,
        score: -5,
        profile: { name: 'Grace', langs: ['COBOL', 'Fortran'] },
        tags: ['navy', null, 'pioneer'],
      })
      expect(row?.createdAt.toISOString()).toBe(createdAt.toISOString())
      expect(row?.externalId).toMatch(/^[0-9a-f-]{36}$/)

      const found = await db.select().from(users).where(eq(users.email, 'grace@example.test'))
      expect(found).toEqual([row])
    })

    it('returns no rows for onConflictDoNothing().returning()', async () => {
      await db.insert(users).values({ email: 'dupe@example.test' })
      const rows = await db
        .insert(users)
        .values({ email: 'dupe@example.test' })
        .onConflictDoNothing()
        .returning()
      expect(rows).toEqual([])
    })

    it('wraps a unique violation with the NeonDbError as cause', async () => {
      const error = await rejection(db.insert(users).values({ email: 'dupe@example.test' }))
      expect(error).toBeInstanceOf(DrizzleQueryError)
      const cause = (error as DrizzleQueryError).cause
      expect(cause).toBeInstanceOf(NeonDbError)
      expect(cause).toMatchObject({ code: '23505', constraint: 'drizzle_users_email_key' })
    })

    it('runs db.batch() atomically', async () => {
      const [inserted, counted] = await db.batch([
        db.insert(users).values({ email: 'batch-ok@example.test' }).returning({ id: users.id }),
        db.select({ n: raw<number>`count(*)::int4` }).from(users),
      ])
      expect(inserted).toEqual([{ id: expect.any(Number) }])
      expect(counted[0]?.n).toBeGreaterThan(0)

      const error = await rejection(
        db.batch([
          db.insert(users).values({ email: 'batch-lost@example.test' }),
          db.insert(users).values({ email: 'batch-ok@example.test' }),
        ]),
      )
      expect(error).toBeInstanceOf(NeonDbError)
      expect((error as NeonDbError).code).toBe('23505')
      const left = await direct`SELECT 1 FROM drizzle_users WHERE email = 'batch-lost@example.test'`
      expect(left).toHaveLength(0)
    })

    it('returns object rows from db.execute()', async () => {
      const result = await db.execute(raw`SELECT ${7}::int4 AS n, ${'x'}::text AS s`)
      expect(result.rows).toEqual([{ n: 7, s: 'x' }])
    })
  })

  describe('HTTP protocol', () => {
    function post(body: BodyInit, headers: Record<string, string> = {}, url = main.url) {
      return fetch(url, {
        method: 'POST',
        headers: { 'Neon-Connection-String': MAIN, 'Neon-Raw-Text-Output': 'true', ...headers },
        body,
      })
    }

    async function expectJsonError(response: Response, status: number, message: RegExp) {
      expect(response.status).toBe(status)
      expect(response.headers.get('content-type')).toMatch(/application\/json/)
      const body = (await response.json()) as { message: string }
      expect(body.message).toMatch(message)
    }

    it('serves Postgres text only, as the driver asks, and refuses a request for typed JSON', async () => {
      const text = await post(JSON.stringify({ query: 'SELECT 1::int4 AS i, true AS b' }))
      expect(text.status).toBe(200)
      expect(((await text.json()) as { rows: unknown }).rows).toEqual([{ i: '1', b: 't' }])
      await expectJsonError(
        await post(JSON.stringify({ query: 'SELECT 1' }), { 'Neon-Raw-Text-Output': 'false' }),
        400,
        /only raw text output is served/,
      )
    })

    it('honours a per-query arrayMode in the body', async () => {
      const response = await post(JSON.stringify({ query: 'SELECT 1 AS a', arrayMode: true }))
      expect(((await response.json()) as { rows: unknown }).rows).toEqual([['1']])
    })

    it('rejects malformed requests with 4xx JSON errors', async () => {
      await expectJsonError(await post('{not json'), 400, /could not parse the HTTP request body/)
      await expectJsonError(await post('[]'), 400, /could not parse/)
      await expectJsonError(await post('{"params":[]}'), 400, /could not parse/)
      await expectJsonError(await post('{"query":1}'), 400, /"query" must be a string/)
      await expectJsonError(await post('{"query":"SELECT 1","params":"x"}'), 400, /"params"/)
      await expectJsonError(await post('{"queries":[{"query":null}]}'), 400, /queries\[0\]/)
      const noHeader = await fetch(main.url, { method: 'POST', body: '{"query":"SELECT 1"}' })
      await expectJsonError(noHeader, 400, /neon-connection-string/)
      await expectJsonError(
        await post('{"query":"SELECT 1"}', { 'Neon-Connection-String': 'mysql://u@h/db' }),
        400,
        /incorrect scheme/,
      )
      await expectJsonError(
        await post('{"queries":[]}', { 'Neon-Batch-Isolation-Level': 'Chaos' }),
        400,
        /invalid isolation level/,
      )
      await expectJsonError(await fetch(main.url), 400, /not supported/)
      await expectJsonError(
        await post('{"query":"SELECT 1"}', {}, main.url.replace('/sql', '/x')),
        400,
        /not supported/,
      )
    })

    it('bounds the request body, with or without content-length', async () => {
      const big = JSON.stringify({ query: `SELECT '${'x'.repeat(2000)}'` })
      await expectJsonError(await post(big, {}, tiny.url), 413, /request is too large/)
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(big))
          controller.close()
        },
      })
      const chunked = await fetch(tiny.url, {
        method: 'POST',
        headers: { 'Neon-Connection-String': MAIN },
        body: stream,
        duplex: 'half',
      } as RequestInit)
      await expectJsonError(chunked, 413, /request is too large/)
    })

    it('answers CORS preflight like Neon', async () => {
      const response = await fetch(main.url, { method: 'OPTIONS' })
      expect(response.status).toBe(200)
      expect(response.headers.get('access-control-allow-origin')).toBe('*')
      expect(response.headers.get('access-control-allow-headers')).toMatch(/Neon-Connection-String/)
    })

    it('recovers from a killed backend and from COPY', async () => {
      const lone = neon(connString(HOST.single))
      const killed = await neonError(lone`SELECT pg_terminate_backend(pg_backend_pid())`)
      expect(killed.message).toMatch(/CONNECTION_CLOSED|terminating connection/)
      expect(await lone`SELECT 1 AS ok`).toEqual([{ ok: 1 }])
      await neonError(
        lone.transaction([lone`SELECT 1`, lone`SELECT pg_terminate_backend(pg_backend_pid())`]),
      )
      expect(await lone`SELECT 2 AS ok`).toEqual([{ ok: 2 }])
      const copyOut = await neonError(lone`COPY (SELECT generate_series(1, 50000)) TO STDOUT`)
      expect(copyOut.message).toMatch(/COPY is not supported/)
      await neonError(lone`COPY raw_people (email) FROM STDIN`)
      expect(await lone`SELECT 3 AS ok`).toEqual([{ ok: 3 }])
    })

    it('cancels the statement of a client that hangs up', async () => {
      const aborter = new AbortController()
      const sleeping = fetch(single.url, {
        method: 'POST',
        headers: { 'Neon-Connection-String': MAIN, 'Neon-Raw-Text-Output': 'true' },
        body: JSON.stringify({ query: 'SELECT pg_sleep(30)' }),
        signal: aborter.signal,
      }).catch(() => 'aborted')
      await new Promise((done) => setTimeout(done, 300))
      aborter.abort()
      expect(await sleeping).toBe('aborted')
      const started = Date.now()
      expect(await neon(connString(HOST.single))`SELECT 4 AS ok`).toEqual([{ ok: 4 }])
      expect(Date.now() - started).toBeLessThan(5_000)
    })

    it('keeps serving after bad requests', async () => {
      expect(await sql`SELECT 1 AS ok`).toEqual([{ ok: 1 }])
    })
  })
})
