import type { Db } from '../db/index.js';

export interface ChangeSwitch {
  version: number;
  /** every expected process acknowledged the change's version within the wait */
  switched: boolean;
  /** change → last expected process acknowledged, ms (database clock); null if not measurable */
  durationMs: number | null;
  processes: number;
  missing: string[];
}

const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));

/**
 * How long any audited flag change (not only a kill, which FlagStore.awaitSwitch measures and
 * records) took to reach every flag-caching process: from the change's audit time (its
 * transaction start, database clock) to the last ack of its version by a process that was live
 * then. Same rules as FlagStore.awaitSwitch: processes that closed without acking are not
 * waited for; both ends come from the database clock, so the figure is an upper bound free of
 * process clock skew. Read-only.
 */
export async function awaitChangeSwitched(db: Db, changeId: string, opts: { timeoutMs?: number; liveWithinMs?: number; pollMs?: number } = {}): Promise<ChangeSwitch | null> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const liveWithinMs = opts.liveWithinMs ?? 15_000;
  const pollMs = opts.pollMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.query<{ version: string | null; process_id: string | null; acked: boolean; after_ms: number | null }>(
      `WITH c AS (SELECT min(at) AS decided_at, max(version) AS version FROM flag_audit WHERE change_id = $1)
       SELECT c.version, h.process_id, ack.acked_at IS NOT NULL AS acked,
              extract(epoch FROM ack.acked_at - c.decided_at)::double precision * 1000 AS after_ms
         FROM c
         LEFT JOIN process_heartbeats h
           ON h.started_at <= c.decided_at
          AND h.last_seen_at >= c.decided_at - make_interval(secs => $2::double precision / 1000)
         LEFT JOIN LATERAL (SELECT min(a.acked_at) AS acked_at FROM flag_acks a WHERE a.process_id = h.process_id AND a.version >= c.version) ack ON true
        WHERE h.process_id IS NULL OR h.closed_at IS NULL OR ack.acked_at IS NOT NULL
        ORDER BY h.process_id`,
      [changeId, liveWithinMs]);
    if (rows.length === 0 || rows[0]!.version === null) return null; // no such change
    const procs = rows.filter((r) => r.process_id !== null);
    const missing = procs.filter((r) => !r.acked).map((r) => r.process_id!);
    if (missing.length === 0 || Date.now() >= deadline) {
      const durationMs = procs.length === 0 || missing.length > 0 ? null : Math.max(0, ...procs.map((r) => r.after_ms ?? 0));
      return { version: Number(rows[0]!.version), switched: missing.length === 0, durationMs, processes: procs.length, missing };
    }
    await sleep(pollMs);
  }
}
