import type { Queryable } from './queryable.js';
import { defineRepository } from './repository.js';

/**
 * The `flags` table: one row per routed operation (sql/000002_flags.sql). Writes go through a
 * change: `beginChange` takes the next global version and hands who/why/batch id to the
 * table's triggers (which write flag_audit and NOTIFY sgc_flags) through transaction settings,
 * then `apply` updates the batch in one statement. Call both on one transaction's client.
 */
export interface FlagRecord {
  operation: string;
  percent: number;
  shadow: boolean;
  shadowPercent: number;
  /** global flag version of this flag's last change */
  version: number;
  updatedAt: Date;
  updatedBy: string;
}

export interface FlagValueRecord {
  operation: string;
  percent: number;
  shadow: boolean;
  shadowPercent: number;
  version: number;
}

/** The columns a flag cache reads. */
type FlagValueRow = Pick<FlagRow, 'operation' | 'percent' | 'shadow' | 'shadow_percent' | 'version'>;

interface FlagRow {
  operation: string;
  percent: number;
  shadow: boolean;
  shadow_percent: number;
  version: string;
  updated_at: Date;
  updated_by: string;
}

const toFlagValue = (r: FlagValueRow): FlagValueRecord => ({
  operation: r.operation,
  percent: r.percent,
  shadow: r.shadow,
  shadowPercent: r.shadow_percent,
  version: Number(r.version),
});

const toFlag = (r: FlagRow): FlagRecord => ({
  operation: r.operation,
  percent: r.percent,
  shadow: r.shadow,
  shadowPercent: r.shadow_percent,
  version: Number(r.version),
  updatedAt: r.updated_at,
  updatedBy: r.updated_by,
});

export function createFlagRepository(q: Queryable) {
  return defineRepository('flags', {
    async list(): Promise<FlagRecord[]> {
      const { rows } = await q.query<FlagRow>(
        'SELECT operation, percent, shadow, shadow_percent, version, updated_at, updated_by FROM flags ORDER BY operation',
      );
      return rows.map(toFlag);
    },

    async get(operation: string): Promise<FlagRecord | null> {
      const { rows } = await q.query<FlagRow>(
        'SELECT operation, percent, shadow, shadow_percent, version, updated_at, updated_by FROM flags WHERE operation = $1',
        [operation],
      );
      return rows[0] ? toFlag(rows[0]) : null;
    },

    /** Every flag's value and version (what a flag cache holds). */
    async values(): Promise<FlagValueRecord[]> {
      const { rows } = await q.query<FlagValueRow>(
        'SELECT operation, percent, shadow, shadow_percent, version FROM flags',
      );
      return rows.map(toFlagValue);
    },

    /** Locks the flags (all when `ops` is omitted) in a fixed order, so concurrent changes cannot deadlock. */
    async lock(ops?: string[]): Promise<FlagValueRecord[]> {
      const { rows } = await q.query<FlagValueRow>(
        `SELECT operation, percent, shadow, shadow_percent, version FROM flags WHERE ($1::text[] IS NULL OR operation = ANY($1)) ORDER BY operation FOR UPDATE`,
        [ops ?? null],
      );
      return rows.map(toFlagValue);
    },

    /** The highest version of any flag (0 before the first change). */
    async currentVersion(): Promise<number> {
      const { rows } = await q.query<{ v: string }>('SELECT coalesce(max(version), 0) AS v FROM flags');
      return Number(rows[0]!.v);
    },

    /** Takes the next global version and passes who/why/batch id to the triggers (this transaction only). */
    async beginChange(changeId: string, actor: string, reason: string): Promise<number> {
      const { rows } = await q.query<{ v: string }>(
        `SELECT nextval('flag_version_seq') AS v, set_config('sgc.change_id', $1, true), set_config('sgc.actor', $2, true), set_config('sgc.reason', $3, true)`,
        [changeId, actor, reason],
      );
      return Number(rows[0]!.v);
    },

    /** Writes a batch in one statement: the triggers send one notification carrying every change. */
    async apply(
      changes: { operation: string; percent: number; shadow: boolean; shadowPercent: number }[],
      version: number,
      actor: string,
    ): Promise<void> {
      await q.query(
        `UPDATE flags f SET percent = c.percent, shadow = c.shadow, shadow_percent = c.shadow_percent, version = $5,
                updated_at = now(), updated_by = $6
           FROM unnest($1::text[], $2::int[], $3::bool[], $4::int[]) AS c(operation, percent, shadow, shadow_percent)
          WHERE f.operation = c.operation`,
        [
          changes.map((d) => d.operation),
          changes.map((d) => d.percent),
          changes.map((d) => d.shadow),
          changes.map((d) => d.shadowPercent),
          version,
          actor,
        ],
      );
    },
  });
}
export type FlagRepository = ReturnType<typeof createFlagRepository>;
