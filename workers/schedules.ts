/**
 * Temporal Schedules for fleet chores, created idempotently when the worker starts: a second
 * start (or a second worker) updates the existing Schedule to the current config instead of
 * failing or duplicating it.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptions, type ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import type { Logger } from '../lib/log.js';
import { scheduleId } from '../workflows/ids.js';
import { poolMaintenanceWorkflow } from '../workflows/pool-maintenance/workflow.js';

/** Creates the Schedule, or replaces spec, action and policies of the one that already exists. */
export async function upsertSchedule<W extends Workflow>(
  client: Client, options: ScheduleOptions<ScheduleOptionsStartWorkflowAction<W>>, log: Logger,
): Promise<'created' | 'updated'> {
  try {
    await client.schedule.create(options);
    log.info({ scheduleId: options.scheduleId }, 'schedule created');
    return 'created';
  } catch (e) {
    if (!(e instanceof ScheduleAlreadyRunning)) throw e;
  }
  await client.schedule.getHandle(options.scheduleId).update<W>((prev) => ({
    ...prev,
    spec: options.spec,
    action: options.action,
    policies: { ...prev.policies, ...options.policies },
  }));
  log.info({ scheduleId: options.scheduleId }, 'schedule updated');
  return 'updated';
}

export interface PoolScheduleOptions {
  taskQueue: string;
  /** Temporal durations, e.g. '5m' (config schedules.poolHealthCheckEvery) */
  healthCheckEvery: string;
  cleanupEvery: string;
  log: Logger;
  /** prefix for schedule ids, so tests sharing one server don't touch production's Schedules */
  namePrefix?: string;
}

/**
 * Seed 004's chores: pool health check every 5 min, cleanup of expired sandboxes every 10 min,
 * both running poolMaintenanceWorkflow. Returns the Schedule ids.
 */
export async function ensurePoolSchedules(client: Client, o: PoolScheduleOptions): Promise<string[]> {
  const prefix = o.namePrefix ?? '';
  const chores = [
    { name: `${prefix}pool-health-check`, every: o.healthCheckEvery, task: 'healthCheck' as const },
    { name: `${prefix}pool-cleanup`, every: o.cleanupEvery, task: 'cleanup' as const },
  ];
  const ids: string[] = [];
  for (const chore of chores) {
    const id = scheduleId(chore.name);
    await upsertSchedule(client, {
      scheduleId: id,
      spec: { intervals: [{ every: chore.every }] },
      action: {
        type: 'startWorkflow',
        workflowType: poolMaintenanceWorkflow,
        args: [{ task: chore.task }],
        taskQueue: o.taskQueue,
        // the Schedule appends the fire time, so each run's id is unique and readable
        workflowId: id,
        // a chore stuck past its interval is abandoned; the next run starts fresh
        workflowRunTimeout: chore.every,
      },
      // a slow chore must not pile up runs behind it
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    }, o.log);
    ids.push(id);
  }
  return ids;
}
