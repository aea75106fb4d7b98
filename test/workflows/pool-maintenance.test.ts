import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { createPoolActivities, type PoolChores } from '../../activities/pool.js';
import { createLogger } from '../../lib/log.js';
import { ensurePoolSchedules } from '../../clients/schedules.js';
import { poolMaintenanceWorkflow } from '../../workflows/pool-maintenance/workflow.js';
import { sgcPhaseKey, sgcStageKey } from '../../workflows/search-attributes.js';
import { testEnv, uniqueId, uniqueQueue } from '../helpers/temporal.js';
import { recordHistory } from '../helpers/history.js';
import { testWorker } from '../helpers/worker.js';

const log = createLogger({ level: 'silent' });
// once per process (each test file runs in its own): keep the SDK's worker chatter (and expected-failure warnings) out of test output
Runtime.install({ logger: new DefaultLogger('ERROR') });
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await testEnv();
});

afterAll(async () => {
  await env?.teardown();
});

/** Pool chores that count their calls (the pool itself has its own tests). */
function countingPool(): PoolChores & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    healthCheck: async () => {
      calls.push('healthCheck');
      return { checked: 3, replaced: 1 };
    },
    cleanupExpired: async () => {
      calls.push('cleanup');
      return { terminated: 2 };
    },
  };
}

function poolWorker(taskQueue: string, pool: PoolChores): Promise<Worker> {
  return testWorker(env, { taskQueue, activities: createPoolActivities({ pool, log }), log });
}

test('poolMaintenanceWorkflow runs the chore its input names and returns its counts', async () => {
  const taskQueue = uniqueQueue('pool');
  const pool = countingPool();
  const worker = await poolWorker(taskQueue, pool);
  await worker.runUntil(async () => {
    const health = await env.client.workflow.execute(poolMaintenanceWorkflow, {
      taskQueue,
      workflowId: uniqueId('pool-health'),
      args: [{ task: 'healthCheck' }],
    });
    assert.deepEqual(health, { task: 'healthCheck', report: { checked: 3, replaced: 1 } });
    const handle = await env.client.workflow.start(poolMaintenanceWorkflow, {
      taskQueue,
      workflowId: uniqueId('pool-cleanup'),
      args: [{ task: 'cleanup' }],
    });
    assert.deepEqual(await handle.result(), { task: 'cleanup', report: { terminated: 2 } });
    const desc = await handle.describe();
    assert.equal(desc.typedSearchAttributes.get(sgcPhaseKey), 'maintenance');
    assert.equal(desc.typedSearchAttributes.get(sgcStageKey), 'cleanup');
    await recordHistory('poolMaintenanceWorkflow-cleanup', handle);
  });
  assert.deepEqual(pool.calls, ['healthCheck', 'cleanup']);
});

test('pool Schedules are created once, updated on the next start, and run poolMaintenanceWorkflow', async () => {
  const taskQueue = uniqueQueue('pool-sched');
  const namePrefix = `${taskQueue}-`;
  const pool = countingPool();
  const ids = await ensurePoolSchedules(env.client, {
    taskQueue,
    healthCheckEvery: '5m',
    cleanupEvery: '10m',
    log,
    namePrefix,
  });
  try {
    assert.deepEqual(ids, [`sgc-${namePrefix}pool-health-check`, `sgc-${namePrefix}pool-cleanup`]);
    const first = await env.client.schedule.getHandle(ids[0]).describe();
    assert.equal(first.spec.intervals?.[0]?.every, 300_000);

    // a second start with new cadences updates in place instead of failing or duplicating
    const again = await ensurePoolSchedules(env.client, {
      taskQueue,
      healthCheckEvery: '7m',
      cleanupEvery: '11m',
      log,
      namePrefix,
    });
    assert.deepEqual(again, ids);
    assert.equal((await env.client.schedule.getHandle(ids[0]).describe()).spec.intervals?.[0]?.every, 420_000);
    assert.equal((await env.client.schedule.getHandle(ids[1]).describe()).spec.intervals?.[0]?.every, 660_000);

    const worker = await poolWorker(taskQueue, pool);
    await worker.runUntil(async () => {
      await env.client.schedule.getHandle(ids[0]).trigger();
      const deadline = Date.now() + 30_000;
      while (!pool.calls.includes('healthCheck') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    });
    assert.deepEqual(pool.calls, ['healthCheck']);
  } finally {
    for (const id of ids)
      await env.client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
  }
});
