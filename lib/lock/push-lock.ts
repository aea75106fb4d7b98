import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import type { Db } from '../db/index.js';
import { DomainError, ErrorType } from '../errors.js';
import { PUSH_LOCK_DEFAULTS } from './defaults.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

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
    this.metrics = deps.metrics;
    this.log = deps.log;
    this.defaults = {
      ttlMs: PUSH_LOCK_DEFAULTS.ttlSeconds * 1000, timeoutMs: PUSH_LOCK_DEFAULTS.acquireTimeoutMs, pollMs: PUSH_LOCK_DEFAULTS.pollMs,
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
    if (!key || !holder) throw new DomainError(ErrorType.Validation, 'lock key and holder are required', { details: { field: key ? 'holder' : 'key' } });
    const started = performance.now();
    for (;;) {
      const waited = performance.now() - started;
      const got = await this.tryAcquire(key, holder, ttlMs, waited);
      if (got) {
        this.metrics?.lockWait.labels('acquired').observe(waited / 1000);
        if (got.tookOver) this.log?.warn({ lockKey: key, previousHolder: got.previousHolder }, 'expired push lock taken over');
        return { key, holder, fencingToken: got.token, tookOver: got.tookOver, waitMs: waited };
      }
      const remaining = timeoutMs - (performance.now() - started);
      if (remaining <= 0) {
        const total = performance.now() - started;
        this.metrics?.lockWait.labels('timeout').observe(total / 1000);
        await this.db.query(
          `INSERT INTO lock_audit (lock_key, holder, event, wait_ms) VALUES ($1, $2, 'timeout', $3)`, [key, holder, total],
        ).catch((e: Error) => this.log?.warn({ err: e.message }, 'lock audit write failed'));
        throw new DomainError(ErrorType.LockTimeout, `push lock still held after ${Math.round(total)} ms`, {
          details: { lockKey: key, waitedMs: Math.round(total) },
        });
      }
      await this.waitForRelease(key, Math.min(pollMs, remaining));
    }
  }

  /** One attempt; audits the acquisition in the same statement. */
  private async tryAcquire(key: string, holder: string, ttlMs: number, waitMs: number): Promise<{ token: string; tookOver: boolean; previousHolder: string | null } | null> {
    const { rows } = await this.db.query<{ fencing_token: string; event: string; previous_holder: string | null }>(
      `WITH prev AS (
         SELECT holder FROM push_locks WHERE lock_key = $1
       ), ins AS (
         INSERT INTO push_locks AS p (lock_key, holder, acquired_at, expires_at, fencing_token)
         VALUES ($1, $2, now(), now() + $3::double precision * interval '1 millisecond', nextval('push_lock_fencing_seq'))
         ON CONFLICT (lock_key) DO UPDATE
           SET holder = EXCLUDED.holder, acquired_at = EXCLUDED.acquired_at,
               expires_at = EXCLUDED.expires_at, fencing_token = EXCLUDED.fencing_token
           WHERE p.expires_at < now() OR p.holder = EXCLUDED.holder
         RETURNING p.fencing_token, (p.xmax::text <> '0') AS updated
       ), aud AS (
         INSERT INTO lock_audit (lock_key, holder, event, wait_ms, fencing_token, previous_holder)
         SELECT $1, $2,
                CASE WHEN ins.updated AND (SELECT holder FROM prev) IS DISTINCT FROM $2 THEN 'expired_takeover' ELSE 'acquired' END,
                $4, ins.fencing_token,
                CASE WHEN ins.updated AND (SELECT holder FROM prev) IS DISTINCT FROM $2 THEN (SELECT holder FROM prev) END
           FROM ins
         RETURNING event, previous_holder
       )
       SELECT ins.fencing_token, aud.event, aud.previous_holder FROM ins, aud`,
      [key, holder, ttlMs, waitMs],
    );
    const r = rows[0];
    if (!r) return null;
    return { token: String(r.fencing_token), tookOver: r.event === 'expired_takeover', previousHolder: r.previous_holder };
  }

  /**
   * Releases the caller's own lock; a non-holder (or a stale token after a takeover) changes
   * nothing. Returns whether a lock was released; releasing twice is harmless.
   */
  async release(key: string, holder: string, fencingToken: string): Promise<boolean> {
    const { rows } = await this.db.query<{ notified: string }>(
      `WITH d AS (
         DELETE FROM push_locks WHERE lock_key = $1 AND holder = $2 AND fencing_token = $3::bigint
         RETURNING lock_key, holder, fencing_token, acquired_at
       ), aud AS (
         INSERT INTO lock_audit (lock_key, holder, event, wait_ms, fencing_token)
         SELECT lock_key, holder, 'released', 0, fencing_token FROM d RETURNING 1
       )
       SELECT pg_notify($4, $5)::text AS notified FROM d`,
      [key, holder, fencingToken, NOTIFY_CHANNEL, hashKey(key)],
    );
    return rows.length > 0;
  }

  /** Pushes the expiry of the caller's own lock to now + ttlMs; false when it no longer holds it. */
  async extend(key: string, holder: string, fencingToken: string, ttlMs = this.defaults.ttlMs): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE push_locks SET expires_at = now() + $4::double precision * interval '1 millisecond'
       WHERE lock_key = $1 AND holder = $2 AND fencing_token = $3::bigint`,
      [key, holder, fencingToken, ttlMs],
    );
    return (rowCount ?? 0) > 0;
  }

  /** The current holder of `key` (expired or not), for diagnostics and tests. */
  async inspect(key: string): Promise<{ holder: string; fencingToken: string; expiresAt: Date; expired: boolean } | null> {
    const { rows } = await this.db.query<{ holder: string; fencing_token: string; expires_at: Date; expired: boolean }>(
      'SELECT holder, fencing_token, expires_at, expires_at < now() AS expired FROM push_locks WHERE lock_key = $1', [key],
    );
    const r = rows[0];
    return r ? { holder: r.holder, fencingToken: String(r.fencing_token), expiresAt: r.expires_at, expired: r.expired } : null;
  }

  /**
   * Runs `fn` holding the lock. While `fn` runs the lock is extended every ttl/3, so a long push
   * keeps it; if an extension finds the lock lost (the database was unreachable past the TTL and
   * someone took over), `handle.lost` turns true — fencing-aware callers can check it.
   * Always releases, also when `fn` throws.
   */
  async withLock<T>(key: string, holder: string, fn: (h: LockHandle & { lost: boolean }) => Promise<T>, opts: PushLockOptions = {}): Promise<T> {
    const ttlMs = opts.ttlMs ?? this.defaults.ttlMs;
    const h = { ...(await this.acquire(key, holder, opts)), lost: false };
    const timer = setInterval(() => {
      this.extend(key, holder, h.fencingToken, ttlMs).then((ok) => {
        if (!ok && !h.lost) {
          h.lost = true;
          this.log?.warn({ lockKey: key }, 'push lock lost while held');
        }
      }, (e: Error) => this.log?.warn({ lockKey: key, err: e.message }, 'push lock extension failed'));
    }, Math.max(50, Math.floor(ttlMs / 3)));
    timer.unref();
    try {
      return await fn(h);
    } finally {
      clearInterval(timer);
      await this.release(key, holder, h.fencingToken).catch((e: Error) =>
        // the row expires after the TTL anyway; the next acquirer takes it over
        this.log?.warn({ lockKey: key, err: e.message }, 'push lock release failed'));
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
      await l.query(`UNLISTEN ${NOTIFY_CHANNEL}`).catch(() => undefined);
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
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
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
