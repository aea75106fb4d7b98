import type { Queryable } from './queryable.js';
import { defineRepository } from './repository.js';

/** The `rollback_events` table: every kill / rollback, and how long it took to reach every process. */
export type RollbackEventSource = 'kill' | 'rollback' | 'auto' | 'drill';

export interface RollbackEventRecord {
  id: number;
  changeId: string | null;
  source: RollbackEventSource;
  reason: string;
  actor: string;
  version: number | null;
  decidedAt: Date;
  appliedAt: Date | null;
  switchedAt: Record<string, string>;
  missingProcesses: string[] | null;
  durationMs: number | null;
}

export function createRollbackEventRepository(q: Queryable) {
  return defineRepository('rollback_events', {
    /** The event a change recorded (a retried kill with the same change id finds the first one). */
    async findByChangeId(changeId: string): Promise<{ id: number; version: number | null; decidedAt: Date } | null> {
      const { rows } = await q.query<{ id: string; version: string | null; decided_at: Date }>(
        'SELECT id, version, decided_at FROM rollback_events WHERE change_id = $1',
        [changeId],
      );
      const r = rows[0];
      return r
        ? { id: Number(r.id), version: r.version === null ? null : Number(r.version), decidedAt: r.decided_at }
        : null;
    },

    /** Records an event; returns its id. */
    async insert(e: {
      changeId: string;
      source: RollbackEventSource;
      reason: string;
      actor: string;
      version: number;
      decidedAt: Date;
    }): Promise<number> {
      const { rows } = await q.query<{ id: string }>(
        `INSERT INTO rollback_events (change_id, source, reason, actor, version, decided_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
        [e.changeId, e.source, e.reason, e.actor, e.version, e.decidedAt],
      );
      return Number(rows[0]!.id);
    },

    /** The flag version an event produced: undefined when no such event, null when it recorded none. */
    async version(id: number): Promise<number | null | undefined> {
      const { rows } = await q.query<{ version: string | null }>('SELECT version FROM rollback_events WHERE id = $1', [
        id,
      ]);
      if (!rows[0]) return undefined;
      return rows[0].version === null ? null : Number(rows[0].version);
    },

    /** Stores how the event reached the processes (FlagStore.awaitSwitch). */
    async recordSwitch(
      id: number,
      s: {
        appliedAt: Date | null;
        switchedAt: Record<string, string>;
        expected: string[];
        missing: string[];
        durationMs: number | null;
      },
    ): Promise<void> {
      await q.query(
        `UPDATE rollback_events SET applied_at = $2, switched_at = $3, expected_processes = $4, missing_processes = $5, duration_ms = $6 WHERE id = $1`,
        [id, s.appliedAt, JSON.stringify(s.switchedAt), s.expected, s.missing, s.durationMs],
      );
    },

    /** How many events each source recorded (sources with none are absent). */
    async countBySource(): Promise<{ source: RollbackEventSource; n: number }[]> {
      const { rows } = await q.query<{ source: RollbackEventSource; n: number }>(
        'SELECT source, count(*)::int AS n FROM rollback_events GROUP BY source',
      );
      return rows;
    },

    /** Newest first. */
    async list(limit: number): Promise<RollbackEventRecord[]> {
      const { rows } = await q.query<{
        id: string;
        change_id: string | null;
        source: RollbackEventSource;
        reason: string;
        actor: string;
        version: string | null;
        decided_at: Date;
        applied_at: Date | null;
        switched_at: Record<string, string>;
        missing_processes: string[] | null;
        duration_ms: number | null;
      }>('SELECT * FROM rollback_events ORDER BY id DESC LIMIT $1', [limit]);
      return rows.map((r) => ({
        id: Number(r.id),
        changeId: r.change_id,
        source: r.source,
        reason: r.reason,
        actor: r.actor,
        version: r.version === null ? null : Number(r.version),
        decidedAt: r.decided_at,
        appliedAt: r.applied_at,
        switchedAt: r.switched_at,
        missingProcesses: r.missing_processes,
        durationMs: r.duration_ms,
      }));
    },
  });
}
export type RollbackEventRepository = ReturnType<typeof createRollbackEventRepository>;
