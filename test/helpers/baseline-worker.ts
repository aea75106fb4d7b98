import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker, WorkerOptions } from '@temporalio/worker';
import { DEFAULT_QUERIES } from '../../lib/config/queries.js';
import type { Db } from '../../lib/db/index.js';
import type { Logger } from '../../lib/log.js';
import { PromClient } from '../../lib/prom/client.js';
import { baselineActivities, envTokenFor } from '../../workers/phases-baseline.js';
import { testWorker } from './worker.js';

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
  const activities = baselineActivities({
    db: o.db,
    prom: new PromClient({ url: o.promUrl }),
    config: { queries: DEFAULT_QUERIES },
    log: o.log,
    tokenFor: envTokenFor(o.tokenEnv),
    reportsDir: o.reportsDir,
    hostname: o.hostname ?? 'test-host',
    gitSha: null,
  });
  return testWorker(o.env, { taskQueue: o.taskQueue, activities, log: o.log }, extra);
}
