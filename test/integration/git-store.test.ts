/** The git service's repositories (sql/000001_git_service.sql) on the real Postgres. */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { freshDb, type TestDb } from '../helpers/db.js';
import { ErrorType, isDomainError } from '../../lib/errors.js';
import { createSandboxRepository } from '../../lib/store/sandboxes.js';
import { createWorkspaceRepository } from '../../lib/store/workspaces.js';
import { createOperationLogRepository } from '../../lib/store/operation-log.js';

const operationLogRepo = () => createOperationLogRepository(t.db);
const sandboxRepo = () => createSandboxRepository(t.db, { key });
const workspaceRepo = () => createWorkspaceRepository(t.db);

let t: TestDb;
const key = randomBytes(32);

beforeAll(async () => {
  t = await freshDb('gitstore');
});
afterAll(async () => {
  await t?.drop();
});

test('the schema has the seed 004 indexes on git_sandboxes', async () => {
  const { rows } = await t.db.query<{ indexdef: string }>(
    `SELECT indexdef FROM pg_indexes WHERE tablename = 'git_sandboxes'`,
  );
  for (const col of ['sandbox_id', 'agent_id', 'task_id', 'agent_branch']) {
    assert.ok(
      rows.some((r) => new RegExp(`\\(${col}\\)`).test(r.indexdef)),
      `index on ${col}`,
    );
  }
  await assert.rejects(t.db.query(`INSERT INTO git_sandboxes (sandbox_id, status) VALUES ('x', 'bogus')`), /check/i);
});

test('sandbox lifecycle: allowed transitions apply, repeats are no-ops, forbidden ones are refused', async () => {
  const a = await sandboxRepo().insert({ sandboxId: 'sb-1', provider: 'local', isPooled: true, expiresInMs: 60_000 });
  const again = await sandboxRepo().insert({ sandboxId: 'sb-1', provider: 'local', isPooled: true });
  assert.equal(again.id, a.id, 'inserting twice returns the first row');
  assert.equal(a.status, 'initializing');
  assert.ok(a.expiresAt && a.expiresAt.getTime() > Date.now());

  assert.equal((await sandboxRepo().transition('sb-1', 'ready')).changed, true);
  assert.equal((await sandboxRepo().transition('sb-1', 'ready')).changed, false, 'a repeat is a no-op');
  const inUse = await sandboxRepo().transition('sb-1', 'in_use', {
    agentId: 'ag',
    taskId: 'tk',
    agentBranch: 'agent/ag/tk',
    touch: true,
  });
  assert.equal(inUse.record.agentId, 'ag');
  assert.ok(inUse.record.lastUsedAt);
  // claiming only from a given state is how concurrent writers are kept apart
  const refused = await sandboxRepo()
    .transition('sb-1', 'error', { from: ['ready'] })
    .then(
      () => null,
      (e: unknown) => e,
    );
  assert.ok(isDomainError(refused, ErrorType.Validation));
  await sandboxRepo().transition('sb-1', 'error');
  const back = await sandboxRepo()
    .transition('sb-1', 'ready')
    .then(
      () => null,
      (e: unknown) => e,
    );
  assert.ok(isDomainError(back, ErrorType.Validation), 'error → ready is not allowed');
  await sleep(50);
  const term = await sandboxRepo().transition('sb-1', 'terminated');
  assert.ok(term.accruedSeconds >= 0.04, `accrued ${term.accruedSeconds}`);
  assert.ok(term.record.terminatedAt);
  const termAgain = await sandboxRepo().transition('sb-1', 'terminated');
  assert.equal(termAgain.accruedSeconds, 0, 'cost is handed out once');
  const revive = await sandboxRepo()
    .transition('sb-1', 'ready')
    .then(
      () => null,
      (e: unknown) => e,
    );
  assert.ok(isDomainError(revive, ErrorType.Validation), 'terminated is final');
  assert.ok(
    isDomainError(
      await sandboxRepo()
        .transition('missing', 'ready')
        .then(
          () => null,
          (e: unknown) => e,
        ),
      ErrorType.NotFound,
    ),
  );
});

test('errors are stored encrypted (credentials stripped first) and counted', async () => {
  await sandboxRepo().insert({ sandboxId: 'sb-err', provider: 'local', isPooled: false, agentId: 'a' });
  const msg = 'fatal: unable to access https://x-access-token:ghp_SECRET@example.com/r.git/: 403';
  assert.equal(await sandboxRepo().recordError('sb-err', msg, { operation: 'push' }), true);
  await sandboxRepo().recordError('sb-err', 'second failure');
  const { rows } = await t.db.query<{ last_error: Buffer }>(
    `SELECT last_error FROM git_sandboxes WHERE sandbox_id = 'sb-err'`,
  );
  assert.ok(!rows[0].last_error.toString('latin1').includes('failure'));
  assert.equal(await sandboxRepo().readLastError('sb-err'), 'second failure');
  const rec = await sandboxRepo().findById('sb-err');
  assert.equal(rec?.errorCount, 2);
  assert.equal(rec?.lastOperation, 'push');
  await sandboxRepo().recordError('sb-err', msg);
  const stored = await sandboxRepo().readLastError('sb-err');
  assert.ok(stored && !stored.includes('ghp_SECRET') && stored.includes('https://example.com/r.git'));
  assert.equal(await sandboxRepo().recordError('nobody', 'x'), false);
});

test('listing by status and expiry; cost accrual hands each second out once across callers', async () => {
  await sandboxRepo().insert({
    sandboxId: 'sb-old',
    provider: 'local',
    isPooled: true,
    status: 'ready',
    expiresInMs: -1_000,
  });
  await sandboxRepo().insert({
    sandboxId: 'sb-new',
    provider: 'local',
    isPooled: true,
    status: 'ready',
    expiresInMs: 60_000,
  });
  const expired = await sandboxRepo().listExpired({ pooled: true });
  assert.deepEqual(
    expired.map((r) => r.sandboxId),
    ['sb-old'],
  );
  const ready = await sandboxRepo().listByStatus(['ready'], { pooled: true, provider: 'local' });
  assert.deepEqual(
    ready.map((r) => r.sandboxId),
    ['sb-old', 'sb-new'],
  );
  // the expired one is never claimed
  const claimed = await sandboxRepo().claimIdle('local', { agentId: 'x', taskId: 'y' });
  assert.equal(claimed?.sandboxId, 'sb-new');
  assert.equal(await sandboxRepo().claimIdle('local', { agentId: 'x', taskId: 'y' }), null);

  await sleep(1_000);
  const t0 = Date.now();
  const [a, b] = await Promise.all([
    sandboxRepo().accrueCost({ pooled: true }),
    sandboxRepo().accrueCost({ pooled: true }),
  ]);
  const total = a.pooled + b.pooled;
  assert.ok(total >= 1.5, `two live pooled sandboxes for ≥1 s, got ${total}`);
  const next = await sandboxRepo().accrueCost({ pooled: true });
  // the next accrual covers only the time since the last one (two sandboxes × at most the wall
  // time since the pair started); counting a second twice would add the ≥ 1.5 s again. Bounded by
  // the measured time, not a fixed number, so a loaded machine cannot fail it.
  const bound = (2 * (Date.now() - t0)) / 1000 + 0.01;
  assert.ok(next.pooled <= bound, `the next accrual only covers the time since: ${next.pooled} > ${bound}`);
  assert.ok(next.pooled < total, `nothing counted twice: ${next.pooled} ≥ ${total}`);
});

test('pool reservations never exceed the limit, even when raced', async () => {
  await t.db.query(`UPDATE git_sandboxes SET status = 'terminated', terminated_at = now()`);
  const got = await Promise.all(
    Array.from({ length: 8 }, () =>
      sandboxRepo().reservePooledSlot({ provider: 'e2b', limit: 3, expiresInMs: 60_000 }),
    ),
  );
  assert.equal(got.filter(Boolean).length, 3);
});

test('workspaces: insert is idempotent by (approach, id), both approaches can hold the same id, release stamps once', async () => {
  const w = {
    id: 'ws-1',
    approach: 'simple' as const,
    agentId: 'a',
    taskId: 't',
    repoUrl: 'file:///r.git',
    baseBranch: 'main',
    agentBranch: 'agent/a/t',
    sandboxId: 'sb-a',
    dir: 'ws/ws-1',
  };
  const first = await workspaceRepo().insert(w);
  const second = await workspaceRepo().insert({ ...w, sandboxId: 'other' });
  assert.equal(first.created, true);
  assert.equal(second.created, false);
  assert.equal(second.workspace.sandboxId, 'sb-a');
  const dual = await workspaceRepo().insert({ ...w, approach: 'pooled', sandboxId: 'sb-p' });
  assert.equal(dual.created, true);
  assert.equal((await workspaceRepo().list({ agentId: 'a' })).length, 2);

  assert.equal((await workspaceRepo().setStatus('simple', 'ws-1', 'ready'))?.status, 'ready');
  await workspaceRepo().markUsed('simple', 'ws-1');
  assert.ok((await workspaceRepo().findById('simple', 'ws-1'))?.lastUsedAt);
  const r1 = await workspaceRepo().release('simple', 'ws-1');
  await sleep(20);
  const r2 = await workspaceRepo().release('simple', 'ws-1');
  assert.equal(r1?.status, 'terminated');
  assert.equal(r2?.releasedAt?.getTime(), r1?.releasedAt?.getTime(), 'released_at keeps the first release');
  assert.equal(await workspaceRepo().setStatus('simple', 'ws-1', 'ready'), null, 'a released workspace is not revived');
  assert.equal(await workspaceRepo().release('simple', 'missing'), null);
  assert.equal((await workspaceRepo().list({ active: true })).map((x) => x.approach).join(), 'pooled');
});

test('operation log: appends rows (touching the workspace) and finds the first failure of a retried operation', async () => {
  const base = {
    workspaceId: 'ws-1',
    agentId: 'a',
    operation: 'push',
    approach: 'pooled' as const,
    durationMs: 100,
    costDollars: 0.003,
    attempts: 1,
  };
  await operationLogRepo().append({
    ...base,
    outcome: 'error',
    errorCategory: 'network',
    startedAt: new Date(Date.now() - 5_000),
    details: { idempotencyKey: 'k1' },
  });
  await operationLogRepo().append({
    ...base,
    outcome: 'error',
    errorCategory: 'network',
    startedAt: new Date(Date.now() - 2_000),
    details: { idempotencyKey: 'k1' },
  });
  const first = await operationLogRepo().firstFailureSince('pooled', 'push', 'k1');
  assert.ok(first && Math.abs(first.getTime() - (Date.now() - 4_900)) < 1_000);
  await operationLogRepo().append(
    { ...base, outcome: 'success', errorCategory: 'none', startedAt: new Date(), details: { idempotencyKey: 'k1' } },
    { touchWorkspace: true },
  );
  assert.equal(
    await operationLogRepo().firstFailureSince('pooled', 'push', 'k1'),
    null,
    'after a success the run of failures is over',
  );
  assert.ok((await workspaceRepo().findById('pooled', 'ws-1'))?.lastUsedAt, 'touched');
  const rows = await operationLogRepo().list({ workspaceId: 'ws-1', operation: 'push' });
  assert.equal(rows.length, 3);
  assert.equal(rows[2].costDollars, 0.003);
  assert.deepEqual(rows[2].details, { idempotencyKey: 'k1' });
});
