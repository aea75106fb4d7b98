/**
 * Benchmark `backtest`: validationPeriodWorkflow as a backtest over 6 weeks of synthetic history
 * at 5-minute resolution (42 daily snapshots of 288 points each, 6 weekly checkpoints with
 * reports, the readiness report), on the real stack: Temporal dev server, Postgres, a Prometheus
 * backfilled with promtool. Goal: wall_s < 60.
 *
 * wall_s is the workflow's run time (start → result, continue-as-new included); generating and
 * backfilling the history is not counted. queries is the number of Prometheus HTTP queries.
 *
 * Prints one final line: BENCH backtest weeks=6 wall_s=<n> queries=<n>
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { createLogger } from '../lib/log.js';
import { PromClient } from '../lib/prom/client.js';
import { writeOpenMetricsFile, type HourContext, type ProfilePoint } from '../lib/prom/openmetrics.js';
import { VALIDATION_QUERIES } from '../lib/validation/queries.js';
import { validationWorkflowId } from '../workflows/ids.js';
import { validationPeriodWorkflow } from '../workflows/validation-period/workflow.js';
import { validationActivities } from '../workers/phases-validation.js';
import { freshDb } from '../scripts/testing/db.js';
import { healthyApproach1 } from '../scripts/testing/profiles.js';
import { backfillWindow, startPrometheus } from '../scripts/testing/prometheus.js';
import { testEnv, uniqueId, uniqueQueue, workflowBundle } from '../scripts/testing/temporal.js';
import { workerInterceptors } from '../workers/interceptors.js';
import { createMetrics } from '../lib/metrics.js';

const WEEKS = 6;
const RESOLUTION_SECONDS = 300;

/** The tests' healthy approach 1, with traffic growing 0.2 % a day. */
function profile(h: HourContext): ProfilePoint {
  const point = healthyApproach1(h);
  return { ...point, opsPerMin: point.opsPerMin * (1 + h.day * 0.002) };
}

async function main(): Promise<void> {
  // the SDK's worker lifecycle lines would bury the result line
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const log = createLogger({ level: 'silent' });
  const dir = mkdtempSync(join(tmpdir(), 'sgc-bench-backtest-'));
  const window = backfillWindow(WEEKS * 7 * 24);
  const omFile = join(dir, 'history.om');
  const t0 = Date.now();
  const stats = writeOpenMetricsFile(omFile, {
    start: window.start,
    end: window.end,
    profile,
    stepSeconds: RESOLUTION_SECONDS,
  });
  const [env, tdb, prom] = await Promise.all([
    testEnv(),
    freshDb('bench_backtest'),
    startPrometheus({ openMetricsFile: omFile, maxBlockDuration: '168h' }),
  ]);
  process.stderr.write(
    `[backtest] ${stats.series} series, ${stats.samples} samples backfilled in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
  );
  const promClient = new PromClient({ url: prom.url, timeoutMs: 30_000 });
  try {
    const taskQueue = uniqueQueue('bench-backtest');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: validationActivities({
        db: tdb.db,
        prom: promClient,
        queries: VALIDATION_QUERIES,
        reportsDir: join(dir, 'reports'),
        log,
        temporal: { client: env.client, taskQueue },
      }),
      interceptors: workerInterceptors({ log, metrics: createMetrics({ defaultMetrics: false }) }),
    });
    const result = await worker.runUntil(async () => {
      const started = performance.now();
      const r = await env.client.workflow.execute(validationPeriodWorkflow, {
        taskQueue,
        workflowId: validationWorkflowId(uniqueId('bench')),
        args: [
          {
            backtest: { start: window.start, end: window.end },
            dayLengthSeconds: 0,
            // decide at week 6, so all six weeks are observed
            weeks: WEEKS,
            maxWeeks: WEEKS,
            config: { resolutionSeconds: RESOLUTION_SECONDS },
          },
        ],
        workflowExecutionTimeout: '10 minutes',
      });
      return { r, wallS: (performance.now() - started) / 1000 };
    });
    const { r, wallS } = result;
    process.stderr.write(
      `[backtest] decision ${r.decision} at week ${r.week}, ${r.days} days, incomplete=${r.incomplete}, ${r.reportIds.length} reports\n`,
    );
    if (r.week !== WEEKS || r.days !== WEEKS * 7 || r.incomplete)
      throw new Error(`unexpected result: week ${r.week}, days ${r.days}, incomplete ${r.incomplete}`);
    process.stdout.write(
      `BENCH backtest weeks=${r.week} wall_s=${wallS.toFixed(1)} queries=${promClient.queriesIssued}\n`,
    );
  } finally {
    await prom.stop();
    await tdb.drop();
    await env.teardown();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`[backtest] ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
