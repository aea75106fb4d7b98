/**
 * Benchmark `kill-switch` (issue 4): from `POST /v1/flags/kill` to 3 separate processes, each
 * holding a FlagCache, all switched. The API runs here (Fastify on a real port, the flag routes,
 * an admin token); each child reports when its cache applied the kill, stamped with the shared
 * machine clock. Between kills the flags are turned back on (not measured) and every child is
 * awaited, so each kill starts from "on". Goal: p99 < 100 ms (LaunchDarkly streaming ~200 ms).
 *
 * Then the kill switch moves live work (issue 10 section 3): BENCH_REHOME (default 50) live
 * approach-2 workspaces on real local sandboxes, each with modified, new and binary files and a
 * local commit not yet pushed, are re-homed to approach 1 after one more kill through the same
 * route (lib/service/rehome.ts rehomeAll, 8 at a time, in this process: the code the git worker's
 * rehomeWorkflow activities run, without Temporal). rehome_p99_ms is per workspace (freeze →
 * re-homed), rehome_total_ms from the kill's answer until the last one; lost counts workspaces
 * neither carried nor left intact on approach 2 (goal: total < 30 s, lost = 0).
 *
 * Env: BENCH_FLIPS (default 200), BENCH_PROCESSES (3), BENCH_REHOME (50).
 * Prints: BENCH kill-switch processes=3 flips=200 p50_ms=<n> p99_ms=<n> rehome_workspaces=50 rehome_total_ms=<n> rehome_p99_ms=<n> carried=<n> lost=<n>
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { flagRoutes } from '../api/routes/flags.js';
import { DEFAULT_SWITCH_TIMEOUT_MS } from '../lib/canary/defaults.js';
import { FLAG_OPERATIONS, FlagStore } from '../lib/flags/store.js';
import { freshDb } from '../scripts/testing/db.js';
import { createBareRepo } from '../scripts/testing/git.js';
import { routeApp } from '../scripts/testing/route-app.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../lib/config/index.js';
import { createLogger } from '../lib/log.js';
import { createMetrics } from '../lib/metrics.js';
import { createLocalProvider } from '../lib/sandbox/local.js';
import { createGitService } from '../lib/service/index.js';
import { rehomeAll, rehomeDeps } from '../lib/service/rehome.js';
import { createWorkspaceRepository } from '../lib/store/workspaces.js';

const flips = Number(process.env.BENCH_FLIPS ?? 200);
const processes = Number(process.env.BENCH_PROCESSES ?? 3);
const rehomeCount = Number(process.env.BENCH_REHOME ?? 50);
const ADMIN = 'bench-admin-token-0123456789ab';

interface ChangeMsg {
  type: 'change';
  at: number;
  version: number;
  percentSum: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

async function main(): Promise<void> {
  const t = await freshDb('bench_kill');
  const store = new FlagStore(t.db);
  const children: ChildProcess[] = [];
  const app = routeApp([{ name: 'bench', role: 'admin', token: ADMIN }]);
  try {
    await app.register(flagRoutes({ flags: store, switchTimeoutMs: DEFAULT_SWITCH_TIMEOUT_MS }), { prefix: '/v1' });
    const address = await app.listen({ host: '127.0.0.1', port: 0 });

    // latest "all off" / "all on" time per child, by version
    const offAt: Map<number, number>[] = [];
    const onVersion: number[] = [];
    const childPath = fileURLToPath(new URL('./_flag-cache-child.ts', import.meta.url));
    for (let i = 0; i < processes; i++) {
      const child = fork(childPath, [], {
        execArgv: ['--import', 'tsx'],
        env: { ...process.env, SGC_BENCH_DB_URL: t.url },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      children.push(child);
      offAt.push(new Map());
      onVersion.push(0);
      child.on('message', (m: ChangeMsg) => {
        if (m.type !== 'change') return;
        if (m.percentSum === 0) offAt[i]!.set(m.version, m.at);
        else onVersion[i] = Math.max(onVersion[i]!, m.version);
      });
      const [ready] = (await once(child, 'message')) as [{ type: string }];
      if (ready.type !== 'ready') throw new Error('child did not start');
    }

    const waitFor = async (what: string, check: () => boolean): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
        await new Promise((r) => setTimeout(r, 1));
      }
    };

    const latencies: number[] = [];
    const dbMs: number[] = [];
    for (let k = 0; k < flips; k++) {
      // the kill switch latches (issue 9 item 5): clear it before turning the flags back on (not measured)
      if (k > 0) await store.unlatch({ actor: 'bench', reason: `bench flip ${k - 1} done` });
      const on = await store.setMany(
        FLAG_OPERATIONS.map((operation) => ({ operation, percent: 50, shadow: true })),
        { actor: 'bench', reason: `on ${k}` },
      );
      await waitFor('every child on', () => onVersion.every((v) => v >= on.version));
      const t0 = performance.timeOrigin + performance.now();
      const res = await fetch(`${address}/v1/flags/kill`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: `bench flip ${k}` }),
      });
      const body = (await res.json()) as { version: number; switched: boolean; durationMs: number | null };
      if (res.status !== 200 || !body.switched)
        throw new Error(`kill ${k} failed: ${res.status} ${JSON.stringify(body)}`);
      await waitFor('every child off', () => offAt.every((m) => m.has(body.version)));
      latencies.push(Math.max(...offAt.map((m) => m.get(body.version)!)) - t0);
      if (body.durationMs !== null) dbMs.push(body.durationMs);
    }
    latencies.sort((a, b) => a - b);
    dbMs.sort((a, b) => a - b);
    process.stderr.write(
      `kill → all ${processes} caches applied (process clocks): p50 ${quantile(latencies, 0.5).toFixed(2)} ms, p99 ${quantile(latencies, 0.99).toFixed(2)} ms, max ${latencies.at(-1)!.toFixed(2)} ms; ` +
        `decision → last ack written (database clock, as recorded on rollback_events): p50 ${quantile(dbMs, 0.5).toFixed(2)} ms, p99 ${quantile(dbMs, 0.99).toFixed(2)} ms\n`,
    );
    const rh = await benchRehome(t, store, address);
    console.log(
      `BENCH kill-switch processes=${processes} flips=${flips} p50_ms=${quantile(latencies, 0.5).toFixed(2)} p99_ms=${quantile(latencies, 0.99).toFixed(2)} ` +
        `rehome_workspaces=${rehomeCount} rehome_total_ms=${rh.totalMs.toFixed(0)} rehome_p99_ms=${rh.p99Ms.toFixed(0)} carried=${rh.carried} lost=${rh.lost}`,
    );
  } finally {
    for (const c of children) c.disconnect();
    await Promise.all(children.map((c) => (c.exitCode === null ? once(c, 'exit') : undefined)));
    await app.close();
    await t.drop();
  }
}

/** 50 live approach-2 workspaces with uncommitted edits and a local commit; one kill; all re-homed. */
async function benchRehome(
  t: Awaited<ReturnType<typeof freshDb>>,
  store: FlagStore,
  address: string,
): Promise<{ totalMs: number; p99Ms: number; carried: number; lost: number }> {
  const root = mkdtempSync(join(tmpdir(), 'sgc-bench-rehome-'));
  const repo = createBareRepo({ 'README.md': '# demo\n', 'keep.txt': 'one\ntwo\n' });
  const log = createLogger({ level: 'silent' });
  const config = parseConfig({
    sandbox: { localRoot: root, planConcurrencyLimit: 1_000 },
    pool: { min: 0, max: rehomeCount + 10, acquireTimeoutMs: 30_000 },
    // the bench's bare repository lives in the temp dir
    git: { remotes: [{ scheme: 'file', pathPrefix: tmpdir() }] },
  });
  const provider = createLocalProvider({ root, defaultTimeoutMs: config.sandbox.timeoutMs });
  const metrics = createMetrics({ defaultMetrics: false });
  const key = randomBytes(32);
  const simple = createGitService({ config, db: t.db, metrics, log, provider, key, approach: 'simple' });
  const pooled = createGitService({ config, db: t.db, metrics, log, provider, key, approach: 'pooled' });
  try {
    await simple.start();
    await pooled.start();
    const ids: string[] = [];
    const make = async (i: number): Promise<void> => {
      const id = randomUUID();
      const ws = await pooled.createWorkspace({
        agentId: `bench-${i}`,
        taskId: 'rehome',
        repoUrl: repo.url,
        workspaceId: id,
      });
      const sb = await provider.connect(ws.sandboxId);
      const r = await sb.run(
        [
          'sh',
          '-c',
          `echo local > c.txt && git add c.txt && git commit -q -m local && echo changed >> keep.txt && echo new > new.txt && head -c 4096 /dev/urandom > blob.bin`,
        ],
        { cwd: `ws/${id}` },
      );
      if (r.exitCode !== 0) throw new Error(`bench workspace ${i}: ${r.stderr}`);
      ids.push(id);
    };
    for (let i = 0; i < rehomeCount; i += 10)
      await Promise.all(Array.from({ length: Math.min(10, rehomeCount - i) }, (_, k) => make(i + k)));

    await store.unlatch({ actor: 'bench', reason: 'rehome phase' });
    await store.setMany(
      FLAG_OPERATIONS.map((operation) => ({ operation, percent: 100, shadow: false })),
      { actor: 'bench', reason: 'rehome phase on' },
    );
    const workspaces = createWorkspaceRepository(t.db);
    const deps = rehomeDeps({ simple, pooled, provider, db: t.db, log });
    const res = await fetch(`${address}/v1/flags/kill`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'bench rehome' }),
    });
    const body = (await res.json()) as { eventId: number };
    const t0 = performance.now();
    const summary = await rehomeAll(deps, body.eventId, { concurrency: 8 });
    const totalMs = performance.now() - t0;
    // lost: neither carried (served by approach 1) nor left intact on approach 2
    let lost = summary.lost;
    for (const id of ids) {
      const serving = await workspaces.findServing(id);
      const outcome = summary.rehomed.find((o) => o.workspaceId === id);
      if (outcome?.state === 'carried' ? serving?.approach !== 'simple' : serving?.approach !== 'pooled') lost++;
    }
    const d = summary.rehomed.map((o) => o.durationMs).sort((a, b) => a - b);
    process.stderr.write(
      `re-home: ${summary.carried} carried, ${summary.notCarried} not carried, total ${totalMs.toFixed(0)} ms, p50 ${quantile(d, 0.5).toFixed(0)} ms, p99 ${quantile(d, 0.99).toFixed(0)} ms per workspace\n`,
    );
    for (const o of summary.rehomed.filter((x) => x.state !== 'carried'))
      process.stderr.write(`  not carried ${o.workspaceId}: ${o.reason}\n`);
    return { totalMs, p99Ms: quantile(d, 0.99), carried: summary.carried, lost };
  } finally {
    await pooled.close().catch(() => undefined);
    await simple.close().catch(() => undefined);
    provider.close();
    repo.cleanup();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`[bench kill-switch] ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
