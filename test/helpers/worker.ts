import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import type { Logger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { workerInterceptors } from '../../workers/interceptors.js';
import { workflowBundle } from './temporal.js';

/**
 * A worker on `taskQueue` for the bundled workflows over `activities`, with the interceptors
 * every worker registers (workers/interceptors.ts), so the workflows see activity failures as in
 * production. `extra` adds or overrides worker options.
 */
export async function testWorker(
  env: TestWorkflowEnvironment,
  o: { taskQueue: string; activities: object; log: Logger },
  extra: Partial<WorkerOptions> = {},
): Promise<Worker> {
  return Worker.create({
    connection: env.nativeConnection,
    taskQueue: o.taskQueue,
    workflowBundle: await workflowBundle(),
    activities: o.activities,
    interceptors: workerInterceptors({ log: o.log, metrics: createMetrics({ defaultMetrics: false }) }),
    ...extra,
  });
}
