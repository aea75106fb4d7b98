/**
 * Issue 12, fault 2 mid-phase: a stack for killing the worker in the middle of a phase. The
 * worker is the real `workers/main.ts` in an OS process of its own (scripts/stack-processes.ts,
 * process group, so SIGKILL reaches the program and not only tsx), on task queues of its own,
 * over the suite's real Temporal dev server and a fresh database on the suite's real Postgres.
 * Around it:
 *   - a real Prometheus, backfilled with two shrunk weeks of a healthy approach 1 (the validation
 *     backtest reads them: the same data for every run) and scraping a load target live (the
 *     baseline loads it: the target is not the worker, so killing the worker does not change
 *     what the baseline measures);
 *   - an HTTP proxy between the worker and Prometheus that answers every query after `delayMs`
 *     (a loaded Prometheus) and reports each query as it arrives, so a test can kill the worker
 *     while an activity is provably inside a query;
 *   - a TCP proxy between the worker and Temporal (scripts/testing/tcp-proxy.ts): cutting it lets
 *     an activity finish and store its row while its completion cannot reach the server — the
 *     "stored, then died before reporting it" case that idempotent writes exist for.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { openMetricsText } from '../../lib/prom/openmetrics.js';
import { freePort } from '../../scripts/stack.js';
import {
  buildWorkflowBundle,
  startServiceProcesses,
  type ServiceProcess,
  type ServiceProcesses,
} from '../../scripts/stack-processes.js';
import { startTcpProxy, type TcpProxy } from '../../scripts/testing/tcp-proxy.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { healthyApproach1 } from '../helpers/profiles.js';
import { startLoadTarget, type LoadTargetServer } from '../helpers/load-target.js';
import { backfillWindow, startPrometheus, type PrometheusHandle } from '../helpers/prometheus.js';
import { stackEnv } from '../helpers/stack.js';
import { testEnv } from '../helpers/temporal.js';
export { until } from '../../scripts/testing/until.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A Prometheus in front of Prometheus: every query answered `delayMs` late, each one announced. */
export interface SlowProm {
  url: string;
  delayMs: number;
  /** queries (their PromQL) being answered right now */
  inFlight(): string[];
  /** resolves with the first query matching `pred` that arrives from now on (while it is delayed) */
  next(pred: (promql: string) => boolean, timeoutMs: number): Promise<string>;
  close(): Promise<void>;
}

async function startSlowProm(upstream: string, delayMs: number): Promise<SlowProm> {
  const events = new EventEmitter();
  const inFlight = new Map<number, string>();
  let ids = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const url = new URL(req.url ?? '/', 'http://x');
        const form = new URLSearchParams(
          String(req.headers['content-type'] ?? '').includes('form') ? body.toString('utf8') : '',
        );
        const promql = url.searchParams.get('query') ?? form.get('query') ?? '';
        const id = ++ids;
        inFlight.set(id, promql);
        events.emit('query', promql);
        try {
          await sleep(delayMs);
          const r = await fetch(`${upstream}${req.url}`, {
            method: req.method,
            headers: req.headers['content-type'] ? { 'content-type': String(req.headers['content-type']) } : {},
            body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
          });
          const out = Buffer.from(await r.arrayBuffer());
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
          res.end(out);
        } catch {
          if (!res.headersSent) res.writeHead(502);
          res.end();
        } finally {
          inFlight.delete(id);
        }
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    delayMs,
    inFlight: () => [...inFlight.values()],
    next: (pred, timeoutMs) =>
      new Promise<string>((resolve, reject) => {
        const on = (q: string): void => {
          if (!pred(q)) return;
          clearTimeout(t);
          events.off('query', on);
          resolve(q);
        };
        const t = setTimeout(() => {
          events.off('query', on);
          reject(new Error(`no matching Prometheus query within ${timeoutMs} ms`));
        }, timeoutMs);
        events.on('query', on);
      }),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Two-day weeks in the backfilled history (daysPerWeek is a validation input). */
export const DAYS_PER_WEEK = 2;
export const BACKFILL_WEEKS = 2;

export interface PhaseStack {
  env: TestWorkflowEnvironment;
  tdb: TestDb;
  prom: PrometheusHandle;
  slowProm: SlowProm;
  /** worker ↔ Temporal */
  temporalLink: TcpProxy;
  target: LoadTargetServer;
  /** the token the baseline's load carries (the worker reads it from SGC_CHAOS_LOAD_TOKEN) */
  loadToken: string;
  /** the backfilled window (unix seconds) */
  history: { start: number; end: number };
  queues: { phases: string; git: string };
  worker: ServiceProcess;
  reportsDir: string;
  dir: string;
  /** SIGKILL the worker (its process group) */
  kill(): Promise<void>;
  /** start it again (same port, same environment) and wait for its /metrics */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startPhaseStack(o: { delayMs: number; say?: (m: string) => void }): Promise<PhaseStack> {
  const say = o.say ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'sgc-chaos-phases-'));
  const closers: (() => Promise<unknown>)[] = [];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const loadToken = randomBytes(24).toString('base64url');
    const history = backfillWindow(BACKFILL_WEEKS * DAYS_PER_WEEK * 24);
    const [env, tdb, target] = await Promise.all([
      testEnv(),
      freshDb('chaos_phases'),
      startLoadTarget({ token: loadToken }),
    ]);
    closers.push(
      () => env.teardown(),
      () => tdb.drop(),
      () => target.close(),
    );
    const prom = await startPrometheus({
      openMetrics: openMetricsText({
        start: history.start,
        end: history.end,
        profile: healthyApproach1,
        stepSeconds: 900,
      }),
      maxBlockDuration: '168h',
      scrapeInterval: '1s',
      scrape: [{ job: 'sgc-target', targets: [target.hostPort] }],
    });
    closers.push(() => prom.stop());
    const slowProm = await startSlowProm(prom.url, o.delayMs);
    closers.push(() => slowProm.close());
    const [th, tp] = stackEnv('SGC_TEST_TEMPORAL_ADDRESS').split(':');
    const temporalLink = await startTcpProxy({ host: th, port: Number(tp) });
    closers.push(() => temporalLink.close());

    const reportsDir = join(dir, 'reports');
    mkdirSync(join(dir, 'sandboxes'), { recursive: true });
    const suffix = randomBytes(4).toString('hex');
    const queues = { phases: `chaos-phases-${suffix}`, git: `chaos-git-${suffix}` };
    const env0: NodeJS.ProcessEnv = {
      ...process.env,
      LOG_LEVEL: process.env.SGC_CHAOS_LOG_LEVEL ?? 'warn',
      TEMPORAL_ADDRESS: `${temporalLink.host}:${temporalLink.port}`,
      DATABASE_URL: tdb.url,
      PROMETHEUS_URL: slowProm.url,
      SANDBOX_PROVIDER: 'local',
      REPORTS_DIR: reportsDir,
      SGC_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      SGC_CHAOS_LOAD_TOKEN: loadToken,
      SGC__sandbox__localRoot: join(dir, 'sandboxes'),
      SGC__pool__min: '0',
      SGC__schedules__enabled: 'false',
      SGC__temporal__taskQueues__phases: queues.phases,
      SGC__temporal__taskQueues__git: queues.git,
    };
    // a restarted worker must not spend a minute in webpack: the bundle is built once
    env0.SGC_WORKFLOW_BUNDLE = buildWorkflowBundle(join(dir, 'workflow-bundle.js'), say);
    const port = await freePort();
    const service: ServiceProcesses = await startServiceProcesses({
      ports: { api: [], worker: [port] },
      env: env0,
      logDir: join(dir, 'logs'),
      ownProcessGroup: true,
      say,
    });
    closers.push(() => service.stop());
    const worker = service.workers[0]!;
    say(`phases: worker ${worker.current().child.pid} on ${queues.phases}, Prometheus ${prom.url} (+${o.delayMs} ms)`);
    return {
      env,
      tdb,
      prom,
      slowProm,
      temporalLink,
      target,
      loadToken,
      history,
      queues,
      worker,
      reportsDir,
      dir,
      kill: () => worker.kill(),
      restart: async () => {
        temporalLink.forward();
        await worker.start();
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
