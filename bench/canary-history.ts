/**
 * Benchmark `canary-history` (issue 4): history events per workflow run of a 3-week canary
 * rollout analysed every 60 s — goal < 10,000 per run (the server suggests continue-as-new at
 * 4,096 events and fails a run at 51,200).
 *
 * At 60 s the default stages hold 2 + 5 + 7 + 7 days = 2,880 + 7,200 + 10,080 + 10,080 = 30,240
 * analyses. A run ends at a stage boundary or after maxAnalysesPerRun (300) analyses, so the
 * real rollout is ~103 runs of three shapes only: a stage's first run (its flag change + up to
 * 300 analyses), a mid-stage run (300 analyses), a stage's last run (fewer, then the advance).
 * Event counts per analysis do not depend on the interval (a timer, two workflow tasks, one
 * activity), so the benchmark runs the real workflow — real activities, a real Prometheus
 * answering constant PromQL, autoAdvance — compressed to a 1 s interval (the dev server fires
 * shorter timers late, at about 1 s) on a plan that contains every shape at full size:
 * shadow 10 analyses, canary-10 305 (a 300-analysis first run, then a 5-analysis last run),
 * decommission. That takes ~5.5 minutes. BENCH_SCALE=<s> instead runs the proportional plan,
 * s × the real analyses of every stage (s = 1 is all 30,240: ~8.5 h).
 *
 * Counts every run's events with fetchHistory, walking the continue-as-new chain back from the
 * last run. Prints: BENCH canary-history analysis_interval_s=60 events_per_run=<max over runs>
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import pino from 'pino';
import { DEFAULT_MAX_ANALYSES_PER_RUN, DEFAULT_STAGES } from '../lib/canary/analysis.js';
import { DEFAULT_QUERIES } from '../lib/config/queries.js';
import { FlagCache } from '../lib/flags/cache.js';
import { FlagStore } from '../lib/flags/store.js';
import { createMetrics } from '../lib/metrics.js';
import { PromClient } from '../lib/prom/client.js';
import { freshDb } from '../scripts/testing/db.js';
import { startPrometheus } from '../scripts/testing/prometheus.js';
import { testEnv, uniqueQueue, workflowBundle } from '../scripts/testing/temporal.js';
import { canaryActivities } from '../workers/phases-canary.js';
import { canaryRolloutWorkflow } from '../workflows/canary-rollout/workflow.js';
import { canaryWorkflowId } from '../workflows/ids.js';
import { workerInterceptors } from '../workers/interceptors.js';

const REAL_INTERVAL_S = 60;
const intervalMs = 1_000;

const HEALTHY: Record<string, string> = {
  'canary.error_rate': 'vector(0.01)',
  'canary.operations': 'vector(1000)',
  'canary.p95_pooled_seconds': 'vector(0.2)',
  'canary.p95_simple_seconds': 'vector(0.2)',
  'canary.consistency': 'vector(1)',
};

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const log = pino({ level: 'silent' });
  const env = await testEnv();
  const t = await freshDb('bench_history');
  const prom = await startPrometheus();
  const reportsDir = mkdtempSync(join(tmpdir(), 'sgc-bench-'));
  const cache = await FlagCache.start({ connectionString: t.url, processId: 'bench-history', heartbeatMs: 1_000 });
  try {
    const planned = process.env.BENCH_SCALE
      ? DEFAULT_STAGES.map((st) => Math.round((st.holdSeconds / REAL_INTERVAL_S) * Number(process.env.BENCH_SCALE)))
      : [10, DEFAULT_MAX_ANALYSES_PER_RUN + 5, 0];
    const base = process.env.BENCH_SCALE
      ? DEFAULT_STAGES
      : [DEFAULT_STAGES[0]!, DEFAULT_STAGES[1]!, DEFAULT_STAGES[4]!];
    const stages = base.map((st, i) => ({ ...st, holdSeconds: (planned[i]! * intervalMs) / 1000 }));
    const taskQueue = uniqueQueue('bench-history');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: canaryActivities({
        db: t.db,
        flags: new FlagStore(t.db),
        cache,
        prom: new PromClient({ url: prom.url }),
        queries: DEFAULT_QUERIES,
        reportsDir,
        metrics: createMetrics({ defaultMetrics: false }),
        log,
      }),
      interceptors: workerInterceptors({ log, metrics: createMetrics({ defaultMetrics: false }) }),
    });
    const rolloutId = `bench-history-${Date.now()}`;
    const workflowId = canaryWorkflowId(rolloutId);
    const started = Date.now();
    const result = await worker.runUntil(
      env.client.workflow.execute(canaryRolloutWorkflow, {
        taskQueue,
        workflowId,
        args: [
          {
            rolloutId,
            stages,
            autoAdvance: true,
            analysisIntervalSeconds: intervalMs / 1000,
            analysisWindowSeconds: REAL_INTERVAL_S,
            queries: HEALTHY,
          },
        ],
      }),
    );
    const wallS = (Date.now() - started) / 1000;

    const perRun: number[] = [];
    let runId: string | undefined = (await env.client.workflow.getHandle(workflowId).describe()).runId;
    while (runId) {
      const history: Awaited<ReturnType<WorkflowHandle['fetchHistory']>> = await env.client.workflow
        .getHandle(workflowId, runId)
        .fetchHistory();
      const events = history.events ?? [];
      perRun.unshift(events.length);
      runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
    }
    const max = Math.max(...perRun);
    const fullRuns = DEFAULT_STAGES.reduce(
      (n, st) => n + Math.max(1, Math.ceil(st.holdSeconds / REAL_INTERVAL_S / DEFAULT_MAX_ANALYSES_PER_RUN)),
      0,
    );
    process.stderr.write(
      `outcome ${result.outcome}; ${result.analyses} analyses (planned ${planned.join(' + ')}) in ${perRun.length} runs, ${wallS.toFixed(0)} s wall; ` +
        `events per run: ${perRun.join(', ')}; at ${REAL_INTERVAL_S} s over 3 weeks: ${DEFAULT_STAGES.reduce((n, st) => n + st.holdSeconds / REAL_INTERVAL_S, 0)} analyses in ~${fullRuns} runs, ` +
        `none larger than the largest measured here (${max} events)\n`,
    );
    if (result.outcome !== 'completed') throw new Error(`rollout ended ${result.outcome}`);
    console.log(`BENCH canary-history analysis_interval_s=${REAL_INTERVAL_S} events_per_run=${max}`);
  } finally {
    await cache.close();
    await prom.stop();
    await t.drop();
    await env.teardown();
    rmSync(reportsDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`[bench canary-history] ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
