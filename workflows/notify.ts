import { ActivityFailure, CancellationScope, log, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { NotifyActivities } from '../activities/notify.js';
import type { TriggerResult } from '../lib/canary/analysis.js';
import type { NotifyEvent } from '../lib/notify/events.js';
import type { RollbackInfo } from './canary-rollout/messages.js';

const { notify } = proxyActivities<NotifyActivities>({
  // the activity's own retries fit in NOTIFY_BUDGET_MS (20 s, lib/config/notify.ts); this is the
  // hard bound on how long a phase waits for a notification, whatever the receivers do
  startToCloseTimeout: '25 seconds',
  scheduleToCloseTimeout: '30 seconds',
  // receivers are retried inside the activity; Temporal retries once more only for a lost
  // worker. A worker without the activity (NotFoundError) is not worth waiting for.
  retry: { initialInterval: '1 second', maximumAttempts: 2, nonRetryableErrorTypes: ['NotFoundError'] },
});

/**
 * Sends a phase's event to the configured webhooks and never fails the phase: the call waits at
 * most 30 s (a dead receiver costs its bounded retries, a closed port about a second), and a
 * final failure is logged and swallowed. It runs even when the workflow is being cancelled (a
 * cancelled baseline is still reported). Added to running workflows: `patchId` makes a history
 * recorded before the notification replay without it — one patch per call site.
 */
export async function notifyEvent(patchId: string, event: NotifyEvent): Promise<void> {
  if (!patched(patchId)) return;
  try {
    await CancellationScope.nonCancellable(() => notify(event));
  } catch (err) {
    const cause = err instanceof ActivityFailure ? (err.cause ?? err) : err;
    log.warn('notification not sent', { kind: event.kind, id: event.id, error: (cause as Error).message });
  }
}

/** The Temporal UI link of an event: this workflow. */
const here = (): { workflowId: string } => ({ workflowId: workflowInfo().workflowId });
const isoNow = (): string => new Date(Date.now()).toISOString();

/** A canary stage applied (its flags set). `id`: the stage's change id, stable per rollout execution. */
export function canaryStageEvent(o: {
  id: string;
  rolloutId: string;
  stage: { name: string; percent: number; shadow: boolean };
  stageIndex: number;
  stages: number;
}): NotifyEvent {
  const { name, percent, shadow } = o.stage;
  return {
    kind: 'canary_stage',
    id: o.id,
    at: isoNow(),
    ...here(),
    rolloutId: o.rolloutId,
    stage: name,
    stageIndex: o.stageIndex,
    stages: o.stages,
    percent,
    shadow,
  };
}

/** A canary rolled back, with the last analysis's values against their thresholds. */
export function canaryRollbackEvent(o: {
  id: string;
  rolloutId: string;
  rollback: RollbackInfo;
  lastTriggers: readonly TriggerResult[];
}): NotifyEvent {
  const rb = o.rollback;
  return {
    kind: 'rollback',
    id: o.id,
    at: isoNow(),
    ...here(),
    rolloutId: o.rolloutId,
    source: rb.source === 'rollback' ? 'manual' : rb.source,
    stage: rb.stage,
    reason: rb.reason,
    actor: rb.actor,
    trigger: rb.trigger,
    values: o.lastTriggers.map((t) => ({ name: t.trigger, value: t.value, threshold: t.threshold, status: t.status })),
    switched: rb.switched,
    switchDurationMs: rb.switchDurationMs,
  };
}

type Omitted = 'id' | 'at' | 'workflowId';
type Without<E> = E extends NotifyEvent ? Omit<E, Omitted> : never;

/** Any other event: its fields, with the id made of this workflow's id and `suffix`. */
export function phaseEvent(suffix: string, fields: Without<NotifyEvent>): NotifyEvent {
  return { ...fields, id: `${workflowInfo().workflowId}/${suffix}`, at: isoNow(), ...here() } as NotifyEvent;
}
