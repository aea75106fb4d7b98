/**
 * The git-service worker: gitOperationWorkflow and poolMaintenanceWorkflow with their activities
 * over one GitService. Built from ready deps, so workers/main.ts (production) and tests wire the
 * same thing. Adding a workflow: export it from workflows/index.ts (the bundle entry); adding
 * activities: spread another factory's result into `activities` below.
 */
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGitActivities } from '../activities/git.js';
import { createMergeQueueActivities, type MergeQueueActivityDeps } from '../activities/merge-queue.js';
import { createLocalProvider } from '../lib/sandbox/local.js';
import { enqueueStaged } from '../clients/merge-queue.js';
import { createPoolActivities, type PoolChores } from '../activities/pool.js';
import { createRehomeActivities } from '../activities/rehome.js';
import { activityLogger } from '../activities/support.js';
import type { Logger } from '../lib/log.js';
import type { Metrics } from '../lib/metrics.js';
import type { RehomeDeps } from '../lib/service/rehome.js';
import type { GitService } from '../lib/service/types.js';
import { workerInterceptors } from './interceptors.js';

/** Where workflow code comes from: the source tree (dev: bundled at start) or a prebuilt bundle. */
export type WorkflowSource = Pick<WorkerOptions, 'workflowsPath'> | Pick<WorkerOptions, 'workflowBundle'>;

export interface GitWorkerDeps {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  service: GitService;
  /** approach 2's pool chores; without a pool (approach 1 only) the chores report nothing to do */
  pool?: Pick<PoolChores, 'healthCheck' | 'cleanupExpired'>;
  /** re-homing approach-2 workspaces after a kill (routed mode: both approaches in this process) */
  rehome?: RehomeDeps;
  log: Logger;
  /** gitops_activity_duration_seconds is recorded here (the process's /metrics registry) */
  metrics: Pick<Metrics, 'activityDuration'>;
  workflows: WorkflowSource;
  /**
   * The merge queue's checkout (push.mode queue): a local provider under `root` (default: the
   * OS temp dir), the token for the remote, the committer of re-applied commits, its metrics.
   */
  queue?: Partial<Omit<MergeQueueActivityDeps, 'log'>> & { root?: string; maxBatch?: number; idleMs?: number };
  /** how long in-flight activities may finish after shutdown is requested (default 30 s) */
  shutdownGraceTime?: WorkerOptions['shutdownGraceTime'];
}

/**
 * The SDK sends an activity's heartbeats to the server at most every 0.8 × its heartbeat timeout
 * unless the worker caps it: 8 s for a push (timeout 10 s) left 2 s of slack, and a server or
 * worker stalled that long (seen under the chaos faults) timed out a healthy attempt. Every 2 s
 * leaves 8 s; activities heartbeat for seconds, so the extra calls are few. Both workers use it.
 */
export const HEARTBEAT_THROTTLE_MAX = '2 seconds';

const NO_POOL: PoolChores = {
  healthCheck: async () => ({}),
  cleanupExpired: async () => ({}),
};

export async function createGitWorker(deps: GitWorkerDeps): Promise<Worker> {
  const log = activityLogger(deps.log);
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue,
    ...deps.workflows,
    activities: {
      ...createGitActivities({
        service: deps.service,
        log: log.child({ component: 'git-activities' }),
        enqueue: (client, queue, staged) =>
          enqueueStaged(client, queue, staged, { maxBatch: deps.queue?.maxBatch, idleMs: deps.queue?.idleMs }),
      }),
      ...createMergeQueueActivities({
        provider:
          deps.queue?.provider ??
          createLocalProvider({
            root: deps.queue?.root ?? join(tmpdir(), 'sgc-merge-queue'),
            defaultTimeoutMs: 15 * 60_000,
          }),
        creds: deps.queue?.creds,
        metrics: deps.queue?.metrics,
        committer: deps.queue?.committer ?? { name: 'sgc merge queue', email: 'merge-queue@sandbox-git-control.local' },
        log: log.child({ component: 'merge-queue' }),
      }),
      ...createPoolActivities({ pool: deps.pool ?? NO_POOL, log: log.child({ component: 'pool-activities' }) }),
      ...createRehomeActivities({ rehome: deps.rehome, log: log.child({ component: 'rehome' }) }),
    },
    interceptors: workerInterceptors({ log: deps.log.child({ component: 'activity' }), metrics: deps.metrics }),
    // a push in flight should land (and report) rather than be cut off and retried elsewhere
    shutdownGraceTime: deps.shutdownGraceTime ?? '30 seconds',
    maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE_MAX,
  });
}
