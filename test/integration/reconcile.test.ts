import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { freshDb, type TestDb } from '../helpers/db.js';
import { FlagStore } from '../../lib/flags/store.js';
import { runReconciliation } from '../../lib/reconcile/reconcile.js';
import { servingWorkspaceLookup } from '../../lib/service/workspace-ref.js';
import { createWorkspaceRepository } from '../../lib/store/workspaces.js';
import { createMetrics } from '../../lib/metrics.js';

let t: TestDb;

beforeAll(async () => {
  t = await freshDb('reconcile');
});
afterAll(async () => {
  await t?.drop();
});

async function insert(
  id: string,
  approach: 'simple' | 'pooled',
  createdAt: Date,
  o: { status?: string; lastUsedAt?: Date; releasedAt?: Date } = {},
): Promise<void> {
  await t.db.query(
    `INSERT INTO workspaces (id, approach, agent_id, task_id, repo_url, base_branch, agent_branch, sandbox_id, dir, status, created_at, last_used_at, released_at)
     VALUES ($1, $2, 'agent-1', 'task-1', 'file:///repo.git', 'main', 'agent/agent-1/task-1', $3, $4, $5, $6, $7, $8)`,
    [
      id,
      approach,
      `${approach}-${id}`,
      `ws/${id}`,
      o.status ?? 'ready',
      createdAt,
      o.lastUsedAt ?? null,
      o.releasedAt ?? null,
    ],
  );
}

test('reconciles the dual-write window of git.clone: missing, status mismatch, lag; sets the gauge; same answer twice', async () => {
  const store = new FlagStore(t.db);
  const { rows } = await t.db.query<{ now: Date }>('SELECT now() AS now');
  const base = rows[0]!.now.getTime();
  const s = (sec: number) => new Date(base + sec * 1000);

  // created before dual-write: single-sided by design, must not count
  await insert('before', 'simple', s(-60));
  await store.set('git.clone', { shadow: true }, { actor: 'canary', reason: 'shadow stage' });
  const { rows: a } = await t.db.query<{ at: Date }>(
    `SELECT at FROM flag_audit WHERE operation = 'git.clone' ORDER BY id DESC LIMIT 1`,
  );
  const start = a[0]!.at.getTime();
  const w = (sec: number) => new Date(start + sec * 1000);

  await insert('ok', 'simple', w(10), { lastUsedAt: w(100) });
  await insert('ok', 'pooled', w(11), { lastUsedAt: w(101), status: 'in_use' });
  await insert('missing', 'simple', w(20));
  await insert('released', 'simple', w(30), { status: 'terminated', releasedAt: w(200) });
  await insert('released', 'pooled', w(31), { lastUsedAt: w(195) });
  await insert('lagging', 'simple', w(40), { lastUsedAt: w(1000) });
  await insert('lagging', 'pooled', w(41), { lastUsedAt: w(500) });
  await insert('young', 'pooled', w(3590)); // its copy may still be on the way
  await insert('grace', 'simple', w(1)); // created while processes were still hearing the flag

  const now = w(3600);
  const gauge = createMetrics({ defaultMetrics: false });
  const run = () =>
    runReconciliation(t.db, {
      now,
      lagThresholdMs: 60_000,
      setDivergence: (r) => gauge.reconciliationDivergence.set(r),
    });
  const r = await run();
  assert.equal(r.checked, 4);
  // missing and status_mismatch diverge; lagging is lag (reported apart, never divergence)
  assert.equal(r.divergent, 2);
  assert.equal(r.pending, 1);
  assert.equal(r.ratio, 0.5);
  assert.equal(r.lag.beyondThreshold, 1);
  assert.deepEqual(r.issues.map((i) => `${i.workspaceId}:${i.kind}`).sort(), [
    'lagging:lag',
    'missing:missing',
    'released:status_mismatch',
  ]);
  assert.equal((await gauge.reconciliationDivergence.get()).values[0]!.value, 0.5);
  assert.equal(r.windows.length, 1);
  assert.equal(r.windows[0]!.end, null);

  const again = await run();
  assert.deepEqual({ ...again, windows: null }, { ...r, windows: null });

  // after dual-write ends, new single-sided workspaces are not expected on both sides
  await store.set('git.clone', { shadow: false }, { actor: 'canary', reason: 'decommission' });
  const { rows: e } = await t.db.query<{ at: Date }>(
    `SELECT at FROM flag_audit WHERE operation = 'git.clone' ORDER BY id DESC LIMIT 1`,
  );
  await insert('after', 'pooled', new Date(e[0]!.at.getTime() + 10_000));
  const later = await runReconciliation(t.db, {
    now: new Date(e[0]!.at.getTime() + 3_600_000),
    lagThresholdMs: 60_000,
  });
  assert.ok(!later.issues.some((i) => i.workspaceId === 'after' || i.workspaceId === 'before'));
  assert.equal(later.windows[0]!.end!.getTime(), e[0]!.at.getTime());
});

test('with no dual-write window nothing is checked and the gauge reads 0', async () => {
  const fresh = await freshDb('reconcile0');
  try {
    await fresh.db
      .query(`INSERT INTO workspaces (id, approach, agent_id, task_id, repo_url, base_branch, agent_branch, sandbox_id, dir)
                          VALUES ('x', 'simple', 'a', 't', 'r', 'main', 'b', 's', 'd')`);
    let set: number | null = null;
    const r = await runReconciliation(fresh.db, {
      now: new Date(Date.now() + 3_600_000),
      lagThresholdMs: 60_000,
      setDivergence: (v) => (set = v),
    });
    assert.deepEqual([r.checked, r.divergent, r.ratio, set], [0, 0, 0, 0]);
  } finally {
    await fresh.drop();
  }
});

test('the serving workspace is the earliest live record; a terminated attempt does not serve', async () => {
  const find = servingWorkspaceLookup(createWorkspaceRepository(t.db));
  const agent = async (id: string) => {
    const w = await find(id);
    return w && { agentId: w.agentId, approach: w.approach };
  };
  const t0 = Date.now();
  await insert('dual', 'pooled', new Date(t0));
  await insert('dual', 'simple', new Date(t0 + 50));
  assert.deepEqual(await agent('dual'), { agentId: 'agent-1', approach: 'pooled' });
  await insert('fellback', 'pooled', new Date(t0), { status: 'terminated', releasedAt: new Date(t0 + 10) });
  await insert('fellback', 'simple', new Date(t0 + 20));
  assert.deepEqual(await agent('fellback'), { agentId: 'agent-1', approach: 'simple' });
  assert.equal(await agent('nope'), null);
});
