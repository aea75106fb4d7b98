/**
 * Benchmark `baseline-rss`: the worker's resident memory while productionBaselineWorkflow loads
 * a local target at 80 req/s over 20 connections (seed 003's baseline stage) for 60 s. Goal: the
 * average ≤ 500 MB (seed 003's memory SLO, applied to our own worker).
 *
 * The worker runs in this process exactly as in production: a prebuilt workflow bundle
 * (workers/build-bundle.ts, built in a child process so webpack's memory is not counted), the
 * baseline activities over real Postgres and a real Prometheus scraping the target. The target
 * is a child process, so its memory is not counted either. RSS is read every 250 ms from the
 * first load window to the end of the run.
 *
 * Env: BENCH_DURATION_S (default 60), BENCH_RPS (80), BENCH_CONNS (20), BENCH_INTERVAL_S (10).
 * Prints one final line: BENCH baseline-rss rps=<achieved> worker_rss_mb_avg=<n>
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import pino from 'pino';
import { parseConfig } from '../lib/config/index.js';
import { DEFAULT_QUERIES } from '../lib/config/queries.js';
import { PromClient } from '../lib/prom/client.js';
import { createBaselineSampleRepository } from '../lib/store/baseline.js';
import { freshDb } from '../scripts/testing/db.js';
import { startPrometheus } from '../scripts/testing/prometheus.js';
import { stackEnv } from '../scripts/testing/stack.js';
import { baselineInputFromConfig } from '../clients/baseline.js';
import { baselineActivities, envTokenFor } from '../workers/phases-baseline.js';
import { artifactRunId } from '../workflows/ids.js';
import { productionBaselineWorkflow } from '../workflows/production-baseline/workflow.js';
import { workerInterceptors } from '../workers/interceptors.js';
import { createMetrics } from '../lib/metrics.js';

const durationS = Number(process.env.BENCH_DURATION_S ?? 60);
const rps = Number(process.env.BENCH_RPS ?? 80);
const conns = Number(process.env.BENCH_CONNS ?? 20);
const intervalS = Math.min(durationS, Number(process.env.BENCH_INTERVAL_S ?? 10));
const TOKEN = 'bench-token-not-secret-0123456789';

/** A node:http target answering after 5 ms, with prom-client's process metrics on /metrics. */
const TARGET_SRC = `
const http = require('node:http');
const client = require('prom-client');
const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', async () => {
    if (req.url === '/metrics') { res.setHeader('content-type', registry.contentType); res.end(await registry.metrics()); return; }
    setTimeout(() => { res.setHeader('content-type', 'application/json'); res.end('{"ok":true}'); }, 5);
  });
});
server.keepAliveTimeout = 65000;
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
process.on('disconnect', () => process.exit(0));
`;

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const root = fileURLToPath(new URL('..', import.meta.url));
  const work = mkdtempSync(join(tmpdir(), 'sgc-bench-rss-'));
  const bundlePath = join(work, 'workflow-bundle.js');
  const built = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'workers/build-bundle.ts'), bundlePath], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (built.status !== 0) throw new Error('building the workflow bundle failed');

  const target = spawn(process.execPath, ['-e', TARGET_SRC], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const [chunk] = (await once(target.stdout!, 'data')) as [Buffer];
  const hostPort = `127.0.0.1:${Number(String(chunk).trim())}`;
  const prometheus = await startPrometheus({
    scrapeInterval: '1s',
    scrape: [{ job: 'bench-target', targets: [hostPort] }],
  });
  const tdb = await freshDb('bench_rss');
  const address = stackEnv('SGC_TEST_TEMPORAL_ADDRESS');
  const nativeConnection = await NativeConnection.connect({ address });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const taskQueue = `bench-rss-${Date.now()}`;
  try {
    const worker = await Worker.create({
      connection: nativeConnection,
      taskQueue,
      workflowBundle: { codePath: bundlePath },
      activities: baselineActivities({
        db: tdb.db,
        prom: new PromClient({ url: prometheus.url }),
        config: { queries: DEFAULT_QUERIES },
        log: pino({ level: 'silent' }),
        tokenFor: envTokenFor({ SGC_BENCH_TOKEN: TOKEN }),
        reportsDir: join(work, 'reports'),
        hostname: 'bench',
        gitSha: null,
      }),
      interceptors: workerInterceptors({
        log: pino({ level: 'silent' }),
        metrics: createMetrics({ defaultMetrics: false }),
      }),
    });
    const input = baselineInputFromConfig(parseConfig({}), {
      target: {
        baseUrl: `http://${hostPort}`,
        tokenRef: 'SGC_BENCH_TOKEN',
        mix: {
          kind: 'requests',
          requests: [{ name: 'status', weight: 1, method: 'GET', path: '/v1/workspaces/bench/status' }],
        },
      },
      job: 'bench-target',
      warmup: { durationSeconds: 0 },
      baseline: {
        rps,
        connections: conns,
        samples: Math.max(1, Math.round(durationS / intervalS)),
        intervalSeconds: intervalS,
      },
      day2: { enabled: false },
      fallbackScenario: { enabled: false },
    });
    const workflowId = `bench-rss-${Date.now()}`;
    const rss: number[] = [];
    let sampling: NodeJS.Timeout | undefined;
    const result = await worker.runUntil(async () => {
      const handle = await client.workflow.start(productionBaselineWorkflow, { taskQueue, workflowId, args: [input] });
      sampling = setInterval(() => rss.push(process.memoryUsage().rss), 250);
      try {
        return await handle.result();
      } finally {
        clearInterval(sampling);
      }
    });
    const rows = await createBaselineSampleRepository(tdb.db).list(artifactRunId(workflowId), 'baseline');
    const completed = rows.reduce(
      (n, r) => n + Number((r.loadStats as { client?: { completed?: number } }).client?.completed ?? 0),
      0,
    );
    const seconds = rows.reduce((n, r) => n + r.windowSeconds, 0);
    const achieved = seconds > 0 ? completed / seconds : 0;
    const mb = (b: number): string => (b / 1048576).toFixed(1);
    const avg = rss.reduce((a, b) => a + b, 0) / Math.max(1, rss.length);
    process.stderr.write(
      `outcome=${result.outcome} samples=${rows.length} completed=${completed} rss_mb_max=${mb(Math.max(...rss))} readings=${rss.length}\n`,
    );
    console.log(`BENCH baseline-rss rps=${achieved.toFixed(2)} worker_rss_mb_avg=${mb(avg)}`);
  } finally {
    target.kill();
    await connection.close();
    await nativeConnection.close();
    await Promise.allSettled([prometheus.stop(), tdb.drop()]);
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`baseline-rss bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
