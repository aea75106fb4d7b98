/**
 * The worker process (`npm run worker`): config parsed once, deps built once, two Temporal
 * workers in one process —
 *   - `temporal.taskQueues.git`: gitOperationWorkflow + poolMaintenanceWorkflow over the routed
 *     GitService (approach 1 / approach 2 by flags), hosting approach 2's warm pool;
 *   - `temporal.taskQueues.phases`: validationPeriodWorkflow, canaryRolloutWorkflow,
 *     reconciliationWorkflow, rollbackDrillWorkflow, productionBaselineWorkflow,
 *     driftReviewWorkflow —
 * the Schedules ensured (pool chores, reconciliation, weekly drill), /metrics served on
 * `metrics.workerPort`. SIGINT/SIGTERM drain both workers (in-flight pushes get 30 s to land),
 * then stop the pool and close Postgres.
 *
 * Workflow code: the source tree in development (bundled at start), or the prebuilt bundle at
 * SGC_WORKFLOW_BUNDLE in production (workers/build-bundle.ts).
 */
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { hostname } from 'node:os';
import { execFileSync } from 'node:child_process';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createNotifyActivities } from '../activities/notify.js';
import { activityLogger } from '../activities/support.js';
import { loadConfig, type Config } from '../lib/config/index.js';
import { createDb, migrate } from '../lib/db/index.js';
import { createLogger, type Logger } from '../lib/log.js';
import { createMetrics, type Metrics } from '../lib/metrics.js';
import { FlagCache } from '../lib/flags/cache.js';
import { FlagStore } from '../lib/flags/store.js';
import { PromClient } from '../lib/prom/client.js';
import { composeGitService } from '../lib/service/compose.js';
import { createGitPolicy } from '../lib/policy/index.js';
import { createGitWorker, HEARTBEAT_THROTTLE_MAX, type WorkflowSource } from './git-worker.js';
import { baselineActivities, envTokenFor } from './phases-baseline.js';
import { canaryActivities } from './phases-canary.js';
import { validationActivities } from './phases-validation.js';
import { ensureCanarySchedules, ensurePoolSchedules } from '../clients/schedules.js';
import { tlsOptions } from '../clients/temporal.js';
import { installRuntime } from './runtime.js';
import { workerInterceptors } from './interceptors.js';

function gitSha(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function workflowSource(env: NodeJS.ProcessEnv): WorkflowSource {
  const codePath = env.SGC_WORKFLOW_BUNDLE;
  if (codePath) return { workflowBundle: { codePath } };
  return { workflowsPath: fileURLToPath(new URL('../workflows/index.ts', import.meta.url)) };
}

/** /metrics for Prometheus on its own port (the worker has no HTTP API). */
function serveMetrics(metrics: Metrics, config: Config, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metrics.registry.metrics().then(
      (body) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(body),
      (err: unknown) => {
        log.error({ err: (err as Error).message }, 'metrics collection failed');
        res.writeHead(500).end();
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.metrics.workerPort, config.api.host, () => {
      log.info({ port: config.metrics.workerPort }, 'worker metrics listening');
      resolve(server);
    });
  });
}

async function main(): Promise<void> {
  const config = loadConfig();
  const metrics = createMetrics();
  // error/fatal lines feed gitops_log_errors_total (the drift review's "critical errors")
  const log = createLogger({ name: 'sgc-worker', errorCounter: metrics.logErrors });
  installRuntime(log);
  if (!config.postgres.url) throw new Error('postgres.url is not set: export DATABASE_URL (npm start provisions one)');

  metrics.sandboxLimit.labels(config.sandbox.provider).set(config.sandbox.planConcurrencyLimit);
  const db = createDb(config.postgres.url, { max: config.postgres.poolSize, log, applicationName: 'sgc-worker' });
  const closers: (() => Promise<unknown>)[] = [() => db.end()];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.reverse())
      await close().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'shutdown step failed'));
  };
  try {
    await migrate(db, { log });
    const composed = await composeGitService({ config, db, metrics, log, processName: 'worker' });
    // the worker hosts the pool: reconnect recorded sandboxes and pre-warm to the minimum
    await composed.start();
    closers.push(() => composed.close());
    const metricsServer = await serveMetrics(metrics, config, log);
    closers.push(() => new Promise<void>((r) => metricsServer.close(() => r())));

    const connection = await NativeConnection.connect({
      address: config.temporal.address,
      tls: tlsOptions(config.temporal),
      apiKey: config.temporal.apiKey,
    });
    closers.push(() => connection.close());
    const gitQueue = config.temporal.taskQueues.git;
    const phasesQueue = config.temporal.taskQueues.phases;
    if (config.schedules.enabled) {
      const client = new Client({ connection, namespace: config.temporal.namespace });
      await ensurePoolSchedules(client, {
        taskQueue: gitQueue,
        healthCheckEvery: config.schedules.poolHealthCheckEvery,
        cleanupEvery: config.schedules.poolCleanupEvery,
        log,
      });
      await ensureCanarySchedules(client, config, phasesQueue, log);
    }
    const workflows = workflowSource(process.env);
    const gitPolicy = createGitPolicy(config.git);
    const gitWorker = await createGitWorker({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: gitQueue,
      service: composed.service,
      log,
      metrics,
      pool: composed.pool,
      rehome: composed.rehome,
      workflows,
      queue: {
        root: join(config.sandbox.localRoot, 'merge-queue'),
        metrics,
        maxBatch: config.push.maxBatch,
        // the queue pushes with the token of the remote's git.remotes entry, bound to that remote
        creds: (repoUrl) => gitPolicy.remotes.check(repoUrl).credentials,
        committer: { name: config.git.authorName, email: config.git.authorEmail },
      },
    });

    // the phases: their own flag cache (a kill waits for every live cache, the drill routes through it)
    const prom = new PromClient(config.prometheus);
    const flagStore = new FlagStore(db);
    const cache =
      composed.flags ??
      (await FlagCache.start({
        connectionString: config.postgres.url,
        processId: `worker-phases-${process.pid}`,
        log,
        ...config.service.flagCache,
      }));
    if (!composed.flags) closers.push(() => cache.close());
    const reportsDir = config.reports.dir;
    const phasesClient = new Client({ connection, namespace: config.temporal.namespace });
    // activity bodies' lines carry the workflow and activity ids (activities/support.ts)
    const actLog = activityLogger(log);
    const phasesWorker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: phasesQueue,
      ...workflows,
      maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE_MAX,
      activities: {
        ...validationActivities({
          db,
          prom,
          queries: config.queries,
          reportsDir,
          log: actLog,
          temporal: { client: phasesClient, taskQueue: phasesQueue },
        }),
        ...canaryActivities({
          db,
          flags: flagStore,
          cache,
          prom,
          queries: config.queries,
          reportsDir,
          metrics,
          probeHotBackup: composed.probeHotBackup,
          log: actLog,
        }),
        ...baselineActivities({
          db,
          prom,
          config,
          log: actLog,
          reportsDir,
          tokenFor: envTokenFor(),
          flags: flagStore,
          hostname: hostname(),
          gitSha: gitSha(),
        }),
        // the phases' events to notify.webhooks (the URLs stay here, in the worker's config)
        ...createNotifyActivities({
          notify: config.notify,
          metrics,
          log: actLog.child({ component: 'notify' }),
          links: { uiUrl: config.temporal.uiUrl, namespace: config.temporal.namespace },
        }),
      },
      interceptors: workerInterceptors({ log: log.child({ component: 'activity' }), metrics }),
      // a load window or a snapshot in flight finishes (and stores its row) rather than being cut off
      shutdownGraceTime: '30 seconds',
    });
    log.info(
      { gitQueue, phasesQueue, namespace: config.temporal.namespace, approach: config.service.approach },
      'worker running',
    );
    await Promise.all([gitWorker.run(), phasesWorker.run()]);
    log.info('worker stopped');
  } finally {
    await closeAll();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`[worker] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
