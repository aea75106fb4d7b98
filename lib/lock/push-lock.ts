import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import type { Db } from '../db/index.js';
import { releaseWhenReachable } from '../db/release-later.js';
import { DomainError, ErrorType } from '../errors.js';
import { PUSH_LOCK_DEFAULTS } from './defaults.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { createPushLockRepository, type LockAcquired, type PushLockRepository } from '../store/push-locks.js';
import { listen, unlisten } from '../store/session.js';

/**
 * The distributed push lock of approach 2 (seed 004 used Redis with TTL 30 s and a 5 s acquire
 * timeout; Postgres is the store we already run). One row per held lock in `push_locks`, keyed by
 * sanitised remote + target branch.
 *
 * - Acquire is one atomic upsert: it inserts the row, or takes over a row whose `expires_at` has
 *   passed (its holder crashed or stalled) — audited as `expired_takeover`. Time is the
 *   database's `now()`, so clocks of different hosts never disagree about expiry.
 * - Every acquisition gets a fresh fencing token (a sequence): release and extend only act on the
 *   caller's own (key, holder, token), so a holder whose lock expired and was taken over cannot
 *   release or extend the new holder's lock.
 * - Waiters poll every `pollMs` and are also woken at once by a NOTIFY on release, which keeps
 *   hand-over latency low under contention (many agents pushing one branch).
 * - Holders must be unique per acquisition attempt (e.g. `<host>:<pid>:<workspace>:<uuid>`): the
 *   same holder re-acquiring its own live lock succeeds (so a retried acquire is idempotent).
 */

export const NOTIFY_CHANNEL = 'sgc_push_lock';

export interface PushLockOptions {
  ttlMs?: number;
  timeoutMs?: number;
  pollMs?: number;
}

export interface LockHandle {
  key: string;
  holder: string;
  fencingToken: string;
  /** true when an expired lock of another holder was taken over */
  tookOver: boolean;
  waitMs: number;
}

export interface PushLockDeps {
  db: Db;
  metrics?: Metrics;
  log?: Logger;
  /** defaults for acquire (config `lock`; without it, PUSH_LOCK_DEFAULTS) */
  defaults?: PushLockOptions;
  /** wake waiters on NOTIFY (default true); polling alone also works */
  listen?: boolean;
}

const hashKey = (key: string): string => createHash('sha256').update(key).digest('hex').slice(0, 32);

export class PushLock {
  private readonly db: Db;
  private readonly locks: PushLockRepository;
  private readonly metrics?: Metrics;
  private readonly log?: Logger;
  private readonly defaults: Required<PushLockOptions>;
  private readonly useListen: boolean;
  private listener: pg.PoolClient | null = null;
  private listenerStarting: Promise<void> | null = null;
  private closed = false;
  /** waiters per hashed key, woken by NOTIFY */
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(deps: PushLockDeps) {
    this.db = deps.db;
    this.locks = createPushLockRepository(deps.db);
    this.metrics = deps.metrics;
    this.log = deps.log;
    this.defaults = {
      ttlMs: PUSH_LOCK_DEFAULTS.ttlSeconds * 1000,
      timeoutMs: PUSH_LOCK_DEFAULTS.acquireTimeoutMs,
      pollMs: PUSH_LOCK_DEFAULTS.pollMs,
      ...stripUndefined(deps.defaults ?? {}),
    };
    this.useListen = deps.listen !== false;
  }

  /**
   * Waits up to `timeoutMs` for the lock; throws DomainError(LockTimeout) when it stays held.
   * Observes gitops_lock_wait_seconds{outcome} and writes a lock_audit row either way.
   */
  async acquire(key: string, holder: string, opts: PushLockOptions = {}): Promise<LockHandle> {
    const { ttlMs, timeoutMs, pollMs } = { ...this.defaults, ...stripUndefined(opts) };
    if (!key || !holder)
      throw new DomainError(ErrorType.Validation, 'lock key and holder are required', {
        details: { field: key ? 'holder' : 'key' },
      });
    const started = performance.now();
    for (;;) {
      const waited = performance.now() - started;
      const got = await this.tryAcquire(key, holder, ttlMs, waited);
      if (got) {
        this.metrics?.lockWait.labels('acquired').observe(waited / 1000);
        if (got.tookOver)
          this.log?.warn({ lockKey: key, previousHolder: got.previousHolder }, 'expired push lock taken over');
        return { key, holder, fencingToken: got.token, tookOver: got.tookOver, waitMs: waited };
      }
      const remaining = timeoutMs - (performance.now() - started);
      if (remaining <= 0) {
        const total = performance.now() - started;
        this.metrics?.lockWait.labels('timeout').observe(total / 1000);
        await this.locks
          .auditTimeout(key, holder, total)
          .catch((e: Error) => this.log?.warn({ err: e.message }, 'lock audit write failed'));
        throw new DomainError(ErrorType.LockTimeout, `push lock still held after ${Math.round(total)} ms`, {
          details: { lockKey: key, waitedMs: Math.round(total) },
        });
      }
      await this.waitForRelease(key, Math.min(pollMs, remaining));
    }
  }

  /** One attempt; audits the acquisition in the same statement. */
  private tryAcquire(key: string, holder: string, ttlMs: number, waitMs: number): Promise<LockAcquired | null> {
    return this.locks.tryAcquire(key, holder, ttlMs, waitMs);
  }

  /**
   * Releases the caller's own lock; a non-holder (or a stale token after a takeover) changes
   * nothing. Returns whether a lock was released; releasing twice is harmless.
   */
  release(key: string, holder: string, fencingToken: string): Promise<boolean> {
    return this.locks.release(key, holder, fencingToken, NOTIFY_CHANNEL, hashKey(key));
  }

  /** Pushes the expiry of the caller's own lock to now + ttlMs; false when it no longer holds it. */
  extend(key: string, holder: string, fencingToken: string, ttlMs = this.defaults.ttlMs): Promise<boolean> {
    return this.locks.extend(key, holder, fencingToken, ttlMs);
  }

  /** The current holder of `key` (expired or not), for diagnostics and tests. */
  inspect(key: string): Promise<{ holder: string; fencingToken: string; expiresAt: Date; expired: boolean } | null> {
    return this.locks.inspect(key);
  }

  /**
   * Runs `fn` holding the lock. While `fn` runs the lock is extended every ttl/3, so a long push
   * keeps it; if an extension finds the lock lost (the database was unreachable past the TTL and
   * someone took over), `handle.lost` turns true — fencing-aware callers can check it.
   * Always releases, also when `fn` throws.
   */
  async withLock<T>(
    key: string,
    holder: string,
    fn: (h: LockHandle & { lost: boolean }) => Promise<T>,
    opts: PushLockOptions = {},
  ): Promise<T> {
    const ttlMs = opts.ttlMs ?? this.defaults.ttlMs;
    const h = { ...(await this.acquire(key, holder, opts)), lost: false };
    const timer = setInterval(
      () => {
        this.extend(key, holder, h.fencingToken, ttlMs).then(
          (ok) => {
            if (!ok && !h.lost) {
              h.lost = true;
              this.log?.warn({ lockKey: key }, 'push lock lost while held');
            }
          },
          (e: Error) => this.log?.warn({ lockKey: key, err: e.message }, 'push lock extension failed'),
        );
      },
      Math.max(50, Math.floor(ttlMs / 3)),
    );
    timer.unref();
    try {
      return await fn(h);
    } finally {
      clearInterval(timer);
      await this.release(key, holder, h.fencingToken).catch((e: Error) => {
        this.log?.warn(
          { lockKey: key, err: e.message },
          'push lock release failed; retrying until the database answers',
        );
        // left to its TTL, the branch stayed locked for the next pushes (this one's retry too)
        releaseWhenReachable(() => this.release(key, holder, h.fencingToken), {
          giveUpAfterMs: ttlMs,
          what: 'push lock',
          fields: { lockKey: key },
          log: this.log,
        });
      });
    }
  }

  /** Stops listening; held locks are not touched (they expire or are released by their holders). */
  async close(): Promise<void> {
    this.closed = true;
    for (const set of this.waiters.values()) for (const wake of set) wake();
    this.waiters.clear();
    await this.listenerStarting?.catch(() => undefined);
    const l = this.listener;
    this.listener = null;
    if (l) {
      await unlisten(l, NOTIFY_CHANNEL).catch(() => undefined);
      releaseOnce(l);
    }
  }

  private async waitForRelease(key: string, ms: number): Promise<void> {
    if (this.useListen && !this.closed) await this.ensureListener().catch(() => undefined);
    const hk = hashKey(key);
    await new Promise<void>((resolve) => {
      const set = this.waiters.get(hk) ?? new Set<() => void>();
      this.waiters.set(hk, set);
      const done = (): void => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.waiters.delete(hk);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  /** One dedicated connection per PushLock listens for releases; on error we fall back to polling. */
  private ensureListener(): Promise<void> {
    if (this.listener || this.closed) return Promise.resolve();
    this.listenerStarting ??= (async () => {
      const client = await this.db.connect();
      const drop = (): void => {
        if (this.listener === client) this.listener = null;
        releaseOnce(client, true);
      };
      client.on('error', (e) => {
        this.log?.warn({ err: e.message }, 'push lock listener lost; polling until it reconnects');
        drop();
      });
      client.on('notification', (n) => {
        if (n.channel !== NOTIFY_CHANNEL || !n.payload) return;
        const set = this.waiters.get(n.payload);
        if (set) for (const wake of [...set]) wake();
      });
      await listen(client, NOTIFY_CHANNEL);
      if (this.closed) {
        releaseOnce(client);
        return;
      }
      this.listener = client;
    })().finally(() => {
      this.listenerStarting = null;
    });
    return this.listenerStarting;
  }
}

// The listener can be released by close() and later see an 'error' (the pool ending kills its
// connection); pg throws on a second release, so each client is released once.
const released = new WeakSet<object>();
function releaseOnce(client: { release(err?: boolean): void }, destroy = false): void {
  if (released.has(client)) return;
  released.add(client);
  client.release(destroy);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function createPushLock(deps: PushLockDeps): PushLock {
  return new PushLock(deps);
}
