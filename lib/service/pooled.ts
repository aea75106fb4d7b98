import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { createPushLock, type PushLock } from '../lock/push-lock.js';
import { createSandboxPool, type SandboxPool } from '../pool/pool.js';
import type { Sandbox } from '../sandbox/types.js';
import { BaseGitService, WORKSPACE_ROOT, type GitServiceDeps } from './base.js';

export interface PooledServiceOptions {
  /** an existing pool (tests, or a worker that also runs the maintenance chores on it) */
  pool?: SandboxPool;
  pushLock?: PushLock;
}

/**
 * Approach 2, "pooled" (seed 004): sandboxes come from the warm pool and go back to it
 * (workspace wiped, health-checked), pushes are serialised across processes by the Postgres push
 * lock keyed by sanitised remote + target branch (TTL 30 s, acquire timeout 5 s from config
 * `lock`), rejected pushes are retried with backoff and `pull --rebase`.
 */
export class PooledGitService extends BaseGitService {
  readonly approach = 'pooled' as const;
  readonly pool: SandboxPool;
  readonly pushLock: PushLock;
  private readonly holderPrefix = `${hostname()}:${process.pid}`;

  constructor(deps: GitServiceDeps, opts: PooledServiceOptions = {}) {
    super(deps);
    const { pool, lock, sandbox } = deps.config;
    this.pool = opts.pool ?? createSandboxPool(
      { provider: deps.provider, db: deps.db, key: deps.key, metrics: deps.metrics, log: deps.log.child({ component: 'pool' }) },
      {
        min: pool.min, max: pool.max, ttlSeconds: pool.ttlSeconds, acquireTimeoutMs: pool.acquireTimeoutMs,
        pricePerSecond: sandbox.pricePerSecond, sandboxTimeoutMs: sandbox.timeoutMs, limit: sandbox.limit, workspaceRoot: WORKSPACE_ROOT,
      },
    );
    this.pushLock = opts.pushLock ?? createPushLock({
      db: deps.db, metrics: deps.metrics, log: deps.log.child({ component: 'push-lock' }),
      defaults: { ttlMs: lock.ttlSeconds * 1000, timeoutMs: lock.acquireTimeoutMs, pollMs: lock.pollMs },
    });
  }

  protected async obtainSandbox(ws: { id: string; agentId: string; taskId: string; repoUrl: string; baseBranch: string; agentBranch: string }): Promise<Sandbox> {
    const { sandbox } = await this.pool.acquire({
      agentId: ws.agentId, taskId: ws.taskId, repoUrl: ws.repoUrl, branch: ws.baseBranch, agentBranch: ws.agentBranch,
    });
    return sandbox;
  }

  protected async giveBack(sandboxId: string, handle: Sandbox | null): Promise<void> {
    await this.pool.release(handle ?? sandboxId);
  }

  protected withPushLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    // unique per acquisition: the lock treats a repeated holder as a re-acquire
    return this.pushLock.withLock(key, `${this.holderPrefix}:${randomUUID()}`, () => fn());
  }

  protected connectSandbox(sandboxId: string): Promise<Sandbox> {
    return this.pool.connect(sandboxId);
  }

  /** Reconnects to recorded sandboxes and pre-warms the pool to its minimum. */
  async start(): Promise<void> {
    await this.pool.start();
  }

  /** Stops the pool's ticker and the lock listener; idle sandboxes stay warm for a restart. */
  async close(): Promise<void> {
    await this.pool.stop();
    await this.pushLock.close();
  }
}

export function createPooledGitService(deps: GitServiceDeps, opts: PooledServiceOptions = {}): PooledGitService {
  return new PooledGitService(deps, opts);
}
