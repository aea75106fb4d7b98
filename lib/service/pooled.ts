import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { DomainError, ErrorType } from '../errors.js';
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
  /** per lock key: the tail of this process's queue for it (see withPushLock) */
  private readonly pushQueues = new Map<string, Promise<void>>();

  constructor(deps: GitServiceDeps, opts: PooledServiceOptions = {}) {
    super(deps);
    const { pool, lock, sandbox } = deps.config;
    this.pool = opts.pool ?? createSandboxPool(
      { provider: deps.provider, db: deps.db, key: deps.key, metrics: deps.metrics, log: deps.log.child({ component: 'pool' }) },
      {
        min: pool.min, max: pool.max, ttlSeconds: pool.ttlSeconds, acquireTimeoutMs: pool.acquireTimeoutMs,
        // e2b: the provider's pricing hook prices the vCPUs and memory its sandboxes report
        pricePerSecond: deps.provider.name === 'e2b' ? undefined : sandbox.pricePerSecond,
        sandboxTimeoutMs: sandbox.timeoutMs, limit: sandbox.limit, workspaceRoot: WORKSPACE_ROOT,
        minRemainingMs: pool.minRemainingSeconds * 1000,
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

  /**
   * Pushes of one process to one key queue here first (FIFO), so only the head of the queue
   * competes for the Postgres lock: a hundred local waiters would otherwise each poll it every
   * `pollMs`, and that load slows the holder down. Other processes still contend through the
   * Postgres lock as before. The acquire timeout (config `lock.acquireTimeoutMs`) bounds the whole
   * wait, local queue included, and ends in the same LockTimeout.
   */
  protected async withPushLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const timeoutMs = this.deps.config.lock.acquireTimeoutMs;
    const started = performance.now();
    const ahead = this.pushQueues.get(key) ?? Promise.resolve();
    let leave!: () => void;
    const mine = new Promise<void>((r) => { leave = r; });
    // whoever queues after us waits for those ahead of us too, even if we give up early
    const tail = ahead.then(() => mine);
    this.pushQueues.set(key, tail);
    try {
      const ac = new AbortController();
      const turn = await Promise.race([
        ahead.then(() => true),
        delay(timeoutMs, false, { signal: ac.signal }).catch(() => false),
      ]);
      ac.abort();
      const waited = performance.now() - started;
      if (!turn || waited >= timeoutMs) {
        this.deps.metrics.lockWait.labels('timeout').observe(waited / 1000);
        throw new DomainError(ErrorType.LockTimeout, `push lock still held after ${Math.round(waited)} ms`, {
          details: { lockKey: key, waitedMs: Math.round(waited), queued: true },
        });
      }
      // what is left of the timeout after a wait in the queue (no wait: the lock's own default);
      // the holder is unique per acquisition: the lock treats a repeated holder as a re-acquire
      const lockOpts = waited >= 1 ? { timeoutMs: timeoutMs - waited } : {};
      return await this.pushLock.withLock(key, `${this.holderPrefix}:${randomUUID()}`, () => fn(), lockOpts);
    } finally {
      leave();
      if (this.pushQueues.get(key) === tail) this.pushQueues.delete(key);
    }
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
    await this.flushReads();
    await this.pool.stop();
    await this.pushLock.close();
  }
}

export function createPooledGitService(deps: GitServiceDeps, opts: PooledServiceOptions = {}): PooledGitService {
  return new PooledGitService(deps, opts);
}
