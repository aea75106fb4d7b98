/**
 * Benchmark `signal-rollback` (issue 4): from a `rollback` signal sent through Temporal to the
 * flags switched, as a FlagCache sees it — the path an operator's `temporal workflow signal` or
 * `POST /v1/rollouts/:id/rollback` takes: signal → workflow task → killSwitch activity → Postgres
 * → NOTIFY → cache. Each run starts a one-stage rollout at 50%, waits until the cache holds it,
 * then signals and times until the cache has every flag at 0. The worker runs here; analyses are
 * an hour apart, so none runs during a measurement. Goal: p99 < 1000 ms.
 *
 * Env: BENCH_RUNS (default 20).
 * Prints: BENCH signal-rollback p50_ms=<n> p99_ms=<n>
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import pino from 'pino';
import { DEFAULT_QUERIES } from '../lib/config/queries.js';
import { FlagCache } from '../lib/flags/cache.js';
import { FlagStore } from '../lib/flags/store.js';
import { createMetrics } from '../lib/metrics.js';
import { PromClient } from '../lib/prom/client.js';
import { freshDb } from '../scripts/testing/db.js';
import { testEnv, uniqueQueue, workflowBundle } from '../scripts/testing/temporal.js';
import { canaryActivities } from '../workers/phases-canary.js';
import { rollbackSignal } from '../workflows/canary-rollout/messages.js';
import { canaryRolloutWorkflow } from '../workflows/canary-rollout/workflow.js';
import { canaryWorkflowId } from '../workflows/ids.js';
import { workerInterceptors } from '../workers/interceptors.js';

const runs = Number(process.env.BENCH_RUNS ?? 20);

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const log = pino({ level: 'silent' });
  const env = await testEnv();
  const t = await freshDb('bench_signal');
  const reportsDir = mkdtempSync(join(tmpdir(), 'sgc-bench-'));
  const cache = await FlagCache.start({ connectionString: t.url, processId: 'bench-observer', heartbeatMs: 1_000 });
  try {
    const taskQueue = uniqueQueue('bench-signal');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: canaryActivities({
        db: t.db,
        flags: new FlagStore(t.db),
        cache,
        prom: new PromClient({ url: 'http://127.0.0.1:9' }),
        queries: DEFAULT_QUERIES,
        reportsDir,
        metrics: createMetrics({ defaultMetrics: false }),
        log,
      }),
      interceptors: workerInterceptors({ log, metrics: createMetrics({ defaultMetrics: false }) }),
    });
    const latencies: number[] = [];
    const recorded: number[] = [];
    const allAt = (p: number) => cache.all().every((f) => f.percent === p);
    await worker.runUntil(async () => {
      for (let k = 0; k < runs; k++) {
        const rolloutId = `bench-${k}-${Date.now()}`;
        const h = await env.client.workflow.start(canaryRolloutWorkflow, {
          taskQueue,
          workflowId: canaryWorkflowId(rolloutId),
          args: [
            {
              rolloutId,
              analysisIntervalSeconds: 3_600,
              stages: [{ name: 'dual-write-50', percent: 50, shadow: true, holdSeconds: 86_400 }],
            },
          ],
        });
        await until('rollout at 50%', () => allAt(50));
        const t0 = performance.now();
        await h.signal(rollbackSignal, { reason: `bench run ${k}`, actor: 'bench' });
        await until('every flag at 0', () => allAt(0));
        latencies.push(performance.now() - t0);
        const r = await h.result();
        if (r.outcome !== 'rolled_back') throw new Error(`run ${k}: ${r.outcome}`);
        if (r.rollback?.switchDurationMs != null) recorded.push(r.rollback.switchDurationMs);
      }
    });
    latencies.sort((a, b) => a - b);
    recorded.sort((a, b) => a - b);
    process.stderr.write(
      `signal → cache switched: p50 ${quantile(latencies, 0.5).toFixed(1)} ms, p99 ${quantile(latencies, 0.99).toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms over ${runs} runs; ` +
        `kill decision → every process switched (recorded on the workflow): p50 ${quantile(recorded, 0.5).toFixed(1)} ms\n`,
    );
    console.log(
      `BENCH signal-rollback p50_ms=${quantile(latencies, 0.5).toFixed(1)} p99_ms=${quantile(latencies, 0.99).toFixed(1)}`,
    );
  } finally {
    await cache.close();
    await t.drop();
    await env.teardown();
    rmSync(reportsDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`[bench signal-rollback] ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
