/**
 * What must hold after a fault (issue 12), read from the records — the remote's history and the
 * Postgres tables — never from logs:
 *   - every acknowledged push is on the remote exactly once (its `Sgc-Operation` trailer), and
 *     its change is on its branch as written (a later commit may not have deleted or altered it);
 *   - no push the client was told failed is on the remote;
 *   - no sandbox is held by two live workspaces;
 *   - no lock is still held once nothing runs (push locks, per-workspace operation leases);
 *   - no workspace is stuck in a transitional status (`initializing`);
 *   - every 5xx the API answered was a 503 with Retry-After (a killed process answers nothing).
 */
import { execFileSync } from 'node:child_process';
import type pg from 'pg';
import type { PushRecord, ResponseRecord } from './workload.js';

export const OPERATION_TRAILER = 'Sgc-Operation';

/**
 * The pushes whose file is not on their branch's tip with the content they wrote (one
 * `git cat-file --batch` for all of them): every agent writes files of its own, so nothing but a
 * push that swept up another's half-written checkout (issue 12's disk-full fault) changes one.
 */
export function changesMissing(bare: string, pushes: PushRecord[]): string[] {
  if (pushes.length === 0) return [];
  const out = execFileSync('git', ['--git-dir', bare, 'cat-file', '--batch'], {
    input: pushes.map((p) => `refs/heads/${p.branch}:${p.file}\n`).join(''),
    maxBuffer: 256 * 1024 * 1024,
  });
  const missing: string[] = [];
  let at = 0;
  for (const p of pushes) {
    const nl = out.indexOf(10, at);
    const header = out.subarray(at, nl).toString('utf8');
    at = nl + 1;
    const size = /^\S+ blob (\d+)$/.exec(header);
    if (!size) {
      missing.push(`${p.operationId} (${p.file} is not on ${p.branch})`);
      continue;
    }
    const content = out.subarray(at, at + Number(size[1])).toString('utf8');
    at += Number(size[1]) + 1;
    if (content !== p.content) missing.push(`${p.operationId} (${p.file} on ${p.branch} is not what it wrote)`);
  }
  return missing;
}

/** operation id → how many commits of the remote (any branch) carry it */
export function landedOperations(bare: string): Map<string, number> {
  const out = execFileSync(
    'git',
    ['--git-dir', bare, 'log', '--all', `--format=%(trailers:key=${OPERATION_TRAILER},valueonly,separator=%x1f)%x1e`],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
  );
  const counts = new Map<string, number>();
  for (const rec of out.split('\x1e')) {
    for (const v of rec.split('\x1f')) {
      const id = v.trim();
      if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return counts;
}

export interface Verdict {
  acknowledged: number;
  failed: number;
  unknown: number;
  /** acknowledged but not on the remote, or its change not on its branch as written */
  lost: string[];
  /** on the remote more than once */
  duplicated: string[];
  /** told failed, yet on the remote */
  failedButLanded: string[];
  /** sandboxes held by more than one live workspace */
  doubleHeld: string[];
  /** push locks and workspace operation leases still held while nothing runs */
  leakedLocks: string[];
  /** workspaces in a transitional status while nothing runs */
  stuck: string[];
  /** 5xx answers without Retry-After, or other than 503 */
  bad5xx: ResponseRecord[];
}

export async function checkRecords(o: {
  bare: string;
  db: pg.Pool;
  pushes: PushRecord[];
  responses: ResponseRecord[];
}): Promise<Verdict> {
  const landed = landedOperations(o.bare);
  const acked = o.pushes.filter((p) => p.outcome === 'acked');
  const failed = o.pushes.filter((p) => p.outcome === 'failed');
  const { rows: held } = await o.db.query<{ sandbox_id: string; n: string }>(
    `SELECT sandbox_id, count(DISTINCT id) AS n FROM workspaces
      WHERE status <> 'terminated' AND approach = 'pooled'
      GROUP BY sandbox_id HAVING count(DISTINCT id) > 1`,
  );
  const { rows: locks } = await o.db.query<{ lock_key: string; holder: string }>(
    'SELECT lock_key, holder FROM push_locks WHERE expires_at > now()',
  );
  const { rows: leases } = await o.db.query<{ id: string; op_name: string }>(
    'SELECT id, op_name FROM workspaces WHERE op_token IS NOT NULL AND op_expires_at > clock_timestamp()',
  );
  const { rows: stuck } = await o.db.query<{ id: string; status: string }>(
    `SELECT id, status FROM workspaces WHERE status = 'initializing'`,
  );
  return {
    acknowledged: acked.length,
    failed: failed.length,
    unknown: o.pushes.filter((p) => p.outcome === 'unknown').length,
    lost: [
      ...acked.filter((p) => (landed.get(p.operationId) ?? 0) === 0).map((p) => p.operationId),
      ...changesMissing(
        o.bare,
        acked.filter((p) => (landed.get(p.operationId) ?? 0) > 0),
      ),
    ],
    duplicated: [...landed].filter(([, n]) => n > 1).map(([id]) => id),
    failedButLanded: failed
      .filter((p) => (landed.get(p.operationId) ?? 0) > 0)
      .map((p) => `${p.operationId} (${p.error})`),
    doubleHeld: held.map((r) => `${r.sandbox_id} × ${r.n}`),
    leakedLocks: [
      ...locks.map((l) => `push_lock ${l.lock_key} by ${l.holder}`),
      ...leases.map((l) => `lease ${l.id} ${l.op_name}`),
    ],
    stuck: stuck.map((r) => `${r.id} ${r.status}`),
    bad5xx: o.responses.filter((r) => r.status >= 500 && (r.status !== 503 || !r.retryAfter)),
  };
}

/** A one-line summary for logs and assertion messages. */
export function describeVerdict(v: Verdict): string {
  return JSON.stringify({
    acknowledged: v.acknowledged,
    failed: v.failed,
    unknown: v.unknown,
    lost: v.lost.slice(0, 5),
    duplicated: v.duplicated.slice(0, 5),
    failedButLanded: v.failedButLanded.slice(0, 5),
    doubleHeld: v.doubleHeld.slice(0, 5),
    leakedLocks: v.leakedLocks.slice(0, 5),
    stuck: v.stuck.slice(0, 5),
    bad5xx: v.bad5xx.slice(0, 5).map(describeResponse),
  });
}

/** One recorded answer, as the checks print a bad one: status, request, Retry-After, duration, what it said. */
export function describeResponse(r: ResponseRecord): string {
  const said = r.answer ? ` (${r.answer})` : r.error ? ` (${r.error})` : '';
  return `${r.status} ${r.method} ${r.path} retry-after=${r.retryAfter} after ${r.ms} ms${said}`;
}
