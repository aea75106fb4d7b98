/**
 * Temporal Schedules for fleet chores (pool health and cleanup, reconciliation, the weekly
 * rollback drill), created idempotently when the worker starts: a second start (or a second
 * worker) updates the existing Schedule to the current config instead of failing or duplicating
 * it. Baseline Schedules, which operators create by name, live in clients/baseline.ts.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptions,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import type { Config } from '../lib/config/index.js';
import type { Logger } from '../lib/log.js';
import { scheduleId } from '../workflows/ids.js';
import { poolMaintenanceWorkflow } from '../workflows/pool-maintenance/workflow.js';
import { reconciliationWorkflow, type ReconciliationInput } from '../workflows/reconciliation/workflow.js';
import { rollbackDrillWorkflow, type RollbackDrillInput } from '../workflows/rollback-drill/workflow.js';

/** Creates the Schedule, or replaces spec, action and policies of the one that already exists. */
export async function upsertSchedule<W extends Workflow>(
  client: Client,
  options: ScheduleOptions<ScheduleOptionsStartWorkflowAction<W>>,
  log: Logger,
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
    await upsertSchedule(
      client,
      {
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
      },
      o.log,
    );
    ids.push(id);
  }
  return ids;
}

export type CanarySchedule =
  | {
      name: string;
      kind: 'reconciliation';
      spec: { intervals: { every: string }[] };
      args: [ReconciliationInput];
      runTimeout: string;
    }
  | {
      name: string;
      kind: 'drill';
      spec: { cronExpressions: string[] };
      args: [RollbackDrillInput];
      runTimeout: string;
    };

/**
 * The canary phase's Schedules: reconciliation every `schedules.reconciliationEvery` (5 min,
 * seed 002 step 4) and the weekly kill-switch drill on `schedules.rollbackDrillCron` (seed 002:
 * "Kill-switch tested weekly"). Pure: what ensureCanarySchedules creates.
 */
export function scheduleSpecs(config: Pick<Config, 'schedules' | 'canary'>): CanarySchedule[] {
  const c = config.canary;
  return [
    {
      name: 'reconciliation',
      kind: 'reconciliation',
      spec: { intervals: [{ every: config.schedules.reconciliationEvery }] },
      args: [
        {
          lagThresholdSeconds: c.reconciliation.lagThresholdSeconds,
          switchGraceSeconds: c.reconciliation.switchGraceSeconds,
        },
      ],
      // a run stuck past its interval is abandoned; the next one starts fresh
      runTimeout: config.schedules.reconciliationEvery,
    },
    {
      name: 'rollback-drill',
      kind: 'drill',
      spec: { cronExpressions: [config.schedules.rollbackDrillCron] },
      args: [
        {
          flipEverySeconds: c.drill.flipEverySeconds,
          durationSeconds: c.drill.durationSeconds,
          switchBoundMs: c.drill.switchBoundMs,
          onPercent: c.drill.onPercent,
          agents: c.drill.agents,
          stuckInUseSeconds: c.drill.stuckInUseSeconds,
          switchTimeoutMs: c.switchTimeoutMs,
        },
      ],
      runTimeout: '1 hour',
    },
  ];
}

/**
 * Creates the canary Schedules, or updates them to the current config when they exist (a second
 * worker start never fails or duplicates them). Nothing is created when `schedules.enabled` is
 * false. `namePrefix` keeps tests sharing a server apart from production's Schedules.
 */
export async function ensureCanarySchedules(
  client: Client,
  config: Pick<Config, 'schedules' | 'canary'>,
  taskQueue: string,
  log: Logger,
  opts: { namePrefix?: string } = {},
): Promise<string[]> {
  if (!config.schedules.enabled) return [];
  const ids: string[] = [];
  for (const s of scheduleSpecs(config)) {
    const id = scheduleId(`${opts.namePrefix ?? ''}${s.name}`);
    const common = {
      taskQueue,
      // the Schedule appends the fire time, so each run's id is unique and readable
      workflowId: id,
      workflowRunTimeout: s.runTimeout,
    };
    // a slow run must not pile up runs behind it; two drills at once would flip each other's flags
    const policies = { overlap: ScheduleOverlapPolicy.SKIP };
    if (s.kind === 'reconciliation') {
      await upsertSchedule(
        client,
        {
          scheduleId: id,
          spec: s.spec,
          action: { type: 'startWorkflow', workflowType: reconciliationWorkflow, args: s.args, ...common },
          policies,
        },
        log,
      );
    } else {
      await upsertSchedule(
        client,
        {
          scheduleId: id,
          spec: s.spec,
          action: { type: 'startWorkflow', workflowType: rollbackDrillWorkflow, args: s.args, ...common },
          policies,
        },
        log,
      );
    }
    ids.push(id);
  }
  return ids;
}
