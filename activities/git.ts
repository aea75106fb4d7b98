import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { StagedPush } from '../lib/git/types.js';
import { DomainError, ErrorType, isDomainError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type {
  CommitPushResult, CreateWorkspaceInput, GitService, Progress, PullResult,
} from '../lib/service/types.js';
import { toWorkspaceSummary, type WorkspaceSummary } from '../lib/service/workspace-summary.js';

export interface CommitPushActivityInput {
  workspaceId: string;
  message: string;
  targetBranch?: string;
  /** the workflow id: a retried attempt after a crash lands the commit once */
  operationId: string;
  /** the caller waits for the merge queue where push.mode is queue (see commitPush) */
  allowQueue?: boolean;
}

export interface GitActivityDeps {
  service: GitService;
  log: Logger;
  /** push.mode queue: hands a staged commit to its merge queue (clients/merge-queue.ts) */
  enqueue?: (client: Client, taskQueue: string, staged: StagedPush) => Promise<void>;
}

/**
 * Translates a DomainError into the ApplicationFailure workflows match on: `type` is the
 * ErrorType constant, `nonRetryable` follows the error's own classification (a conflict is
 * permanent, a network blip is not), and the first detail carries the category and the
 * error's details (conflicting `files`). Anything else is rethrown untouched: the SDK reports it
 * as a retryable failure named after the error.
 */
export function toActivityFailure(e: unknown): unknown {
  if (!(e instanceof DomainError)) return e;
  return ApplicationFailure.create({
    type: e.type,
    message: e.message,
    nonRetryable: !e.retryable,
    details: [{ category: e.category, ...e.details }],
  });
}

/**
 * Runs one service call with heartbeats: every progress report from the service is sent at once,
 * and the last one is repeated on a timer so a long clone or push between reports doesn't trip
 * the heartbeat timeout. Returns early with CancelledFailure when Temporal cancels the attempt
 * (heartbeat timeout seen by the server, worker shutdown); the service call itself is left to
 * finish and is safe to repeat, since the next attempt is idempotent (workspace id, operation id).
 */
async function withHeartbeat<T>(log: Logger, activity: string, fields: Record<string, unknown>, fn: (progress: Progress) => Promise<T>): Promise<T> {
  const ctx = Context.current();
  let last: Record<string, unknown> = { step: 'start' };
  const progress: Progress = (detail) => {
    last = detail;
    ctx.heartbeat(detail);
  };
  const everyMs = Math.max(1_000, Math.floor((ctx.info.heartbeatTimeoutMs ?? 30_000) / 3));
  const timer = setInterval(() => ctx.heartbeat(last), everyMs);
  const started = Date.now();
  const { attempt, workflowExecution } = ctx.info;
  const logFields = { activity, attempt, workflowId: workflowExecution?.workflowId, ...fields };
  progress(last);
  const work = fn(progress);
  // when cancellation wins the race, the abandoned call must not become an unhandled rejection
  work.catch((err: unknown) => log.debug({ ...logFields, err: (err as Error).message }, 'abandoned activity call failed'));
  try {
    const result = await Promise.race([work, ctx.cancelled]);
    log.info({ ...logFields, ms: Date.now() - started }, 'git activity completed');
    return result;
  } catch (e) {
    const type = e instanceof DomainError ? e.type : (e as Error).name;
    log.warn({ ...logFields, type, ms: Date.now() - started, err: (e as Error).message }, 'git activity failed');
    throw toActivityFailure(e);
  } finally {
    clearInterval(timer);
  }
}

/**
 * Activities for gitOperationWorkflow over one GitService (approach 1 or 2): the operations that
 * touch a remote or take seconds. Each heartbeats the service's progress and turns DomainErrors
 * into typed ApplicationFailures.
 */
export function createGitActivities({ service, log, enqueue }: GitActivityDeps) {
  return {
    /** Sandbox + clone + agent branch. Idempotent on `input.workspaceId`. */
    async createWorkspace(input: CreateWorkspaceInput): Promise<WorkspaceSummary> {
      const ws = await withHeartbeat(log, 'createWorkspace', { workspaceId: input.workspaceId, agentId: input.agentId }, (p) => service.createWorkspace(input, p));
      return toWorkspaceSummary(ws);
    },

    /** `pull --rebase`; a conflict fails with GitConflict naming the files. */
    async pull(input: { workspaceId: string }): Promise<PullResult> {
      return withHeartbeat(log, 'pull', { workspaceId: input.workspaceId }, (p) => service.pull(input.workspaceId, p));
    },

    /**
     * Stage, commit, rebase, push under the push lock. Lands once per `operationId`. With
     * `allowQueue` where push.mode is queue: stages the commit on its own ref and enqueues it on
     * the merge queue of its repository + branch (signal-with-start); the result carries `staged`
     * and the caller waits for the queue's answer (workflows/merge-queue).
     */
    async commitPush(input: CommitPushActivityInput): Promise<CommitPushResult> {
      const res = await withHeartbeat(log, 'commitPush', { workspaceId: input.workspaceId }, (p) =>
        service.commitAndPush(input.workspaceId, {
          message: input.message, targetBranch: input.targetBranch, operationId: input.operationId, allowQueue: input.allowQueue,
        }, p));
      if (res.staged) {
        if (!enqueue) throw new DomainError(ErrorType.Unavailable, 'push.mode queue: this worker has no merge queue', { retryable: false });
        const ctx = Context.current();
        await enqueue(ctx.client, ctx.info.taskQueue, res.staged);
      }
      return res;
    },

    /**
     * Returns or kills the sandbox. A workspace that is already gone counts as released, so an
     * attempt retried after a crash that happened mid-release succeeds.
     */
    async release(input: { workspaceId: string }): Promise<void> {
      await withHeartbeat(log, 'release', { workspaceId: input.workspaceId }, async () => {
        try {
          await service.release(input.workspaceId);
        } catch (e) {
          if (!isDomainError(e, ErrorType.NotFound)) throw e;
        }
      });
    },
  };
}

export type GitActivities = ReturnType<typeof createGitActivities>;
