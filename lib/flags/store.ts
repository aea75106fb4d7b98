import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Db } from '../db/index.js';
import { DomainError, ErrorType } from '../errors.js';
import { createFlagAuditRepository } from '../store/flag-audit.js';
import { createFlagLatchRepository, type LatchEvent, type LatchState } from '../store/flag-latch.js';
import { createFlagRepository } from '../store/flags.js';
import { createProcessHeartbeatRepository, type SwitchDecision } from '../store/process-heartbeats.js';
import { inTransaction, type Queryable } from '../store/queryable.js';
import { createRollbackEventRepository } from '../store/rollback-events.js';
import { databaseClock } from '../store/session.js';

export type { LatchEvent, LatchState } from '../store/flag-latch.js';

/** Operations seeded by sql/000002_flags.sql; the flags table is the registry of known operations. */
export const FLAG_OPERATIONS = [
  'git.clone',
  'git.pull',
  'git.push',
  'git.status',
  'git.diff',
  'git.read',
  'git.write',
  'git.release',
] as const;
export type FlagOperation = (typeof FLAG_OPERATIONS)[number];

export const FLAGS_CHANNEL = 'sgc_flags';

export interface FlagTarget {
  percent: number;
  shadow: boolean;
  /**
   * The shadow share: the agents (0..100 %, sticky buckets) whose calls get the shadow run while
   * shadow is on (seed 002's shadow week: 10). `shadow` is always `shadowPercent > 0`. Left out
   * in a change: turning shadow on takes 100, off takes 0, otherwise the share stays.
   */
  shadowPercent?: number;
}

/** A flag's whole value, as stored. */
export type FlagValues = Required<FlagTarget>;

export interface Flag extends FlagValues {
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
  old: FlagValues;
  new: FlagValues;
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
  old: FlagValues | null;
  new: FlagValues | null;
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

/** How far an audited flag change (any, not only a kill) has reached the flag-caching processes. */
export interface ChangeSwitch {
  version: number;
  /** every expected process acknowledged the change's version within the wait */
  switched: boolean;
  /** change → last expected process acknowledged, ms (database clock); null if not measurable */
  durationMs: number | null;
  processes: number;
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
  if (typeof meta.reason !== 'string' || meta.reason.trim() === '')
    throw validation('reason', 'is required (the audit records why)');
  if (meta.changeId !== undefined && (meta.changeId.trim() === '' || meta.changeId.length > 200))
    throw validation('changeId', 'must be 1..200 characters');
}

function checkTarget(operation: unknown, t: Partial<FlagTarget>, index?: number): void {
  const at = index === undefined ? {} : { index };
  if (typeof operation !== 'string' || !OPERATION_FORMAT.test(operation))
    throw validation('operation', `unknown operation ${JSON.stringify(operation)}`, at);
  if (t.percent !== undefined && (!Number.isInteger(t.percent) || t.percent < 0 || t.percent > 100)) {
    throw validation('percent', `must be an integer from 0 to 100, got ${JSON.stringify(t.percent)}`, {
      operation,
      ...at,
    });
  }
  if (t.shadow !== undefined && typeof t.shadow !== 'boolean')
    throw validation('shadow', `must be a boolean, got ${JSON.stringify(t.shadow)}`, { operation, ...at });
  const share = t.shadowPercent;
  if (share !== undefined && (!Number.isInteger(share) || share < 0 || share > 100)) {
    throw validation('shadowPercent', `must be an integer from 0 to 100, got ${JSON.stringify(share)}`, {
      operation,
      ...at,
    });
  }
  if (share !== undefined && t.shadow !== undefined && t.shadow !== share > 0) {
    throw validation(
      'shadowPercent',
      `${share} contradicts shadow ${t.shadow ? 'on' : 'off'} (shadow is on exactly when shadowPercent > 0)`,
      { operation, ...at },
    );
  }
}

/** The value a change leads to from `cur`: fields left out keep theirs; shadow and its share stay in step. */
export function nextFlagValues(cur: FlagValues, t: Partial<FlagTarget>): FlagValues {
  const shadowPercent =
    t.shadowPercent ?? (t.shadow === undefined || t.shadow === cur.shadow ? cur.shadowPercent : t.shadow ? 100 : 0);
  return { percent: t.percent ?? cur.percent, shadow: shadowPercent > 0, shadowPercent };
}

const sameValues = (a: FlagValues, b: FlagValues): boolean =>
  a.percent === b.percent && a.shadow === b.shadow && a.shadowPercent === b.shadowPercent;

const valuesOf = (f: FlagValues): FlagValues => ({
  percent: f.percent,
  shadow: f.shadow,
  shadowPercent: f.shadowPercent,
});

/** The repositories a flag change works with, over one connection (a transaction's client or the pool). */
function repos(q: Queryable) {
  return {
    flags: createFlagRepository(q),
    audit: createFlagAuditRepository(q),
    latch: createFlagLatchRepository(q),
    events: createRollbackEventRepository(q),
    processes: createProcessHeartbeatRepository(q),
  };
}
type Repos = ReturnType<typeof repos>;

interface SwitchWait {
  expected: string[];
  acks: Map<string, Date>;
  /** decision → the latest ack, ms; null when none */
  afterMs: number | null;
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
  private readonly r: Repos;

  constructor(private readonly db: Db) {
    this.r = repos(db);
  }

  list(): Promise<Flag[]> {
    return this.r.flags.list();
  }

  get(operation: string): Promise<Flag | null> {
    return this.r.flags.get(operation);
  }

  /** Sets one flag; fields left out keep their value. Throws Validation naming the field, FlagsLatched while latched. */
  set(operation: string, target: Partial<FlagTarget>, meta: ChangeMeta, opts: SetOptions = {}): Promise<ChangeResult> {
    return this.setMany([{ operation, ...target }], meta, opts);
  }

  /**
   * Sets several flags in one transaction, audited as one change (one change id, one version).
   * Refused with FlagsLatched (409, the latch's reason) while the kill latch is set.
   */
  async setMany(
    changes: ({ operation: string } & Partial<FlagTarget>)[],
    meta: ChangeMeta,
    opts: SetOptions = {},
  ): Promise<ChangeResult> {
    checkMeta(meta);
    if (!Array.isArray(changes) || changes.length === 0)
      throw validation('changes', 'at least one flag change is required');
    changes.forEach((c, i) => checkTarget(c.operation, c, changes.length > 1 ? i : undefined));
    const seen = new Set<string>();
    for (const c of changes) {
      if (seen.has(c.operation)) throw validation('operation', `${c.operation} appears twice in one change`);
      seen.add(c.operation);
    }
    return this.tx(async (client) => {
      const r = repos(client);
      const decidedAt = await databaseClock(client);
      await refuseIfLatched(r, opts);
      const ops = changes.map((c) => c.operation);
      const current = await lockFlags(r, ops);
      const unknown = ops.filter((op) => !current.has(op));
      if (unknown.length > 0)
        throw validation('operation', `unknown operation ${unknown.join(', ')}`, { known: [...FLAG_OPERATIONS] });
      const diff: FlagChange[] = [];
      for (const c of changes) {
        const cur = current.get(c.operation)!;
        const next = nextFlagValues(cur, c);
        if (!sameValues(next, cur)) diff.push({ operation: c.operation, old: valuesOf(cur), new: next });
      }
      return applyChanges(r, diff, meta, decidedAt);
    });
  }

  /**
   * The kill switch: every percent → 0 and shadow off (its share 0), in one transaction and one change. Records
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
    if (!['kill', 'rollback', 'auto', 'drill'].includes(source))
      throw validation('source', `must be kill, rollback, auto or drill, got ${JSON.stringify(source)}`);
    return this.tx(async (client) => {
      const r = repos(client);
      const decidedAt = await databaseClock(client);
      // the latch row before the flags (the lock order every writer keeps)
      const latchBefore = await r.latch.read(meta.latch === true ? 'update' : 'share');
      if (meta.changeId !== undefined) {
        const p = await r.events.findByChangeId(meta.changeId);
        if (p) {
          return {
            changeId: meta.changeId,
            version: p.version ?? 0,
            changed: [],
            decidedAt: p.decidedAt,
            eventId: p.id,
            latch: latchBefore,
          };
        }
      }
      const current = await lockFlags(r);
      const diff: FlagChange[] = [];
      for (const [operation, cur] of current) {
        if (cur.percent !== 0 || cur.shadow || cur.shadowPercent !== 0)
          diff.push({
            operation,
            old: valuesOf(cur),
            new: { percent: 0, shadow: false, shadowPercent: 0 },
          });
      }
      const result = await applyChanges(r, diff, meta, decidedAt);
      let eventId: number | null = null;
      if (result.changeId !== null) {
        eventId = await r.events.insert({
          changeId: result.changeId,
          source,
          reason: meta.reason,
          actor: meta.actor,
          version: result.version,
          decidedAt,
        });
      }
      const latch =
        meta.latch === true
          ? await r.latch.set({ actor: meta.actor, reason: meta.reason, rollbackEventId: eventId, at: decidedAt })
          : latchBefore;
      return { ...result, eventId, latch };
    });
  }

  /** The kill latch now. */
  latch(): Promise<LatchState> {
    return this.r.latch.read();
  }

  /** A mark of the latch history now: pass it as `notKilledAfter` to refuse writes after any later kill. */
  latchMark(): Promise<number> {
    return this.r.latch.mark();
  }

  /** Latch and unlatch events, newest first (who, when, why). */
  latchEvents(opts: { limit?: number } = {}): Promise<LatchEvent[]> {
    return this.r.latch.events(opts.limit);
  }

  /**
   * Clears the kill latch (admin work: the caller checks the role); the reason is required and
   * audited. Flags stay where the kill left them: raising them again is a separate change.
   * Returns the latch after the call and whether this call cleared it.
   */
  async unlatch(meta: Pick<ChangeMeta, 'actor' | 'reason'>): Promise<LatchState & { cleared: boolean }> {
    checkMeta(meta);
    return this.tx(async (client) => {
      const { latch } = repos(client);
      await latch.read('update');
      const cleared = await latch.clear({ actor: meta.actor, reason: meta.reason });
      return { ...(await latch.read()), cleared };
    });
  }

  /** Audit trail, newest first: who, when, old → new, why, batch id. */
  async audit(opts: { operation?: string; changeId?: string; limit?: number } = {}): Promise<AuditEntry[]> {
    const limit = Math.min(Math.max(Math.trunc(opts.limit ?? 100), 1), 10_000);
    return this.r.audit.list({ operation: opts.operation, changeId: opts.changeId, limit });
  }

  /**
   * Waits until every process that caches flags (open, seen within `liveWithinMs` before the
   * decision) has acknowledged the kill's version, then records on the rollback event each
   * process's ack time, the processes that did not ack within `timeoutMs`, and the duration from
   * decision to the last ack. Both ends are read from the database clock, so process clock skew
   * does not enter the measurement; an ack is written after the process applied the change, so
   * the figure is an upper bound. Processes that close during the wait are not waited for.
   */
  async awaitSwitch(
    eventId: number,
    opts: { timeoutMs?: number; liveWithinMs?: number; pollMs?: number } = {},
  ): Promise<SwitchResult> {
    const v = await this.r.events.version(eventId);
    if (v === undefined) throw new DomainError(ErrorType.NotFound, `rollback event ${eventId} not found`);
    const { expected, acks, afterMs } = await this.waitForAcks({ rollbackEventId: eventId }, v ?? 0, opts);
    const missing = expected.filter((p) => !acks.has(p));
    const last = [...acks.values()].reduce<Date | null>((m, d) => (m === null || d > m ? d : m), null);
    const durationMs = expected.length === 0 || missing.length > 0 || afterMs === null ? null : Math.max(0, afterMs);
    const switchedAt = Object.fromEntries([...acks].map(([p, d]) => [p, d.toISOString()]));
    await this.r.events.recordSwitch(eventId, {
      appliedAt: missing.length === 0 ? last : null,
      switchedAt,
      expected,
      missing,
      durationMs,
    });
    return { eventId, switched: missing.length === 0, durationMs, processes: Object.fromEntries(acks), missing };
  }

  /**
   * The same wait for any audited flag change (not only a kill, which {@link awaitSwitch} measures
   * and records): from the change's audit time (its transaction start, database clock) to the last
   * ack of its version by a process that was live then. Read-only. Null when no change has this id.
   */
  async awaitChangeSwitched(
    changeId: string,
    opts: { timeoutMs?: number; liveWithinMs?: number; pollMs?: number } = {},
  ): Promise<ChangeSwitch | null> {
    const version = await this.r.audit.changeVersion(changeId);
    if (version === null) return null;
    const { expected, acks, afterMs } = await this.waitForAcks({ changeId }, version, opts);
    const missing = expected.filter((p) => !acks.has(p));
    const durationMs = expected.length === 0 || missing.length > 0 ? null : Math.max(0, afterMs ?? 0);
    return { version, switched: missing.length === 0, durationMs, processes: expected.length, missing };
  }

  /**
   * Polls until every process expected for `decision` (open, seen within `liveWithinMs` before it)
   * acknowledged `version`, or `timeoutMs` passed. Both ends come from the database clock, so
   * process clock skew does not enter the measurement; an ack is written after the process applied
   * the change, so the figure is an upper bound. Processes that close during the wait are not
   * waited for.
   */
  private async waitForAcks(
    decision: SwitchDecision,
    version: number,
    opts: { timeoutMs?: number; liveWithinMs?: number; pollMs?: number },
  ): Promise<SwitchWait> {
    const timeoutMs = opts.timeoutMs ?? 5_000;
    const liveWithinMs = opts.liveWithinMs ?? 15_000;
    const pollMs = opts.pollMs ?? 10;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rows = await this.r.processes.acksSince(decision, version, liveWithinMs);
      const expected = rows.map((r) => r.processId);
      const acks = new Map(rows.filter((r) => r.ackedAt !== null).map((r) => [r.processId, r.ackedAt!]));
      const afterMs = rows.reduce<number | null>(
        (m, r) => (r.afterMs === null ? m : Math.max(m ?? 0, r.afterMs)),
        null,
      );
      if (acks.size === expected.length || Date.now() >= deadline) return { expected, acks, afterMs };
      await sleep(pollMs);
    }
  }

  rollbackEvents(opts: { limit?: number } = {}): Promise<RollbackEvent[]> {
    return this.r.events.list(Math.min(Math.max(opts.limit ?? 50, 1), 1000));
  }

  /** How many rollback events each source has recorded (every source present, 0 when none). */
  async rollbackEventCounts(): Promise<Record<RollbackSource, number>> {
    const counts: Record<RollbackSource, number> = { kill: 0, rollback: 0, auto: 0, drill: 0 };
    for (const r of await this.r.events.countBySource()) counts[r.source] = r.n;
    return counts;
  }

  /** Deletes acknowledgements older than `before` (rollback events keep their own copy). */
  pruneAcks(before: Date): Promise<number> {
    return this.r.processes.pruneAcks(before);
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
async function refuseIfLatched(r: Repos, opts: SetOptions): Promise<void> {
  const latch = await r.latch.read('share');
  if (latch.latched) {
    throw new DomainError(
      ErrorType.FlagsLatched,
      `flags are latched by the kill switch since ${latch.since?.toISOString() ?? '?'} (by ${latch.actor ?? '?'}: ${latch.reason ?? '?'}); an admin must unlatch first (POST /v1/flags/unlatch)`,
      { details: { latch: latchDetails(latch) } },
    );
  }
  if (opts.notKilledAfter !== undefined) {
    const ev = await r.latch.latchedAfter(opts.notKilledAfter);
    if (ev !== null) {
      throw new DomainError(
        ErrorType.FlagsLatched,
        `the kill switch was pulled at ${ev.at.toISOString()} (by ${ev.actor}: ${ev.reason}); not writing over it`,
        { details: { latch: { latched: false, reason: ev.reason, actor: ev.actor, since: ev.at.toISOString() } } },
      );
    }
  }
}

function latchDetails(l: LatchState): Record<string, unknown> {
  return { latched: l.latched, reason: l.reason, actor: l.actor, since: l.since?.toISOString() ?? null };
}

/** Locks the flags (all when `ops` is omitted) in a fixed order so concurrent changes cannot deadlock. */
async function lockFlags(r: Repos, ops?: string[]): Promise<Map<string, FlagValues & { version: number }>> {
  const rows = await r.flags.lock(ops);
  return new Map(rows.map((f) => [f.operation, { ...valuesOf(f), version: f.version }]));
}

async function applyChanges(r: Repos, diff: FlagChange[], meta: ChangeMeta, decidedAt: Date): Promise<ChangeResult> {
  if (diff.length === 0) {
    return { changeId: null, version: await r.flags.currentVersion(), changed: [], decidedAt };
  }
  const changeId = meta.changeId ?? randomUUID();
  const version = await r.flags.beginChange(changeId, meta.actor, meta.reason);
  // one statement for the whole batch: the triggers send one notification carrying every change
  await r.flags.apply(
    diff.map((d) => ({ operation: d.operation, ...d.new })),
    version,
    meta.actor,
  );
  return { changeId, version, changed: diff, decidedAt };
}
