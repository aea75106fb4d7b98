/**
 * The one Temporal helper for canary rollouts, shared by the API routes and the CLI: start a
 * rollout with the configured defaults, read its status, and steer it through its Updates (a
 * refused action answers with the reason). Callers use the message definitions of
 * workflows/canary-rollout/messages.ts, never string names.
 */
import { randomUUID } from 'node:crypto';
import {
  ApplicationFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import { windowProblem } from '../lib/canary/bounds.js';
import { canaryStageListSchema, type CanaryConfig } from '../lib/config/canary.js';
import { DomainError, ErrorType } from '../lib/errors.js';
import {
  advanceUpdate,
  pauseUpdate,
  resumeUpdate,
  rollbackUpdate,
  statusQuery,
  type CanaryStatus,
} from '../workflows/canary-rollout/messages.js';
import { canaryRolloutWorkflow, type CanaryRolloutInput } from '../workflows/canary-rollout/workflow.js';
import { canaryWorkflowId } from '../workflows/ids.js';
import { sgcPhaseKey } from '../workflows/search-attributes.js';
import { startMemo } from '../workflows/summary.js';

export interface RolloutControlDeps {
  client: Client;
  /** config.temporal.taskQueues.phases */
  taskQueue: string;
  /** config.canary: the defaults a rollout's input is filled from */
  defaults: CanaryConfig;
}

export type StartRolloutOptions = Partial<Omit<CanaryRolloutInput, 'state' | 'rolloutId'>> & { rolloutId?: string };

export const ROLLOUT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A rollout's full input: the caller's choices over config.canary's defaults. */
export function rolloutInput(defaults: CanaryConfig, o: StartRolloutOptions, startedBy?: string): CanaryRolloutInput {
  return {
    rolloutId: o.rolloutId ?? `rollout-${randomUUID().slice(0, 8)}`,
    stages: o.stages ?? defaults.stages,
    analysisIntervalSeconds: o.analysisIntervalSeconds ?? defaults.analysisIntervalSeconds,
    analysisWindowSeconds: o.analysisWindowSeconds ?? defaults.analysisWindowSeconds,
    thresholds: { ...defaults.thresholds, ...o.thresholds },
    consecutiveBreaches: o.consecutiveBreaches ?? defaults.consecutiveBreaches,
    autoAdvance: o.autoAdvance ?? defaults.autoAdvance,
    maxAnalysesPerRun: o.maxAnalysesPerRun ?? defaults.maxAnalysesPerRun,
    switchTimeoutMs: o.switchTimeoutMs ?? defaults.switchTimeoutMs,
    scrapeIntervalSeconds: o.scrapeIntervalSeconds ?? defaults.scrapeIntervalSeconds,
    insufficientDataPauseSeconds: o.insufficientDataPauseSeconds ?? defaults.insufficientDataPauseSeconds,
    stability: { ...defaults.stability, ...o.stability },
    ...(o.queries ? { queries: o.queries } : {}),
    ...((startedBy ?? o.startedBy) ? { startedBy: startedBy ?? o.startedBy } : {}),
  };
}

/**
 * Refuses a rollout that cannot work before it starts: stages out of bounds (a CLI stage file is
 * not checked anywhere else), or an analysis window shorter than two Prometheus scrape intervals,
 * which could never hold data (every analysis would be "no data"). The workflow checks the window
 * again (its input may come from elsewhere).
 */
export function validateRolloutInput(input: CanaryRolloutInput): void {
  if (input.stages !== undefined) {
    const parsed = canaryStageListSchema.safeParse(input.stages);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const at = issue.path.length > 0 ? `stages.${issue.path.join('.')}` : 'stages';
      throw new DomainError(ErrorType.Validation, `${at}: ${issue.message}`, { details: { field: at } });
    }
  }
  const explicitWindow = input.analysisWindowSeconds !== undefined;
  const window = input.analysisWindowSeconds ?? input.analysisIntervalSeconds;
  if (window !== undefined && input.scrapeIntervalSeconds !== undefined) {
    const field = explicitWindow ? 'analysisWindowSeconds' : 'analysisIntervalSeconds';
    const problem = windowProblem(window, input.scrapeIntervalSeconds, { field });
    if (problem !== null) throw new DomainError(ErrorType.Validation, problem, { details: { field } });
  }
}

/**
 * Starts canaryRolloutWorkflow. Only one rollout may move the flags at a time: a running one on
 * the same task queue (by Temporal visibility, which lags a start by up to a second) or the same
 * id → Conflict.
 */
export async function startRollout(
  deps: RolloutControlDeps,
  o: StartRolloutOptions,
  startedBy?: string,
): Promise<{ rolloutId: string; workflowId: string; runId: string }> {
  const input = rolloutInput(deps.defaults, o, startedBy);
  if (!ROLLOUT_ID.test(input.rolloutId))
    throw new DomainError(ErrorType.Validation, 'rolloutId: 1-64 letters, digits, ".", "_", "-"', {
      details: { field: 'rolloutId' },
    });
  validateRolloutInput(input);
  // scoped to this deployment's task queue: several deployments may share a namespace
  const query = `WorkflowType = 'canaryRolloutWorkflow' AND ExecutionStatus = 'Running' AND TaskQueue = '${deps.taskQueue.replace(/'/g, '')}'`;
  for await (const wf of deps.client.workflow.list({ query, pageSize: 1 })) {
    throw new DomainError(ErrorType.Conflict, `rollout ${wf.workflowId} is running; finish or roll it back first`, {
      details: { workflowId: wf.workflowId },
    });
  }
  const workflowId = canaryWorkflowId(input.rolloutId);
  try {
    const handle = await deps.client.workflow.start(canaryRolloutWorkflow, {
      taskQueue: deps.taskQueue,
      workflowId,
      args: [input],
      // listed under SgcPhase=canary from the first moment, with a one-line summary the workflow keeps current
      typedSearchAttributes: [{ key: sgcPhaseKey, value: 'canary' }],
      memo: startMemo(
        `canary starting: ${(input.stages ?? deps.defaults.stages).map((s) => `${s.name} ${s.percent}%`).join(' → ')}`,
      ),
    });
    return { rolloutId: input.rolloutId, workflowId, runId: handle.firstExecutionRunId };
  } catch (e) {
    if (e instanceof WorkflowExecutionAlreadyStartedError)
      throw new DomainError(ErrorType.Conflict, `rollout ${input.rolloutId} already exists`, {
        details: { workflowId },
      });
    throw e;
  }
}

async function notFoundAsDomain<T>(rolloutId: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof WorkflowNotFoundError)
      throw new DomainError(
        ErrorType.NotFound,
        `no rollout ${rolloutId}${/complete|closed/i.test(e.message) ? ' running' : ''}`,
      );
    throw e;
  }
}

/** The `status` query (works on finished rollouts too, while Temporal keeps their history). */
export function rolloutStatus(deps: Pick<RolloutControlDeps, 'client'>, rolloutId: string): Promise<CanaryStatus> {
  return notFoundAsDomain(rolloutId, () =>
    deps.client.workflow.getHandle(canaryWorkflowId(rolloutId)).query(statusQuery),
  );
}

export type RolloutAction =
  | { name: 'advance'; stage?: string; actor?: string }
  | { name: 'pause'; reason?: string; actor?: string }
  | { name: 'resume'; actor?: string }
  | { name: 'rollback'; reason: string; actor?: string };

/** How long an action may take end to end: a rollback answers after the kill switch has run (≤ switchTimeoutMs). */
export const ACTION_TIMEOUT_MS = 30_000;

/** Why a closed rollout takes no action, from its final status. */
function endedReason(s: CanaryStatus): string {
  if (s.rollback) return `the rollout was rolled back at ${s.rollback.stage} (${s.rollback.reason})`;
  if (s.status === 'completed')
    return `the rollout has completed at ${s.stage.name}${s.stage.percent > 0 ? '; use the kill switch (POST /v1/flags/kill)' : ''}`;
  return 'the rollout has ended';
}

/**
 * Asks the running rollout to take one action through its Update and answers with its status
 * after it (for `rollback`: after the kill switch has run). The workflow's validator decides: a
 * refused action throws DomainError `Refused` (HTTP 409) with the reason, a malformed one
 * `Validation`; a rollout that has ended refuses with how it ended; no answer within
 * `timeoutMs` (no phases worker running) throws `Timeout`.
 */
export async function controlRollout(
  deps: Pick<RolloutControlDeps, 'client'>,
  rolloutId: string,
  a: RolloutAction,
  opts: { timeoutMs?: number } = {},
): Promise<CanaryStatus> {
  const handle = deps.client.workflow.getHandle(canaryWorkflowId(rolloutId));
  const { name, ...payload } = a;
  const send = (): Promise<CanaryStatus> => {
    switch (name) {
      case 'advance':
        return handle.executeUpdate(advanceUpdate, { args: [payload] });
      case 'pause':
        return handle.executeUpdate(pauseUpdate, { args: [payload] });
      case 'resume':
        return handle.executeUpdate(resumeUpdate, { args: [payload] });
      case 'rollback':
        return handle.executeUpdate(rollbackUpdate, { args: [payload as { reason: string; actor?: string }] });
    }
  };
  try {
    return await deps.client.withDeadline(Date.now() + (opts.timeoutMs ?? ACTION_TIMEOUT_MS), send);
  } catch (e) {
    if (e instanceof WorkflowUpdateFailedError && e.cause instanceof ApplicationFailure) {
      const f = e.cause;
      if (f.type === ErrorType.Validation) {
        const field = (f.details?.[0] as { field?: string } | undefined)?.field;
        throw new DomainError(ErrorType.Validation, f.message, { details: field ? { field } : {} });
      }
      if (f.type === ErrorType.Refused)
        throw new DomainError(ErrorType.Refused, `${name} refused: ${f.message}`, { details: { action: name } });
    }
    if (e instanceof WorkflowNotFoundError) {
      // an Update cannot reach a closed workflow; its status query still can (while Temporal keeps the history)
      const ended = await rolloutStatus(deps, rolloutId);
      throw new DomainError(ErrorType.Refused, `${name} refused: ${endedReason(ended)}`, { details: { action: name } });
    }
    if (e instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
      throw new DomainError(
        ErrorType.Timeout,
        `rollout ${rolloutId} did not answer ${name} within ${(opts.timeoutMs ?? ACTION_TIMEOUT_MS) / 1000} s (is the phases worker running?)`,
      );
    }
    throw e;
  }
}
