/**
 * Issue 9, item 3 (two agents in one sandbox). A pooled sandbox carries a lease generation,
 * claimed with it; release, wipe and health check act only for the lease they were given, so a
 * stale attempt (a second DELETE, a release activity retried while the first still runs, a
 * health verdict about a sandbox that changed hands meanwhile) does nothing and says so. A
 * retried create never destroys, or hands away, the sandbox of the attempt that superseded it.
 * Workspace status moves by compare-and-set, and one mutating operation runs per workspace at a
 * time while reads run beside it.
 *
 * Each race is forced, not hoped for: a gate holds one command (the wipe, the clone, the push)
 * while the competing step overtakes it. Local provider + Postgres directly, 200 runs each.
 */
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mapError } from '../../api/errors.js';
import { parseConfig, type Config } from '../../lib/config/index.js';
import { ErrorType, isDomainError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { SandboxPool } from '../../lib/pool/pool.js';
import { createLocalProvider, type LocalSandboxProvider } from '../../lib/sandbox/local.js';
import { createGitService } from '../../lib/service/index.js';
import { createSandboxRepository } from '../../lib/store/sandboxes.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { createBareRepo } from '../helpers/git.js';
import { gated, within, type GatedProvider } from '../helpers/gated-provider.js';

const RUNS = Number(process.env.SGC_OWNERSHIP_RUNS ?? 200);
const log = createLogger({ level: 'silent' });
const key = randomBytes(32);

let t: TestDb;
let root: string;
let local: LocalSandboxProvider;
let g: GatedProvider<LocalSandboxProvider>;
let repo: ReturnType<typeof createBareRepo>;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  t = await freshDb('secown');
  root = mkdtempSync(join(tmpdir(), 'sgc-secown-'));
  local = createLocalProvider({ root, defaultTimeoutMs: 3_600_000 });
  g = gated(local);
  repo = createBareRepo({ 'README.md': '# owned\n' });
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  local?.close();
  repo?.cleanup();
  if (root) rmSync(root, { recursive: true, force: true });
  await t?.drop();
});

function config(extra: Record<string, unknown> = {}): Config {
  return parseConfig({
    sandbox: { localRoot: root },
    pool: { min: 0, max: 50 },
    git: { remotes: [{ scheme: 'file', pathPrefix: repo.root }], backoffBaseMs: 10, backoffMaxMs: 50 },
    ...extra,
  });
}

/** `in_use` rows: sandbox → the agent the database says holds it. */
/** A git service over the file's database and gated provider, as each worker process builds its own. */
function service(cfg: Config, approach: 'simple' | 'pooled') {
  return createGitService({
    config: cfg,
    db: t.db,
    metrics: createMetrics({ defaultMetrics: false }),
    log,
    provider: g.provider,
    key,
    approach,
  });
}

async function holders(db: TestDb['db'], agentId?: string): Promise<Map<string, string>> {
  const { rows } = await db.query<{ sandbox_id: string; agent_id: string }>(
    `SELECT sandbox_id, agent_id FROM git_sandboxes WHERE status = 'in_use' AND ($1::text IS NULL OR agent_id = $1)`,
    [agentId ?? null],
  );
  return new Map(rows.map((r) => [r.sandbox_id, r.agent_id]));
}

/** Runs `runs` iterations of `body` spread over `lanes` concurrent lanes (the races are per lane). */
async function inLanes(lanes: number, runs: number, body: (lane: number, i: number) => Promise<void>): Promise<void> {
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = lane; i < runs; i += lanes) await body(lane, i);
    }),
  );
}

const LANES = Number(process.env.SGC_OWNERSHIP_LANES ?? 5);

describe('pool: two overlapping releases of one lease', () => {
  interface Lane {
    db: TestDb;
    pool: SandboxPool;
    other: SandboxPool;
  }
  const lanes: Lane[] = [];

  beforeAll(async () => {
    // one database per lane: each lane's pool (max 1) is a whole pool of its own
    for (let l = 0; l < LANES; l++) {
      const db = l === 0 ? t : await freshDb(`secown${l}`);
      const settings = { min: 0, max: 1, ttlSeconds: 3600, acquireTimeoutMs: 2_000, pricePerSecond: 0, tickMs: 60_000 };
      const pool = new SandboxPool({ provider: g.provider, db: db.db, key, log }, settings);
      // another process sharing the pool, that does not wait for a free sandbox
      const other = new SandboxPool(
        { provider: g.provider, db: db.db, key, log },
        { ...settings, acquireTimeoutMs: 1 },
      );
      lanes.push({ db, pool, other });
      cleanups.push(async () => {
        await other.stop({ terminateIdle: true });
        await pool.stop({ terminateIdle: true });
        if (db !== t) await db.drop();
      });
    }
  });

  test(`never hand the next agent's sandbox to a third agent, nor wipe its files (${RUNS} runs)`, async () => {
    let stale = 0;
    await inLanes(LANES, RUNS, async (lane, i) => {
      const { db, pool, other } = lanes[lane];
      const a = await pool.acquire({ agentId: `a-${i}`, taskId: 't' });
      await a.sandbox.writeFile(`ws/a-${i}/marker`, 'a');
      // the second release is the first one retried (same lease) while the first still runs
      const gate = g.arm((argv, sandboxId) => argv[0] === 'rm' && sandboxId === a.sandbox.id);
      const releases = [pool.release(a.sandbox.id, a.lease), pool.release(a.sandbox.id, a.lease)];
      await within(gate.reached, 10_000, 'a release reached its wipe');
      await within(Promise.race(releases), 10_000, 'the other release finished');
      // meanwhile the next agent asks for a sandbox
      let b = await other.acquire({ agentId: `b-${i}`, taskId: 't' }).catch((e: unknown) => {
        if (isDomainError(e, ErrorType.PoolExhausted)) return null;
        throw e;
      });
      if (b) await b.sandbox.writeFile(`ws/b-${i}/marker`, 'b');
      gate.open();
      const results = await within(Promise.all(releases), 10_000, 'both releases finished');
      stale += results.filter((r) => (r as { stale?: boolean }).stale === true).length;
      b ??= await pool.acquire({ agentId: `b-${i}`, taskId: 't' });
      if (!b) throw new Error('unreachable');
      await b.sandbox.writeFile(`ws/b-${i}/marker2`, 'b');

      // b's files survived both releases of a's lease, and b holds its sandbox alone
      assert.equal(await b.sandbox.readFile(`ws/b-${i}/marker2`), 'b', `run ${i}: b's files were wiped`);
      assert.equal(
        (await createSandboxRepository(db.db).findById(b.sandbox.id))?.agentId,
        `b-${i}`,
        `run ${i}: b's sandbox is recorded for someone else`,
      );
      const c = await other.acquire({ agentId: `c-${i}`, taskId: 't' }).catch((e: unknown) => {
        if (isDomainError(e, ErrorType.PoolExhausted)) return null;
        throw e;
      });
      assert.equal(c, null, `run ${i}: a third agent got b's sandbox`);
      assert.deepEqual([...(await holders(db.db)).values()], [`b-${i}`], `run ${i}: in_use rows`);
      await pool.release(b.sandbox.id, b.lease);
    });
    assert.equal(stale, RUNS, 'every overtaken release said it was stale');
  });

  test('a health verdict about a sandbox that changed hands meanwhile does nothing', async () => {
    const { db, pool, other } = lanes[0];
    const a = await pool.acquire({ agentId: 'hc-a', taskId: 't' });
    await pool.release(a.sandbox.id, a.lease);
    // the probe of the idle sandbox is held, and then fails
    const gate = g.arm((argv, sandboxId) => argv[0] === 'true' && sandboxId === a.sandbox.id, {
      exitCode: 1,
      stdout: '',
      stderr: 'held',
    });
    const check = pool.healthCheck();
    await within(gate.reached, 10_000, 'the health probe started');
    // meanwhile an agent takes the sandbox and gives it back (a new lease, idle again)
    const b = await other.acquire({ agentId: 'hc-b', taskId: 't' });
    assert.equal(b.sandbox.id, a.sandbox.id);
    await other.release(b.sandbox.id, b.lease);
    gate.open();
    const r = await check;
    assert.equal(r.unhealthy, 0, 'the stale verdict retired a sandbox');
    assert.equal((await createSandboxRepository(db.db).findById(a.sandbox.id))?.status, 'ready');
  });
});

describe('service: a create retried while the first attempt still clones', () => {
  for (const approach of ['pooled', 'simple'] as const) {
    test(`the retry's workspace stays ready in a sandbox only it holds (${RUNS / 2} runs, ${approach})`, async () => {
      const cfg = config({ service: { approach } });
      // two workers: the first attempt on one, Temporal's retry on the other
      const first = service(cfg, approach);
      const retry = service(cfg, approach);
      cleanups.push(
        () => first.close(),
        () => retry.close(),
      );
      await inLanes(LANES, RUNS / 2, async (_lane, i) => {
        const input = { workspaceId: randomUUID(), agentId: `agent-${approach}-${i}`, taskId: 't', repoUrl: repo.url };
        const gate = g.arm(
          (argv) => argv[0] === 'git' && argv.includes('clone') && argv.includes(`ws/${input.workspaceId}`),
        );
        const slow = first.createWorkspace(input);
        slow.catch(() => undefined);
        await within(gate.reached, 10_000, 'the first attempt started cloning');
        const ws = await retry.createWorkspace(input);
        gate.open();
        await slow.then(
          () => undefined,
          () => undefined,
        );

        const now = await retry.getWorkspace(input.workspaceId);
        assert.equal(now?.status, 'ready', `run ${i}: the late first attempt changed the workspace to ${now?.status}`);
        assert.equal(now?.sandboxId, ws.sandboxId, `run ${i}: the workspace moved sandbox`);
        assert.equal(
          await retry.readFile(input.workspaceId, 'README.md'),
          '# owned\n',
          `run ${i}: the clone was destroyed`,
        );
        const rec = await createSandboxRepository(t.db).findById(ws.sandboxId);
        assert.equal(rec?.status, 'in_use', `run ${i}: the workspace's sandbox is ${rec?.status}`);
        assert.equal(rec?.agentId, input.agentId);
        assert.deepEqual(
          [...(await holders(t.db, input.agentId)).keys()],
          [ws.sandboxId],
          `run ${i}: the agent holds another sandbox too`,
        );
        await retry.release(input.workspaceId);
      });
    });
  }
});

describe('service: one mutating operation per workspace at a time', () => {
  test('a write during a push waits its bounded time and is then refused as busy (409, Retry-After); reads run beside', async () => {
    const cfg = config({
      service: { approach: 'simple' },
      git: { remotes: [{ scheme: 'file', pathPrefix: repo.root }] },
      limits: { workspaceBusyWaitMs: 300 },
    });
    const svc = service(cfg, 'simple');
    cleanups.push(() => svc.close());
    const ws = await svc.createWorkspace({ agentId: 'serial', taskId: 't', repoUrl: repo.url });
    await svc.writeFile(ws.id, 'one.txt', '1\n');
    // the push's first command (stage + commit) is held
    const gate = g.arm((argv) => argv[0] === 'nice');
    const push = svc.commitAndPush(ws.id, { message: 'held push' });
    push.catch(() => undefined);
    await within(gate.reached, 10_000, 'the push started');

    const started = Date.now();
    const err = await svc.writeFile(ws.id, 'two.txt', '2\n').then(
      () => null,
      (e: unknown) => e,
    );
    const waited = Date.now() - started;
    assert.ok(isDomainError(err, ErrorType.Busy), `expected the write to be refused as busy, got ${String(err)}`);
    assert.ok(waited >= 250 && waited < 5_000, `waited ${waited} ms`);
    const mapped = mapError(err);
    assert.equal(mapped.status, 409);
    assert.equal(mapped.body.error, 'busy');
    assert.equal(mapped.retryAfter, true);
    // reads are not serialised
    const st = await within(svc.status(ws.id), 5_000, 'status during the push');
    assert.equal(st.branch, ws.agentBranch);

    gate.open();
    await push;
    await svc.writeFile(ws.id, 'two.txt', '2\n');
    await svc.release(ws.id);
  });

  test('writes queue behind each other within the bound instead of failing', async () => {
    // the default bound (10 s): the 300 ms above holds only while a write takes less, which a
    // loaded machine does not promise
    const cfg = config({
      service: { approach: 'simple' },
      git: { remotes: [{ scheme: 'file', pathPrefix: repo.root }] },
    });
    assert.equal(cfg.limits.workspaceBusyWaitMs, 10_000);
    const svc = service(cfg, 'simple');
    cleanups.push(() => svc.close());
    const ws = await svc.createWorkspace({ agentId: 'serial-queue', taskId: 't', repoUrl: repo.url });
    const names = ['three.txt', 'four.txt', 'five.txt', 'six.txt'];
    await Promise.all(names.map((n, i) => svc.writeFile(ws.id, n, `${i}\n`)));
    const st = await svc.status(ws.id);
    assert.deepEqual(
      st.entries
        .filter((e) => e.kind === 'untracked')
        .map((e) => e.path)
        .sort(),
      [...names].sort(),
    );
    await svc.release(ws.id);
  });
});
