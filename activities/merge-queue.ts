import { Context } from '@temporalio/activity';
import { applyQueueBatch as applyBatch } from '../lib/git/queue.js';
import type { GitCredentials, QueueOutcome } from '../lib/git/types.js';
import type { Logger } from '../lib/log.js';
import type { Metrics } from '../lib/metrics.js';
import type { SandboxProvider } from '../lib/sandbox/types.js';
import { withHeartbeat } from './support.js';

export interface MergeQueueActivityDeps {
  /**
   * Where the queue's checkout runs: one sandbox per batch attempt, killed after it. The git
   * worker passes a local provider (the checkout lives on the worker's host, beside no agent).
   */
  provider: SandboxProvider;
  /** the token for a remote (the git.remotes entry it matches), bound to that remote */
  creds?: (repoUrl: string) => GitCredentials | undefined;
  committer: { name: string; email: string };
  metrics?: Pick<Metrics, 'queueWait' | 'queueBatchSize'>;
  log: Logger;
}

export interface ApplyQueueBatchInput {
  repoUrl: string;
  branch: string;
  items: { operationId: string; ref: string; stagedAt: number }[];
}

/** The merge queue's one activity: apply a batch onto the branch and push it (lib/git/queue.ts). */
export function createMergeQueueActivities(deps: MergeQueueActivityDeps) {
  return {
    async applyQueueBatch(
      input: ApplyQueueBatchInput,
    ): Promise<{ outcomes: QueueOutcome[]; tip: string; rounds: number }> {
      const ctx = Context.current();
      const started = Date.now();
      const sb = await deps.provider.create({ metadata: { purpose: 'merge-queue' } });
      try {
        // on cancellation (worker shutdown, heartbeat timeout) the attempt ends here; the retry
        // re-applies safely (trailers already on the branch are skipped)
        const res = await withHeartbeat(deps.log, () =>
          applyBatch(sb, 'queue', {
            repoUrl: input.repoUrl,
            branch: input.branch,
            items: input.items,
            creds: deps.creds?.(input.repoUrl),
            committer: deps.committer,
          }),
        );
        const now = Date.now();
        deps.metrics?.queueBatchSize.observe(input.items.length);
        const stagedAt = new Map(input.items.map((i) => [i.operationId, i.stagedAt]));
        for (const o of res.outcomes) {
          const t = stagedAt.get(o.operationId);
          if (t !== undefined) deps.metrics?.queueWait.labels(o.status).observe(Math.max(0, now - t) / 1000);
        }
        deps.log.info(
          {
            branch: input.branch,
            size: input.items.length,
            rounds: res.rounds,
            ms: now - started,
            attempt: ctx.info.attempt,
          },
          'merge queue batch applied',
        );
        return { outcomes: res.outcomes, tip: res.tip, rounds: res.rounds };
      } finally {
        await deps.provider.kill(sb.id).catch(() => undefined);
      }
    },
  };
}

export type MergeQueueActivities = ReturnType<typeof createMergeQueueActivities>;
