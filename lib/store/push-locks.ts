import type { Queryable } from './queryable.js';
import { defineRepository } from './repository.js';

/**
 * `push_locks` (approach 2's Postgres push lock: one row per held key, fencing token from a
 * sequence) and its audit trail `lock_audit`, written in the same statements: every
 * acquisition, takeover, release and timeout leaves a row.
 */
export interface LockAcquired {
  token: string;
  tookOver: boolean;
  previousHolder: string | null;
}

export function createPushLockRepository(q: Queryable) {
  return defineRepository('push_locks', {
    /** One attempt to take `key` (free, expired, or already ours); audits it. Null when held by someone else. */
    async tryAcquire(key: string, holder: string, ttlMs: number, waitMs: number): Promise<LockAcquired | null> {
      const { rows } = await q.query<{ fencing_token: string; event: string; previous_holder: string | null }>(
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
      return {
        token: String(r.fencing_token),
        tookOver: r.event === 'expired_takeover',
        previousHolder: r.previous_holder,
      };
    },

    /** Audits a wait that ended without the lock. */
    async auditTimeout(key: string, holder: string, waitMs: number): Promise<void> {
      await q.query(`INSERT INTO lock_audit (lock_key, holder, event, wait_ms) VALUES ($1, $2, 'timeout', $3)`, [
        key,
        holder,
        waitMs,
      ]);
    },

    /**
     * Releases the holder's own lock (matching fencing token), audits it and notifies `channel`
     * with `payload` so waiters retry at once. False when it held nothing.
     */
    async release(
      key: string,
      holder: string,
      fencingToken: string,
      channel: string,
      payload: string,
    ): Promise<boolean> {
      const { rows } = await q.query<{ notified: string }>(
        `WITH d AS (
           DELETE FROM push_locks WHERE lock_key = $1 AND holder = $2 AND fencing_token = $3::bigint
           RETURNING lock_key, holder, fencing_token, acquired_at
         ), aud AS (
           INSERT INTO lock_audit (lock_key, holder, event, wait_ms, fencing_token)
           SELECT lock_key, holder, 'released', 0, fencing_token FROM d RETURNING 1
         )
         SELECT pg_notify($4, $5)::text AS notified FROM d`,
        [key, holder, fencingToken, channel, payload],
      );
      return rows.length > 0;
    },

    /** Pushes the expiry of the holder's own lock to now + ttlMs; false when it no longer holds it. */
    async extend(key: string, holder: string, fencingToken: string, ttlMs: number): Promise<boolean> {
      const { rowCount } = await q.query(
        `UPDATE push_locks SET expires_at = now() + $4::double precision * interval '1 millisecond'
         WHERE lock_key = $1 AND holder = $2 AND fencing_token = $3::bigint`,
        [key, holder, fencingToken, ttlMs],
      );
      return (rowCount ?? 0) > 0;
    },

    /** The current holder of `key` (expired or not). */
    async inspect(
      key: string,
    ): Promise<{ holder: string; fencingToken: string; expiresAt: Date; expired: boolean } | null> {
      const { rows } = await q.query<{ holder: string; fencing_token: string; expires_at: Date; expired: boolean }>(
        'SELECT holder, fencing_token, expires_at, expires_at < now() AS expired FROM push_locks WHERE lock_key = $1',
        [key],
      );
      const r = rows[0];
      return r
        ? { holder: r.holder, fencingToken: String(r.fencing_token), expiresAt: r.expires_at, expired: r.expired }
        : null;
    },

    /** Locks acquired since `since` still held past their expiry at `at` (first 20, and how many). */
    async expiredSince(
      since: Date,
      at: Date,
    ): Promise<{ locks: { lockKey: string; holder: string; expiresAt: Date }[]; total: number }> {
      const { rows } = await q.query<{ lock_key: string; holder: string; expires_at: Date; n: string }>(
        `SELECT lock_key, holder, expires_at, count(*) OVER () AS n FROM push_locks
          WHERE acquired_at >= $1 AND expires_at < $2 ORDER BY expires_at LIMIT 20`,
        [since, at],
      );
      return {
        locks: rows.map((r) => ({ lockKey: r.lock_key, holder: r.holder, expiresAt: r.expires_at })),
        total: Number(rows[0]?.n ?? 0),
      };
    },
  });
}
export type PushLockRepository = ReturnType<typeof createPushLockRepository>;
