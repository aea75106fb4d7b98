/**
 * The Temporal boundary as the production composition root wires it (createGitWorker + the
 * runtime logger of workers/runtime.ts), on the real dev server: workflow `log` lines and
 * activity lines land in the process's pino logger with the workflow's ids, every execution is
 * on gitops_activity_duration_seconds, and a DomainError reaches the workflow typed, with its
 * retryability honoured by Temporal.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { ActivityFailure, ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime } from '@temporalio/worker';
import type { PoolChores } from '../../activities/pool.js';
import { DomainError, ErrorType } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import type { GitService } from '../../lib/service/types.js';
import { createGitWorker } from '../../workers/git-worker.js';
import { temporalLogger } from '../../workers/runtime.js';
import { poolMaintenanceWorkflow } from '../../workflows/pool-maintenance/workflow.js';
import { testEnv, uniqueId, uniqueQueue, workflowBundle } from '../helpers/temporal.js';

const lines: string[] = [];
const log = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
// once per process (each test file runs in its own), as workers/main.ts does
Runtime.install({ logger: temporalLogger(log) });
const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await testEnv();
});

afterAll(async () => {
  await env?.teardown();
});

function unused(): never {
  throw new Error('not used by pool maintenance');
}
const NO_GIT: GitService = {
  approach: 'simple',
  createWorkspace: unused,
  getWorkspace: unused,
  status: unused,
  diff: unused,
  writeFile: unused,
  readFile: unused,
  commitAndPush: unused,
  pull: unused,
  release: unused,
};

test('workflow and activity log lines carry the workflow id; executions are measured; a non-retryable DomainError is not retried', async () => {
  const taskQueue = uniqueQueue('boundary');
  const metrics = createMetrics({ defaultMetrics: false });
  let cleanups = 0;
  const pool: PoolChores = {
    healthCheck: async () => ({ checked: 2 }),
    cleanupExpired: async () => {
      cleanups += 1;
      throw new DomainError(ErrorType.Validation, 'pool.ttl: must be positive', { details: { field: 'pool.ttl' } });
    },
  };
  const worker = await createGitWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    service: NO_GIT,
    pool,
    log,
    metrics,
    workflows: { workflowBundle: await workflowBundle() },
    shutdownGraceTime: '1 second',
  });
  const healthId = uniqueId('pool-health');
  const cleanupId = uniqueId('pool-cleanup');
  const failure = await worker.runUntil(async () => {
    await env.client.workflow.execute(poolMaintenanceWorkflow, {
      taskQueue,
      workflowId: healthId,
      args: [{ task: 'healthCheck' }],
    });
    return env.client.workflow
      .execute(poolMaintenanceWorkflow, { taskQueue, workflowId: cleanupId, args: [{ task: 'cleanup' }] })
      .then(
        () => null,
        (e: unknown) => e,
      );
  });

  // the workflow's own `log.info`, through the SDK's logger sink into pino
  const ids = { workflowId: healthId, workflowType: 'poolMaintenanceWorkflow' };
  expect(records().find((r) => r.msg === 'pool maintenance done')).toMatchObject({
    ...ids,
    component: 'workflow',
    task: 'healthCheck',
    checked: 2,
  });
  // the activity body's line and the boundary's line
  const activityIds = { ...ids, activityType: 'checkPoolHealth', attempt: 1 };
  expect(records().find((r) => r.msg === 'pool health check done')).toMatchObject({
    ...activityIds,
    component: 'pool-activities',
    checked: 2,
  });
  expect(records().find((r) => r.msg === 'activity completed' && r.workflowId === healthId)).toMatchObject(activityIds);
  expect(records().find((r) => r.msg === 'activity failed' && r.workflowId === cleanupId)).toMatchObject({
    activityType: 'cleanupExpiredSandboxes',
    type: 'ValidationError',
    retryable: false,
  });

  // the workflow saw the typed failure, and Temporal did not retry it (the policy allows 3 attempts)
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  const activity = (failure as WorkflowFailedError).cause;
  expect(activity).toBeInstanceOf(ActivityFailure);
  const app = (activity as ActivityFailure).cause;
  expect(app).toBeInstanceOf(ApplicationFailure);
  expect([(app as ApplicationFailure).type, (app as ApplicationFailure).nonRetryable]).toEqual([
    'ValidationError',
    true,
  ]);
  expect((app as ApplicationFailure).details).toEqual([{ category: 'client', field: 'pool.ttl' }]);
  expect(cleanups).toBe(1);

  const { values } = await metrics.activityDuration.get();
  const counts = Object.fromEntries(
    values
      .filter((v) => v.metricName === 'gitops_activity_duration_seconds_count')
      .map((v) => [`${v.labels.activity_type}/${v.labels.outcome}`, v.value]),
  );
  expect(counts).toEqual({ 'checkPoolHealth/ok': 1, 'cleanupExpiredSandboxes/ValidationError': 1 });
});
