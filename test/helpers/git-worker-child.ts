/**
 * A git worker in a process of its own, for tests that SIGKILL it (the merge-queue crash test):
 * `node --import tsx test/helpers/git-worker-child.ts`. Everything comes from the environment:
 *   SGC_CHILD_TEMPORAL   Temporal address          SGC_CHILD_TASK_QUEUE  task queue
 *   SGC_CHILD_DB_URL     Postgres URL              SGC_CHILD_CONFIG      raw config (JSON)
 *   SGC_CHILD_BUNDLE     prebuilt workflow bundle  SGC_CHILD_QUEUE_ROOT  the merge queue's checkouts
 *   SGC_CHILD_MAX_BATCH  the queue's maxBatch      SGC_CHILD_IDLE_MS     the queue's idle end
 *   SGC_CHILD_LOG_LEVEL  pino level (default silent; its log goes to stderr)
 * It prints `ready` on stdout once the worker polls, and stops cleanly on SIGTERM.
 */
import { NativeConnection, DefaultLogger, Runtime } from '@temporalio/worker';
import pino from 'pino';
import { parseConfig } from '../../lib/config/index.js';
import { createDb } from '../../lib/db/index.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { createGitService } from '../../lib/service/index.js';
import { createGitWorker } from '../../workers/git-worker.js';

function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const log = createLogger({ level: process.env.SGC_CHILD_LOG_LEVEL ?? 'silent', destination: pino.destination(2) });
  const config = parseConfig(JSON.parse(need('SGC_CHILD_CONFIG')) as unknown);
  const db = createDb(need('SGC_CHILD_DB_URL'), { max: 5 });
  const metrics = createMetrics({ defaultMetrics: false });
  const service = createGitService({ config, db, metrics, log, approach: 'simple' });
  await service.start();
  const connection = await NativeConnection.connect({ address: need('SGC_CHILD_TEMPORAL') });
  const worker = await createGitWorker({
    connection,
    namespace: 'default',
    taskQueue: need('SGC_CHILD_TASK_QUEUE'),
    service,
    log,
    metrics,
    workflows: { workflowBundle: { codePath: need('SGC_CHILD_BUNDLE') } },
    shutdownGraceTime: '1 second',
    queue: {
      root: need('SGC_CHILD_QUEUE_ROOT'),
      metrics,
      maxBatch: Number(process.env.SGC_CHILD_MAX_BATCH ?? 200),
      idleMs: Number(process.env.SGC_CHILD_IDLE_MS ?? 60_000),
    },
  });
  process.once('SIGTERM', () => worker.shutdown());
  const running = worker.run();
  process.stdout.write('ready\n');
  await running;
  await service.close();
  await db.end();
  await connection.close();
}

main().catch((e: unknown) => {
  process.stderr.write(`git worker child failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
