import type { Queryable } from './queryable.js';
import { defineRepository } from './repository.js';

/**
 * `process_heartbeats` (one row per flag-caching process: when it started, was last seen, the
 * version it holds, whether it closed) and `flag_acks` (each version a process applied, stamped
 * by the database clock). They are written together: an ack is also a sign of life.
 */

/** Which decision a switch is measured from; its time is read in SQL (JS dates drop microseconds). */
export type SwitchDecision = { rollbackEventId: number } | { changeId: string };

export interface ProcessAck {
  processId: string;
  /** first ack of the version (or a later one); null when not acked yet */
  ackedAt: Date | null;
  /** decision → ack, ms (database clock); null when not acked */
  afterMs: number | null;
}

const DECISION = {
  event: 'SELECT decided_at FROM rollback_events WHERE id = $1',
  change: 'SELECT min(at) AS decided_at FROM flag_audit WHERE change_id = $1 HAVING min(at) IS NOT NULL',
};

/**
 * The processes that cached flags when a decision was taken (started before it, seen within
 * `liveWithinMs` before it) and their first ack of `version` or later; processes that closed
 * without acking are left out (nobody waits for them).
 */
const acksSql = (decision: string): string => `WITH d AS (${decision})
  SELECT h.process_id, ack.acked_at, extract(epoch FROM ack.acked_at - d.decided_at)::double precision * 1000 AS after_ms
    FROM d
    JOIN process_heartbeats h
      ON h.started_at <= d.decided_at
     AND h.last_seen_at >= d.decided_at - make_interval(secs => $3::double precision / 1000)
    LEFT JOIN LATERAL (SELECT min(a.acked_at) AS acked_at FROM flag_acks a WHERE a.process_id = h.process_id AND a.version >= $2) ack ON true
   WHERE h.closed_at IS NULL OR ack.acked_at IS NOT NULL
   ORDER BY h.process_id`;
const ACKS_SINCE_EVENT = acksSql(DECISION.event);
const ACKS_SINCE_CHANGE = acksSql(DECISION.change);

export function createProcessHeartbeatRepository(q: Queryable) {
  return defineRepository('process_heartbeats', {
    /** A sign of life carrying the version this process holds (re-opens a closed row). */
    async beat(processId: string, version: number): Promise<void> {
      await q.query(
        `INSERT INTO process_heartbeats (process_id, version) VALUES ($1, $2)
         ON CONFLICT (process_id) DO UPDATE SET last_seen_at = clock_timestamp(), version = greatest(process_heartbeats.version, EXCLUDED.version), closed_at = NULL`,
        [processId, version],
      );
    },

    /** Records that the process applied `version` (flag_acks) and beats, in one statement. */
    async ack(processId: string, version: number, changeId: string | null): Promise<void> {
      await q.query(
        `WITH a AS (INSERT INTO flag_acks (process_id, version, change_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING)
         INSERT INTO process_heartbeats (process_id, version) VALUES ($1, $2)
         ON CONFLICT (process_id) DO UPDATE SET version = greatest(process_heartbeats.version, EXCLUDED.version), last_seen_at = clock_timestamp(), closed_at = NULL`,
        [processId, version, changeId],
      );
    },

    /** The process stopped caching flags: nobody waits for its acks any more. */
    async close(processId: string): Promise<void> {
      await q.query('UPDATE process_heartbeats SET closed_at = clock_timestamp() WHERE process_id = $1', [processId]);
    },

    /** Expected processes of a decision and their acks of `version` (see acksSql). */
    async acksSince(decision: SwitchDecision, version: number, liveWithinMs: number): Promise<ProcessAck[]> {
      const [sql, key] =
        'rollbackEventId' in decision
          ? [ACKS_SINCE_EVENT, decision.rollbackEventId]
          : [ACKS_SINCE_CHANGE, decision.changeId];
      const { rows } = await q.query<{ process_id: string; acked_at: Date | null; after_ms: number | null }>(sql, [
        key,
        version,
        liveWithinMs,
      ]);
      return rows.map((r) => ({ processId: r.process_id, ackedAt: r.acked_at, afterMs: r.after_ms }));
    },

    /** Deletes acknowledgements older than `before` (rollback events keep their own copy). */
    async pruneAcks(before: Date): Promise<number> {
      const r = await q.query('DELETE FROM flag_acks WHERE acked_at < $1', [before]);
      return r.rowCount ?? 0;
    },
  });
}
export type ProcessHeartbeatRepository = ReturnType<typeof createProcessHeartbeatRepository>;
