/**
 * The API process (`npm run api`): config parsed once, deps built once, the app listening on
 * `api.host:api.port`. It starts while Postgres or Temporal is down (requests answer 503 with
 * Retry-After until they are back). SIGINT/SIGTERM stop accepting, finish in-flight requests,
 * then close Temporal and Postgres.
 */
import { loadConfig } from '../lib/config/index.js';
import { createDb, migrateInBackground } from '../lib/db/index.js';
import { createLogger } from '../lib/log.js';
import { createMetrics } from '../lib/metrics.js';
import { composeGitService } from '../lib/service/compose.js';
import { createTemporalClient } from '../clients/temporal.js';
import { buildApp } from './app.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const metrics = createMetrics();
  // error/fatal lines feed gitops_log_errors_total (the drift review's "critical errors")
  const log = createLogger({ name: 'sgc-api', errorCounter: metrics.logErrors });
  if (!config.postgres.url) throw new Error('postgres.url is not set: export DATABASE_URL (npm start provisions one)');

  const db = createDb(config.postgres.url, { max: config.postgres.poolSize, log, applicationName: 'sgc-api' });
  // reads and file edits run here through the same routing as the worker (this process's own
  // flag cache hears a kill switch at once); the pool lives in the worker, so it is not started
  // The schema may be new (advisory-locked: safe beside the worker doing the same). Postgres may
  // be down: the API listens anyway, answers 503 + Retry-After until the migrations are applied,
  // and retries them in the background (issue 9 item 10); the flag cache connects on its own.
  const migrations = migrateInBackground(db, { log });
  const composed = await composeGitService({ config, db, metrics, log, processName: 'api', waitForFlags: false });
  const service = composed.service;
  const client = await createTemporalClient(config.temporal, { lazy: true });
  const app = await buildApp({
    config,
    service,
    temporal: { client, taskQueue: config.temporal.taskQueues.git },
    metrics,
    db,
    log,
    readiness: migrations,
    flagCache: composed.flags,
  });

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'api stopping');
    migrations.stop();
    await app.close();
    await composed.close().catch(() => undefined);
    await client.connection.close().catch(() => undefined);
    await db.end().catch(() => undefined);
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));

  await app.listen({ host: config.api.host, port: config.api.port });
}

main().catch((err: unknown) => {
  process.stderr.write(`[api] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
