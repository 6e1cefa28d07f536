/**
 * `bun run build:worker` (after wrangler's dry run): prints the size of the Worker's script, raw
 * and gzipped (what Cloudflare's size limits count), and its start-up time: the CPU time workerd
 * spends evaluating the script's global scope, taken from the CPU profile that
 * `wrangler check startup` records on this machine (Cloudflare's CPUs differ; the profile's
 * active time is the figure to compare between builds). `--no-startup` skips the profile.
 * Usage: `bun scripts/bundle-size.ts dist/worker.js [--no-startup]`.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'

/** The parts of a V8 `.cpuprofile` this script reads. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string } }[]
  samples: number[]
  timeDeltas: number[]
}

const file = process.argv.slice(2).find((arg) => !arg.startsWith('--')) ?? 'dist/worker.js'
const bytes = readFileSync(file)
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`
console.log(`Worker script ${file}: ${kib(bytes.length)}, gzipped ${kib(gzipSync(bytes).length)}`)

/** Milliseconds of samples spent outside `(idle)` and `(program)`: the script's own start-up work. */
function activeMs(profile: CpuProfile): number {
  const idle = new Set(
    profile.nodes
      .filter(
        (n) => n.callFrame.functionName === '(idle)' || n.callFrame.functionName === '(program)',
      )
      .map((n) => n.id),
  )
  let micros = 0
  profile.samples.forEach((node, i) => {
    if (!idle.has(node)) micros += profile.timeDeltas[i] ?? 0
  })
  return micros / 1000
}

if (!process.argv.includes('--no-startup')) {
  const dir = mkdtempSync(join(tmpdir(), 'edge-auth-startup-'))
  const outfile = join(dir, 'startup.cpuprofile')
  try {
    // The project's own Node (wrangler needs a newer one than a machine may have) and wrangler.
    const bin = join(import.meta.dirname, '..', 'node_modules', '.bin')
    const run = spawnSync(join(bin, 'wrangler'), ['check', 'startup', `--outfile=${outfile}`], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, WRANGLER_SEND_METRICS: 'false' },
    })
    if (run.status !== 0) throw new Error(`wrangler check startup failed:\n${run.stderr}`)
    const profile = JSON.parse(readFileSync(outfile, 'utf8')) as CpuProfile
    console.log(
      `Worker start-up: ${activeMs(profile).toFixed(1)} ms of CPU in workerd (local profile)`,
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
