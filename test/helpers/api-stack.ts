/**
 * The API over HTTP with a real git worker behind it, for tests that go through the whole path
 * an agent takes: the Temporal dev server (npm test started it), a worker on its own task queue
 * and an API, each with its own GitService over the same database and sandbox root (as the two
 * processes have).
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { buildApp, type App } from '../../api/app.js';
import type { Config } from '../../lib/config/index.js';
import type { Db } from '../../lib/db/index.js';
import type { Logger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { createGitService } from '../../lib/service/index.js';
import { createGitWorker } from '../../workers/git-worker.js';
import { uniqueQueue, workflowBundle } from './temporal.js';

export interface ApiStack {
  url: string;
  app: App;
  close(): Promise<void>;
}

export async function startApiStack(o: {
  env: TestWorkflowEnvironment;
  db: Db;
  config: Config;
  log: Logger;
  /** task-queue prefix, so a test file's worker is recognisable in Temporal UI */
  queue?: string;
}): Promise<ApiStack> {
  const { env, db, config, log } = o;
  const taskQueue = uniqueQueue(o.queue ?? 'sec');
  const workerService = createGitService({ config, db, metrics: createMetrics({ defaultMetrics: false }), log });
  await workerService.start();
  const worker: Worker = await createGitWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    service: workerService,
    log,
    metrics: createMetrics({ defaultMetrics: false }),
    pool: workerService.approach === 'pooled' ? workerService.pool : undefined,
    workflows: { workflowBundle: await workflowBundle() },
    shutdownGraceTime: '1 second',
  });
  const running = worker.run();
  const apiService = createGitService({ config, db, metrics: createMetrics({ defaultMetrics: false }), log });
  const app = await buildApp({
    config,
    service: apiService,
    temporal: { client: env.client, taskQueue },
    metrics: createMetrics({ defaultMetrics: false }),
    db,
    log,
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    app,
    close: async () => {
      await app.close();
      worker.shutdown();
      await running;
      await apiService.close();
      await workerService.close();
    },
  };
}

export interface Res {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** One JSON request with a bearer token; the body is parsed when there is one. */
export async function call(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; timeoutMs?: number; idempotencyKey?: string; raw?: string } = {},
): Promise<Res> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
  let body: string | undefined;
  if (opts.raw !== undefined) {
    headers['content-type'] = 'application/json';
    body = opts.raw;
  } else if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(opts.timeoutMs ?? 120_000),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  if (text) {
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      parsed = { raw: text.slice(0, 200) };
    }
  }
  return { status: res.status, headers: res.headers, body: parsed };
}
