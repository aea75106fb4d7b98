import type { Queryable } from './queryable.js';
import { bindQuery, defineRepository } from './repository.js';

/** The kill latch (sql/000006_flag_latch.sql): while set, no flag may be raised. */
export interface LatchState {
  latched: boolean;
  reason: string | null;
  actor: string | null;
  since: Date | null;
  /** rollback_events.id of the kill that set it; null when every flag was already off */
  rollbackEventId: number | null;
}

export interface LatchEvent {
  id: number;
  action: 'latch' | 'unlatch';
  actor: string;
  reason: string;
  rollbackEventId: number | null;
  at: Date;
}

interface LatchRow {
  latched: boolean;
  reason: string | null;
  actor: string | null;
  since: Date | null;
  rollback_event_id: string | null;
}

const toState = (r: LatchRow): LatchState => ({
  latched: r.latched,
  reason: r.reason,
  actor: r.actor,
  since: r.since,
  rollbackEventId: r.rollback_event_id === null ? null : Number(r.rollback_event_id),
});

/**
 * The latch row. Inside a flag change's transaction pass `lock`: `share` for a change (many may
 * run side by side; a kill waits for them), `update` for a kill or an unlatch. Writers lock this
 * row before the flags, so a change and a kill cannot deadlock.
 */
async function readLatch(q: Queryable, lock?: 'share' | 'update'): Promise<LatchState> {
  const suffix = lock === 'share' ? ' FOR SHARE' : lock === 'update' ? ' FOR UPDATE' : '';
  const { rows } = await q.query<LatchRow>(
    `SELECT latched, reason, actor, since, rollback_event_id FROM flag_latch WHERE id${suffix}`,
  );
  return rows[0] ? toState(rows[0]) : { latched: false, reason: null, actor: null, since: null, rollbackEventId: null };
}

/**
 * Records a kill's latch event; sets the latch unless it is already set (the first kill's
 * reason and time stay: they say since when and why the flags are held at 0).
 */
async function setLatch(
  q: Queryable,
  e: { actor: string; reason: string; rollbackEventId: number | null; at: Date },
): Promise<LatchState> {
  await q.query(
    'INSERT INTO flag_latch_events (action, actor, reason, rollback_event_id, at) VALUES ($1, $2, $3, $4, $5)',
    ['latch', e.actor, e.reason, e.rollbackEventId, e.at],
  );
  const { rows } = await q.query<LatchRow>(
    `UPDATE flag_latch SET latched = true, reason = $1, actor = $2, since = $3, rollback_event_id = $4
      WHERE id AND NOT latched RETURNING latched, reason, actor, since, rollback_event_id`,
    [e.reason, e.actor, e.at, e.rollbackEventId],
  );
  return rows[0] ? toState(rows[0]) : readLatch(q);
}

/** Clears the latch and records who and why; false when it was not set (nothing recorded). */
async function clearLatch(q: Queryable, e: { actor: string; reason: string }): Promise<boolean> {
  const { rowCount } = await q.query('UPDATE flag_latch SET latched = false WHERE id AND latched', []);
  if ((rowCount ?? 0) === 0) return false;
  await q.query('INSERT INTO flag_latch_events (action, actor, reason) VALUES ($1, $2, $3)', [
    'unlatch',
    e.actor,
    e.reason,
  ]);
  return true;
}

/** The id of the newest latch or unlatch event (0 before the first): a mark for {@link latchedAfter}. */
async function latchMark(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ id: string }>('SELECT coalesce(max(id), 0) AS id FROM flag_latch_events');
  return Number(rows[0]!.id);
}

/** A flag_latch_events row as the two event queries select it. */
interface LatchEventRow {
  id: string;
  action: 'latch' | 'unlatch';
  actor: string;
  reason: string;
  rollback_event_id: string | null;
  at: Date;
}

/**
 * The latest kill that latched after the mark, if any: "was the kill switch pulled meanwhile?"
 * Event ids, not clocks, so no clock skew between processes can hide a kill.
 */
async function latchedAfter(q: Queryable, mark: number): Promise<LatchEvent | null> {
  const { rows } = await q.query<LatchEventRow>(
    `SELECT id, action, actor, reason, rollback_event_id, at FROM flag_latch_events WHERE action = 'latch' AND id > $1 ORDER BY id DESC LIMIT 1`,
    [mark],
  );
  return rows[0] ? toEvent(rows[0]) : null;
}

/** Latch and unlatch events, newest first. */
async function latchEvents(q: Queryable, limit = 50): Promise<LatchEvent[]> {
  const { rows } = await q.query<LatchEventRow>(
    'SELECT id, action, actor, reason, rollback_event_id, at FROM flag_latch_events ORDER BY id DESC LIMIT $1',
    [Math.min(Math.max(Math.trunc(limit), 1), 1_000)],
  );
  return rows.map(toEvent);
}

function toEvent(r: LatchEventRow): LatchEvent {
  return {
    id: Number(r.id),
    action: r.action,
    actor: r.actor,
    reason: r.reason,
    rollbackEventId: r.rollback_event_id === null ? null : Number(r.rollback_event_id),
    at: r.at,
  };
}

/**
 * The kill latch: the `flag_latch` row and its event log `flag_latch_events`, written together
 * (a latch without its event would lose who set it and why). Build it over a transaction's
 * client to read the row under a lock.
 */
export function createFlagLatchRepository(q: Queryable) {
  return defineRepository('flag_latch', {
    read: bindQuery(q, readLatch),
    set: bindQuery(q, setLatch),
    clear: bindQuery(q, clearLatch),
    mark: bindQuery(q, latchMark),
    latchedAfter: bindQuery(q, latchedAfter),
    events: bindQuery(q, latchEvents),
  });
}
export type FlagLatchRepository = ReturnType<typeof createFlagLatchRepository>;
