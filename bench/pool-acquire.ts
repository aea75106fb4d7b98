/**
 * Benchmark `pool-acquire`: warm-pool acquisition latency of approach 2's SandboxPool on real
 * Postgres (a fresh database) and the real local sandbox provider. The pool is pre-warmed to
 * min = max = 10, then N acquire → release cycles run one at a time; only acquire is measured
 * (release wipes the workspace root and health-checks the sandbox — reported on stderr).
 * Goal: p95 < 10 ms.
 *
 * Env: BENCH_N (default 500), BENCH_POOL (10).
 * Prints one final line: BENCH pool-acquire p50_ms=<n> p95_ms=<n> n=<n>
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { createMetrics } from '../lib/metrics.js';
import { SandboxPool } from '../lib/pool/pool.js';
import { createLocalProvider } from '../lib/sandbox/local.js';
import { freshDb } from '../scripts/testing/db.js';

const n = Number(process.env.BENCH_N ?? 500);
const size = Number(process.env.BENCH_POOL ?? 10);
const WARMUP = 20;

function quantile(sorted: number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

const fmt = (x: number): string => x.toFixed(2);

function summary(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `p50_ms=${fmt(quantile(s, 0.5))} p95_ms=${fmt(quantile(s, 0.95))} p99_ms=${fmt(quantile(s, 0.99))} max_ms=${fmt(s[s.length - 1])}`;
}

async function main(): Promise<void> {
  const t = await freshDb('bench_pool');
  const root = mkdtempSync(join(tmpdir(), 'sgc-bench-pool-'));
  const provider = createLocalProvider({ root, defaultTimeoutMs: 3_600_000 });
  const pool = new SandboxPool(
    {
      provider,
      db: t.db,
      key: randomBytes(32),
      metrics: createMetrics({ defaultMetrics: false }),
      log: pino({ level: 'silent' }),
    },
    { min: size, max: size, ttlSeconds: 3600, acquireTimeoutMs: 5_000, pricePerSecond: 0.00003, tickMs: 60_000 },
  );
  try {
    const started = await pool.start();
    if (started.created !== size) throw new Error(`pre-warm created ${started.created} of ${size}`);
    const acquireMs: number[] = [];
    const releaseMs: number[] = [];
    let created = 0;
    for (let i = 0; i < WARMUP + n; i++) {
      const a = {
        agentId: `agent-${i % 50}`,
        taskId: `task-${i}`,
        repoUrl: 'file:///bench.git',
        agentBranch: `agent/agent-${i % 50}/task-${i}`,
      };
      const t0 = performance.now();
      const got = await pool.acquire(a);
      const t1 = performance.now();
      const rel = await pool.release(got.sandbox, got.lease);
      const t2 = performance.now();
      if (got.result !== 'reused') created++;
      if (!rel.returned) throw new Error(`release did not return the sandbox to the pool: ${JSON.stringify(rel)}`);
      if (i >= WARMUP) {
        acquireMs.push(t1 - t0);
        releaseMs.push(t2 - t1);
      }
    }
    if (created > 0) throw new Error(`${created} acquisitions created a sandbox instead of reusing a warm one`);
    const stats = await pool.stats();
    process.stderr.write(`acquire ${summary(acquireMs)} n=${n}\n`);
    process.stderr.write(`release (wipe + health check) ${summary(releaseMs)}\n`);
    process.stderr.write(`pool after: ${JSON.stringify(stats)}\n`);
    const s = [...acquireMs].sort((a, b) => a - b);
    console.log(`BENCH pool-acquire p50_ms=${fmt(quantile(s, 0.5))} p95_ms=${fmt(quantile(s, 0.95))} n=${n}`);
  } finally {
    await pool.stop({ terminateIdle: true }).catch(() => undefined);
    provider.close();
    rmSync(root, { recursive: true, force: true });
    await t.drop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`pool-acquire bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
