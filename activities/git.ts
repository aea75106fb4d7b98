import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { StagedPush } from '../lib/git/types.js';
import { DomainError, ErrorType, isDomainError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { CommitPushResult, CreateWorkspaceInput, GitService, PullResult } from '../lib/service/types.js';
import { toWorkspaceSummary, type WorkspaceSummary } from '../lib/service/workspace-summary.js';
import { withHeartbeat } from './support.js';

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
 * Activities for gitOperationWorkflow over one GitService (approach 1 or 2): the operations that
 * touch a remote or take seconds. Each heartbeats the service's progress; the boundary
 * interceptor (activities/interceptors.ts) turns their DomainErrors into typed ApplicationFailures.
 */
export function createGitActivities({ service, log, enqueue }: GitActivityDeps) {
  return {
    /** Sandbox + clone + agent branch. Idempotent on `input.workspaceId`. */
    async createWorkspace(input: CreateWorkspaceInput): Promise<WorkspaceSummary> {
      const ws = await withHeartbeat(log, (p) => service.createWorkspace(input, p));
      return toWorkspaceSummary(ws);
    },

    /** `pull --rebase`; a conflict fails with GitConflict naming the files. */
    async pull(input: { workspaceId: string }): Promise<PullResult> {
      return withHeartbeat(log, (p) => service.pull(input.workspaceId, p));
    },

    /**
     * Stage, commit, rebase, push under the push lock. Lands once per `operationId`. With
     * `allowQueue` where push.mode is queue: stages the commit on its own ref and enqueues it on
     * the merge queue of its repository + branch (signal-with-start); the result carries `staged`
     * and the caller waits for the queue's answer (workflows/merge-queue).
     */
    async commitPush(input: CommitPushActivityInput): Promise<CommitPushResult> {
      const res = await withHeartbeat(log, (p) =>
        service.commitAndPush(
          input.workspaceId,
          {
            message: input.message,
            targetBranch: input.targetBranch,
            operationId: input.operationId,
            allowQueue: input.allowQueue,
          },
          p,
        ),
      );
      if (res.staged) {
        if (!enqueue)
          throw new DomainError(ErrorType.Unavailable, 'push.mode queue: this worker has no merge queue', {
            retryable: false,
          });
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
      await withHeartbeat(log, async () => {
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
