import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Db } from '../db/index.js';
import { DomainError, ErrorType } from '../errors.js';
import {
  clearLatch, latchedAfter, latchEvents, latchMark, readLatch, setLatch, type LatchEvent, type LatchState,
} from '../store/flag-latch.js';
import { inTransaction } from '../store/queryable.js';

export type { LatchEvent, LatchState } from '../store/flag-latch.js';

/** Operations seeded by sql/000002_flags.sql; the flags table is the registry of known operations. */
export const FLAG_OPERATIONS = ['git.clone', 'git.pull', 'git.push', 'git.status', 'git.diff', 'git.read', 'git.write', 'git.release'] as const;
export type FlagOperation = (typeof FLAG_OPERATIONS)[number];

export const FLAGS_CHANNEL = 'sgc_flags';

export interface FlagTarget {
  percent: number;
  shadow: boolean;
}

export interface Flag extends FlagTarget {
  operation: string;
  /** global flag version of this flag's last change (one value per batch) */
  version: number;
  updatedAt: Date;
  updatedBy: string;
}

export interface ChangeMeta {
  /** who: a user, token name or workflow id */
  actor: string;
  /** why: required, it is what the audit is for */
  reason: string;
  /** batch id; pass a stable one (e.g. workflow id + stage) to make a retried change recognisable */
  changeId?: string;
}

export interface FlagChange {
  operation: string;
  old: FlagTarget;
  new: FlagTarget;
}

export interface ChangeResult {
  /** null when nothing changed (the target was already in place): no audit row, no notification */
  changeId: string | null;
  /** the new global version, or the current one when nothing changed */
  version: number;
  changed: FlagChange[];
  /** database clock when the change was decided (transaction start of the change) */
  decidedAt: Date;
}

export type RollbackSource = 'kill' | 'rollback' | 'auto' | 'drill';

export interface KillResult extends ChangeResult {
  /** rollback_events.id; null when every flag was already at 0 and no event was recorded */
  eventId: number | null;
  /** the latch after the kill (set when the kill was asked to latch) */
  latch: LatchState;
}

export interface SetOptions {
  /**
   * Refuse (FlagsLatched) when the kill switch was pulled after this mark ({@link FlagStore.latchMark}),
   * even if it has been unlatched since: the drill turns flags on and restores its snapshot only
   * while no kill came after its start.
   */
  notKilledAfter?: number;
}

export interface AuditEntry {
  id: number;
  changeId: string;
  operation: string;
  actor: string;
  reason: string;
  old: FlagTarget | null;
  new: FlagTarget | null;
  version: number;
  at: Date;
}

export interface SwitchResult {
  eventId: number;
  /** true when every expected process acknowledged the kill's version within the wait */
  switched: boolean;
  /** decision → last expected process acknowledged; null when no process was expected */
  durationMs: number | null;
  /** processId → ack time */
  processes: Record<string, Date>;
  missing: string[];
}

export interface RollbackEvent {
  id: number;
  changeId: string | null;
  source: RollbackSource;
  reason: string;
  actor: string;
  version: number | null;
  decidedAt: Date;
  appliedAt: Date | null;
  switchedAt: Record<string, string>;
  missingProcesses: string[] | null;
  durationMs: number | null;
}

const OPERATION_FORMAT = /^git\.[a-z][a-z_]*$/;

function validation(field: string, message: string, details: Record<string, unknown> = {}): DomainError {
  return new DomainError(ErrorType.Validation, `${field}: ${message}`, { details: { field, ...details } });
}

function checkMeta(meta: ChangeMeta): void {
  if (typeof meta.actor !== 'string' || meta.actor.trim() === '') throw validation('actor', 'is required');
  if (typeof meta.reason !== 'string' || meta.reason.trim() === '') throw validation('reason', 'is required (the audit records why)');
  if (meta.changeId !== undefined && (meta.changeId.trim() === '' || meta.changeId.length > 200)) throw validation('changeId', 'must be 1..200 characters');
}

function checkTarget(operation: unknown, t: Partial<FlagTarget>, index?: number): void {
  const at = index === undefined ? {} : { index };
  if (typeof operation !== 'string' || !OPERATION_FORMAT.test(operation)) throw validation('operation', `unknown operation ${JSON.stringify(operation)}`, at);
  if (t.percent !== undefined && (!Number.isInteger(t.percent) || t.percent < 0 || t.percent > 100)) {
    throw validation('percent', `must be an integer from 0 to 100, got ${JSON.stringify(t.percent)}`, { operation, ...at });
  }
  if (t.shadow !== undefined && typeof t.shadow !== 'boolean') throw validation('shadow', `must be a boolean, got ${JSON.stringify(t.shadow)}`, { operation, ...at });
}

interface FlagRow {
  operation: string;
  percent: number;
  shadow: boolean;
  version: string;
  updated_at: Date;
  updated_by: string;
}

function toFlag(r: FlagRow): Flag {
  return { operation: r.operation, percent: r.percent, shadow: r.shadow, version: Number(r.version), updatedAt: r.updated_at, updatedBy: r.updated_by };
}

const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));

/**
 * Flags in Postgres: read, change (validated, audited, announced on `sgc_flags`), kill switch, and
 * the measured time from a kill's decision to every caching process switched. Changes are
 * idempotent: applying a target that is already in place writes nothing (no audit row, no
 * version, no notification). Audit rows and notifications come from the table's triggers
 * (sql/000002_flags.sql); this class passes who/why/batch id through transaction settings.
 */
export class FlagStore {
  constructor(private readonly db: Db) {}

  async list(): Promise<Flag[]> {
    const { rows } = await this.db.query<FlagRow>('SELECT operation, percent, shadow, version, updated_at, updated_by FROM flags ORDER BY operation');
    return rows.map(toFlag);
  }

  async get(operation: string): Promise<Flag | null> {
    const { rows } = await this.db.query<FlagRow>('SELECT operation, percent, shadow, version, updated_at, updated_by FROM flags WHERE operation = $1', [operation]);
    return rows[0] ? toFlag(rows[0]) : null;
  }

  /** Sets one flag; fields left out keep their value. Throws Validation naming the field, FlagsLatched while latched. */
  set(operation: string, target: Partial<FlagTarget>, meta: ChangeMeta, opts: SetOptions = {}): Promise<ChangeResult> {
    return this.setMany([{ operation, ...target }], meta, opts);
  }

  /**
   * Sets several flags in one transaction, audited as one change (one change id, one version).
   * Refused with FlagsLatched (409, the latch's reason) while the kill latch is set.
   */
  async setMany(changes: ({ operation: string } & Partial<FlagTarget>)[], meta: ChangeMeta, opts: SetOptions = {}): Promise<ChangeResult> {
    checkMeta(meta);
    if (!Array.isArray(changes) || changes.length === 0) throw validation('changes', 'at least one flag change is required');
    changes.forEach((c, i) => checkTarget(c.operation, c, changes.length > 1 ? i : undefined));
    const seen = new Set<string>();
    for (const c of changes) {
      if (seen.has(c.operation)) throw validation('operation', `${c.operation} appears twice in one change`);
      seen.add(c.operation);
    }
    return this.tx(async (client) => {
      const decidedAt = await clockNow(client);
      await refuseIfLatched(client, opts);
      const ops = changes.map((c) => c.operation);
      const current = await lockFlags(client, ops);
      const unknown = ops.filter((op) => !current.has(op));
      if (unknown.length > 0) throw validation('operation', `unknown operation ${unknown.join(', ')}`, { known: [...FLAG_OPERATIONS] });
      const diff: FlagChange[] = [];
      for (const c of changes) {
        const cur = current.get(c.operation)!;
        const next = { percent: c.percent ?? cur.percent, shadow: c.shadow ?? cur.shadow };
        if (next.percent !== cur.percent || next.shadow !== cur.shadow) diff.push({ operation: c.operation, old: { percent: cur.percent, shadow: cur.shadow }, new: next });
      }
      return applyChanges(client, diff, meta, decidedAt);
    });
  }

  /**
   * The kill switch: every percent → 0 and shadow off, in one transaction and one change. Records
   * a rollback event (source, who, why, decision time) when something changed; measure the time
   * to every process switched with {@link awaitSwitch}. Retrying with the same `changeId` returns
   * the first attempt's event instead of recording another.
   *
   * With `latch: true` (the operator's kill switch: API and CLI) it also sets the kill latch:
   * until {@link unlatch}, every flag change is refused. Rollbacks a canary or a drill makes do
   * not latch (the rollout is over; the drill turns the flags back on as its test).
   */
  async kill(meta: ChangeMeta & { source?: RollbackSource; latch?: boolean }): Promise<KillResult> {
    checkMeta(meta);
    const source = meta.source ?? 'kill';
    if (!['kill', 'rollback', 'auto', 'drill'].includes(source)) throw validation('source', `must be kill, rollback, auto or drill, got ${JSON.stringify(source)}`);
    return this.tx(async (client) => {
      const decidedAt = await clockNow(client);
      // the latch row before the flags (the lock order every writer keeps)
      const latchBefore = await readLatch(client, meta.latch === true ? 'update' : 'share');
      if (meta.changeId !== undefined) {
        const prior = await client.query<{ id: string; version: string | null; decided_at: Date }>(
          'SELECT id, version, decided_at FROM rollback_events WHERE change_id = $1', [meta.changeId]);
        if (prior.rows[0]) {
          const p = prior.rows[0];
          return { changeId: meta.changeId, version: Number(p.version ?? 0), changed: [], decidedAt: p.decided_at, eventId: Number(p.id), latch: latchBefore };
        }
      }
      const current = await lockFlags(client);
      const diff: FlagChange[] = [];
      for (const [operation, cur] of current) {
        if (cur.percent !== 0 || cur.shadow) diff.push({ operation, old: { percent: cur.percent, shadow: cur.shadow }, new: { percent: 0, shadow: false } });
      }
      const result = await applyChanges(client, diff, meta, decidedAt);
      let eventId: number | null = null;
      if (result.changeId !== null) {
        const ev = await client.query<{ id: string }>(
          `INSERT INTO rollback_events (change_id, source, reason, actor, version, decided_at)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
          [result.changeId, source, meta.reason, meta.actor, result.version, decidedAt]);
        eventId = Number(ev.rows[0]!.id);
      }
      const latch = meta.latch === true
        ? await setLatch(client, { actor: meta.actor, reason: meta.reason, rollbackEventId: eventId, at: decidedAt })
        : latchBefore;
      return { ...result, eventId, latch };
    });
  }

  /** The kill latch now. */
  latch(): Promise<LatchState> {
    return readLatch(this.db);
  }

  /** A mark of the latch history now: pass it as `notKilledAfter` to refuse writes after any later kill. */
  latchMark(): Promise<number> {
    return latchMark(this.db);
  }

  /** Latch and unlatch events, newest first (who, when, why). */
  latchEvents(opts: { limit?: number } = {}): Promise<LatchEvent[]> {
    return latchEvents(this.db, opts.limit);
  }

  /**
   * Clears the kill latch (admin work: the caller checks the role); the reason is required and
   * audited. Flags stay where the kill left them: raising them again is a separate change.
   * Returns the latch after the call and whether this call cleared it.
   */
  async unlatch(meta: Pick<ChangeMeta, 'actor' | 'reason'>): Promise<LatchState & { cleared: boolean }> {
    checkMeta(meta);
    return this.tx(async (client) => {
      await readLatch(client, 'update');
      const cleared = await clearLatch(client, { actor: meta.actor, reason: meta.reason });
      return { ...(await readLatch(client)), cleared };
    });
  }

  /** Audit trail, newest first: who, when, old → new, why, batch id. */
  async audit(opts: { operation?: string; changeId?: string; limit?: number } = {}): Promise<AuditEntry[]> {
    const limit = Math.min(Math.max(Math.trunc(opts.limit ?? 100), 1), 10_000);
    const { rows } = await this.db.query<{ id: string; change_id: string; operation: string; actor: string; reason: string; old: FlagTarget | null; new: FlagTarget | null; version: string; at: Date }>(
      `SELECT id, change_id, operation, actor, reason, old, new, version, at FROM flag_audit
        WHERE ($1::text IS NULL OR operation = $1) AND ($2::text IS NULL OR change_id = $2)
        ORDER BY id DESC LIMIT $3`,
      [opts.operation ?? null, opts.changeId ?? null, limit]);
    return rows.map((r) => ({ id: Number(r.id), changeId: r.change_id, operation: r.operation, actor: r.actor, reason: r.reason, old: r.old, new: r.new, version: Number(r.version), at: r.at }));
  }

  /**
   * Waits until every process that caches flags (open, seen within `liveWithinMs` before the
   * decision) has acknowledged the kill's version, then records on the rollback event each
   * process's ack time, the processes that did not ack within `timeoutMs`, and the duration from
   * decision to the last ack. Both ends are read from the database clock, so process clock skew
   * does not enter the measurement; an ack is written after the process applied the change, so
   * the figure is an upper bound. Processes that close during the wait are not waited for.
   */
  async awaitSwitch(eventId: number, opts: { timeoutMs?: number; liveWithinMs?: number; pollMs?: number } = {}): Promise<SwitchResult> {
    const timeoutMs = opts.timeoutMs ?? 5_000;
    const liveWithinMs = opts.liveWithinMs ?? 15_000;
    const pollMs = opts.pollMs ?? 10;
    const ev = await this.db.query<{ version: string | null }>('SELECT version FROM rollback_events WHERE id = $1', [eventId]);
    if (!ev.rows[0]) throw new DomainError(ErrorType.NotFound, `rollback event ${eventId} not found`);
    const version = Number(ev.rows[0].version ?? 0);
    const deadline = Date.now() + timeoutMs;
    let expected: string[] = [];
    let acks = new Map<string, Date>();
    let afterMs: number | null = null;
    for (;;) {
      // the decision time is read from the row, not passed back in: JS dates drop the microseconds
      const { rows } = await this.db.query<{ process_id: string; acked_at: Date | null; after_ms: number | null }>(
        `SELECT h.process_id, ack.acked_at, extract(epoch FROM ack.acked_at - r.decided_at)::double precision * 1000 AS after_ms
           FROM rollback_events r
           JOIN process_heartbeats h
             ON h.started_at <= r.decided_at
            AND h.last_seen_at >= r.decided_at - make_interval(secs => $3::double precision / 1000)
           LEFT JOIN LATERAL (SELECT min(a.acked_at) AS acked_at FROM flag_acks a WHERE a.process_id = h.process_id AND a.version >= $2) ack ON true
          WHERE r.id = $1 AND (h.closed_at IS NULL OR ack.acked_at IS NOT NULL)
          ORDER BY h.process_id`,
        [eventId, version, liveWithinMs]);
      expected = rows.map((r) => r.process_id);
      acks = new Map(rows.filter((r) => r.acked_at !== null).map((r) => [r.process_id, r.acked_at!]));
      afterMs = rows.reduce<number | null>((m, r) => (r.after_ms === null ? m : Math.max(m ?? 0, r.after_ms)), null);
      if (acks.size === expected.length || Date.now() >= deadline) break;
      await sleep(pollMs);
    }
    const missing = expected.filter((p) => !acks.has(p));
    const last = [...acks.values()].reduce<Date | null>((m, d) => (m === null || d > m ? d : m), null);
    const durationMs = expected.length === 0 || missing.length > 0 || afterMs === null ? null : Math.max(0, afterMs);
    const switchedAt = Object.fromEntries([...acks].map(([p, d]) => [p, d.toISOString()]));
    await this.db.query(
      `UPDATE rollback_events SET applied_at = $2, switched_at = $3, expected_processes = $4, missing_processes = $5, duration_ms = $6 WHERE id = $1`,
      [eventId, missing.length === 0 ? last : null, JSON.stringify(switchedAt), expected, missing, durationMs]);
    return { eventId, switched: missing.length === 0, durationMs, processes: Object.fromEntries(acks), missing };
  }

  async rollbackEvents(opts: { limit?: number } = {}): Promise<RollbackEvent[]> {
    const { rows } = await this.db.query<{ id: string; change_id: string | null; source: RollbackSource; reason: string; actor: string; version: string | null; decided_at: Date; applied_at: Date | null; switched_at: Record<string, string>; missing_processes: string[] | null; duration_ms: number | null }>(
      'SELECT * FROM rollback_events ORDER BY id DESC LIMIT $1', [Math.min(Math.max(opts.limit ?? 50, 1), 1000)]);
    return rows.map((r) => ({
      id: Number(r.id), changeId: r.change_id, source: r.source, reason: r.reason, actor: r.actor, version: r.version === null ? null : Number(r.version),
      decidedAt: r.decided_at, appliedAt: r.applied_at, switchedAt: r.switched_at, missingProcesses: r.missing_processes, durationMs: r.duration_ms,
    }));
  }

  /** How many rollback events each source has recorded (every source present, 0 when none). */
  async rollbackEventCounts(): Promise<Record<RollbackSource, number>> {
    const { rows } = await this.db.query<{ source: RollbackSource; n: number }>('SELECT source, count(*)::int AS n FROM rollback_events GROUP BY source');
    const counts: Record<RollbackSource, number> = { kill: 0, rollback: 0, auto: 0, drill: 0 };
    for (const r of rows) counts[r.source] = r.n;
    return counts;
  }

  /** Deletes acknowledgements older than `before` (rollback events keep their own copy). */
  async pruneAcks(before: Date): Promise<number> {
    const r = await this.db.query('DELETE FROM flag_acks WHERE acked_at < $1', [before]);
    return r.rowCount ?? 0;
  }

  private tx<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.db, fn);
  }
}

/**
 * Throws FlagsLatched while the kill latch is set (or when a kill came after `notKilledAfter`).
 * Takes the latch row FOR SHARE, so a kill committing meanwhile waits for this change and then
 * zeroes it, instead of this change landing after the kill.
 */
async function refuseIfLatched(client: pg.PoolClient, opts: SetOptions): Promise<void> {
  const latch = await readLatch(client, 'share');
  if (latch.latched) {
    throw new DomainError(ErrorType.FlagsLatched,
      `flags are latched by the kill switch since ${latch.since?.toISOString() ?? '?'} (by ${latch.actor ?? '?'}: ${latch.reason ?? '?'}); an admin must unlatch first (POST /v1/flags/unlatch)`,
      { details: { latch: latchDetails(latch) } });
  }
  if (opts.notKilledAfter !== undefined) {
    const ev = await latchedAfter(client, opts.notKilledAfter);
    if (ev !== null) {
      throw new DomainError(ErrorType.FlagsLatched,
        `the kill switch was pulled at ${ev.at.toISOString()} (by ${ev.actor}: ${ev.reason}); not writing over it`,
        { details: { latch: { latched: false, reason: ev.reason, actor: ev.actor, since: ev.at.toISOString() } } });
    }
  }
}

function latchDetails(l: LatchState): Record<string, unknown> {
  return { latched: l.latched, reason: l.reason, actor: l.actor, since: l.since?.toISOString() ?? null };
}

async function clockNow(client: pg.PoolClient): Promise<Date> {
  const { rows } = await client.query<{ now: Date }>('SELECT clock_timestamp() AS now');
  return rows[0]!.now;
}

/** Locks the flags (all when `ops` is omitted) in a fixed order so concurrent changes cannot deadlock. */
async function lockFlags(client: pg.PoolClient, ops?: string[]): Promise<Map<string, FlagTarget & { version: number }>> {
  const { rows } = await client.query<{ operation: string; percent: number; shadow: boolean; version: string }>(
    `SELECT operation, percent, shadow, version FROM flags WHERE ($1::text[] IS NULL OR operation = ANY($1)) ORDER BY operation FOR UPDATE`,
    [ops ?? null]);
  return new Map(rows.map((r) => [r.operation, { percent: r.percent, shadow: r.shadow, version: Number(r.version) }]));
}

async function applyChanges(client: pg.PoolClient, diff: FlagChange[], meta: ChangeMeta, decidedAt: Date): Promise<ChangeResult> {
  if (diff.length === 0) {
    const { rows } = await client.query<{ v: string }>('SELECT coalesce(max(version), 0) AS v FROM flags');
    return { changeId: null, version: Number(rows[0]!.v), changed: [], decidedAt };
  }
  const changeId = meta.changeId ?? randomUUID();
  const { rows } = await client.query<{ v: string }>(
    `SELECT nextval('flag_version_seq') AS v, set_config('sgc.change_id', $1, true), set_config('sgc.actor', $2, true), set_config('sgc.reason', $3, true)`,
    [changeId, meta.actor, meta.reason]);
  const version = Number(rows[0]!.v);
  // one statement for the whole batch: the triggers send one notification carrying every change
  await client.query(
    `UPDATE flags f SET percent = c.percent, shadow = c.shadow, version = $4, updated_at = now(), updated_by = $5
       FROM unnest($1::text[], $2::int[], $3::bool[]) AS c(operation, percent, shadow)
      WHERE f.operation = c.operation`,
    [diff.map((d) => d.operation), diff.map((d) => d.new.percent), diff.map((d) => d.new.shadow), version, meta.actor]);
  return { changeId, version, changed: diff, decidedAt };
}
