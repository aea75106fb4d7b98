import type { Queryable } from './queryable.js';
import { defineRepository } from './repository.js';

/** The `flag_audit` table, written by the flags table's trigger: who changed what, when, why. */
export interface FlagAuditRecord {
  id: number;
  changeId: string;
  operation: string;
  actor: string;
  reason: string;
  /** shadowPercent is derived from shadow (100 / 0) for rows written before sql/000012 */
  old: AuditedValues | null;
  new: AuditedValues | null;
  version: number;
  at: Date;
}

interface AuditedValues {
  percent: number;
  shadow: boolean;
  shadowPercent: number;
}

function audited(v: { percent: number; shadow: boolean; shadowPercent?: number } | null): AuditedValues | null {
  if (v === null) return null;
  return { percent: v.percent, shadow: v.shadow, shadowPercent: v.shadowPercent ?? (v.shadow ? 100 : 0) };
}

export function createFlagAuditRepository(q: Queryable) {
  return defineRepository('flag_audit', {
    /** Newest first, optionally for one operation or one change. */
    async list(f: { operation?: string; changeId?: string; limit: number }): Promise<FlagAuditRecord[]> {
      const { rows } = await q.query<{
        id: string;
        change_id: string;
        operation: string;
        actor: string;
        reason: string;
        old: { percent: number; shadow: boolean; shadowPercent?: number } | null;
        new: { percent: number; shadow: boolean; shadowPercent?: number } | null;
        version: string;
        at: Date;
      }>(
        `SELECT id, change_id, operation, actor, reason, old, new, version, at FROM flag_audit
          WHERE ($1::text IS NULL OR operation = $1) AND ($2::text IS NULL OR change_id = $2)
          ORDER BY id DESC LIMIT $3`,
        [f.operation ?? null, f.changeId ?? null, f.limit],
      );
      return rows.map((r) => ({
        id: Number(r.id),
        changeId: r.change_id,
        operation: r.operation,
        actor: r.actor,
        reason: r.reason,
        old: audited(r.old),
        new: audited(r.new),
        version: Number(r.version),
        at: r.at,
      }));
    },

    /** The version a change produced; null when no change has this id. */
    async changeVersion(changeId: string): Promise<number | null> {
      const { rows } = await q.query<{ version: string | null }>(
        'SELECT max(version) AS version FROM flag_audit WHERE change_id = $1',
        [changeId],
      );
      return rows[0]?.version == null ? null : Number(rows[0].version);
    },

    /** The shadow setting (and its share) of `git.clone` over time, up to `until` (reconciliation's windows). */
    async cloneShadowHistory(
      until: Date,
    ): Promise<{ at: Date; shadow: boolean | null; shadowPercent: number | null }[]> {
      // shadowPercent is null on rows written before sql/000012 (shadow on was every agent)
      const { rows } = await q.query<{ at: Date; shadow: boolean | null; shadowPercent: number | null }>(
        `SELECT at, (new->>'shadow')::boolean AS shadow, (new->>'shadowPercent')::int AS "shadowPercent"
           FROM flag_audit WHERE operation = 'git.clone' AND at <= $1 ORDER BY id`,
        [until],
      );
      return rows;
    },
  });
}
export type FlagAuditRepository = ReturnType<typeof createFlagAuditRepository>;
