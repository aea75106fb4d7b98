import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import { DEFAULT_QUERIES } from '../../lib/config/queries.js';
import type { Db } from '../../lib/db/index.js';
import type { Logger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { PromClient } from '../../lib/prom/client.js';
import { workerInterceptors } from '../../workers/interceptors.js';
import { baselineActivities, envTokenFor } from '../../workers/phases-baseline.js';
import { workflowBundle } from './temporal.js';

/**
 * A worker for the baseline and drift phases as workers/phases-baseline.ts registers them (the
 * activity boundary included), over a test's database, Prometheus and reports dir, with the
 * default queries. `tokenEnv` is the environment envTokenFor resolves the load's token from.
 */
export async function baselineWorker(
  o: {
    env: TestWorkflowEnvironment;
    taskQueue: string;
    db: Db;
    promUrl: string;
    reportsDir: string;
    log: Logger;
    tokenEnv: NodeJS.ProcessEnv;
    hostname?: string;
  },
  extra: Partial<WorkerOptions> = {},
): Promise<Worker> {
  return Worker.create({
    connection: o.env.nativeConnection,
    taskQueue: o.taskQueue,
    workflowBundle: await workflowBundle(),
    activities: baselineActivities({
      db: o.db,
      prom: new PromClient({ url: o.promUrl }),
      config: { queries: DEFAULT_QUERIES },
      log: o.log,
      tokenFor: envTokenFor(o.tokenEnv),
      reportsDir: o.reportsDir,
      hostname: o.hostname ?? 'test-host',
      gitSha: null,
    }),
    interceptors: workerInterceptors({ log: o.log, metrics: createMetrics({ defaultMetrics: false }) }),
    ...extra,
  });
}
