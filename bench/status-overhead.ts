/**
 * Benchmark `status-overhead`: `GET /v1/workspaces/:id/status` through the real API (buildApp on
 * an ephemeral port, a real agent token, the real service on a fresh Postgres database, the local
 * sandbox provider, a workspace cloned from a real bare repo with modified and untracked files)
 * against raw `git status --porcelain=v2 --branch` run in the same checkout from a child process.
 * Iterations alternate API and raw calls so that machine load affects both alike.
 * Goal: ratio of medians (api / raw) ≤ 1.3 (DESIGN.md).
 *
 * Env: BENCH_N (default 200), BENCH_WARMUP (20).
 * Prints one final line: BENCH status-overhead api_ms=<n> raw_ms=<n> ratio=<n>
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { workspaceDirFor } from '../lib/service/index.js';
import { createOperationLogRepository } from '../lib/store/operation-log.js';
import { createWorkspaceRepository } from '../lib/store/workspaces.js';
import { BENCH_AGENT as AGENT, fmt, median, p95, workspaceFixture } from './_workspace-fixture.js';

const n = Number(process.env.BENCH_N ?? 200);
const warmup = Number(process.env.BENCH_WARMUP ?? 20);
const execFileP = promisify(execFile);

async function main(): Promise<void> {
  // undone in reverse order, also when setup fails halfway
  const fx = await workspaceFixture('status');
  const dispatcher = new Agent({ connections: 1, keepAliveTimeout: 60_000 });
  try {
    const { base, ws, workerProvider, apiProvider, apiService } = fx;
    const t = fx.db;
    const workspaceRepo = createWorkspaceRepository(t.db);
    const operationLogRepo = createOperationLogRepository(t.db);
    const TOKEN = fx.token;
    const checkout = join((await workerProvider.connect(ws.sandboxId)).home, workspaceDirFor(ws.id));

    const url = `${base}/v1/workspaces/${ws.id}/status`;
    const headers = { authorization: `Bearer ${TOKEN}` };
    const viaApi = async (): Promise<{ ms: number; body: { entries: unknown[]; branch: string | null } }> => {
      const t0 = performance.now();
      const res = await request(url, { headers, dispatcher });
      const body = (await res.body.json()) as { entries: unknown[]; branch: string | null };
      const ms = performance.now() - t0;
      if (res.statusCode !== 200) throw new Error(`GET status answered ${res.statusCode}: ${JSON.stringify(body)}`);
      return { ms, body };
    };
    const raw = async (): Promise<{ ms: number; out: string }> => {
      const t0 = performance.now();
      const { stdout } = await execFileP('git', ['status', '--porcelain=v2', '--branch'], { cwd: checkout });
      return { ms: performance.now() - t0, out: stdout };
    };
    // the same command through the sandbox provider, without the service's bookkeeping
    const sb = await apiProvider.connect(ws.sandboxId);
    const sandboxRun = async (): Promise<number> => {
      const t0 = performance.now();
      const r = await sb.run(['git', 'status', '--porcelain=v2', '--branch', '-z', '--untracked-files=all'], {
        cwd: workspaceDirFor(ws.id),
      });
      if (r.exitCode !== 0) throw new Error(`git status in the sandbox exited ${r.exitCode}`);
      return performance.now() - t0;
    };
    // the service's bookkeeping statements on their own: the workspace lookup (the route and
    // the service each make one) and the operation_log row (+ last_used_at) every call writes
    const sqlLookup = async (): Promise<number> => {
      const t0 = performance.now();
      await workspaceRepo.findById('simple', ws.id);
      return performance.now() - t0;
    };
    const sqlLog = async (): Promise<number> => {
      const t0 = performance.now();
      await operationLogRepo.append(
        {
          workspaceId: ws.id,
          agentId: AGENT,
          operation: 'status',
          approach: 'simple',
          outcome: 'success',
          errorCategory: 'none',
          durationMs: 1,
          costDollars: 0,
          attempts: 1,
          startedAt: new Date(),
          details: {},
        },
        { touchWorkspace: true },
      );
      return performance.now() - t0;
    };
    const direct = async (): Promise<number> => {
      const t0 = performance.now();
      await apiService.status(ws.id);
      return performance.now() - t0;
    };

    // the two must describe the same checkout
    const first = await viaApi();
    const rawFirst = await raw();
    const rawEntries = rawFirst.out.split('\n').filter((l) => l && !l.startsWith('#')).length;
    if (first.body.entries.length !== rawEntries || first.body.entries.length !== 8) {
      throw new Error(`API reports ${first.body.entries.length} entries, raw git ${rawEntries} (expected 8)`);
    }

    for (let i = 0; i < warmup; i++) {
      await viaApi();
      await raw();
      await direct();
      await sandboxRun();
    }
    const apiMs: number[] = [];
    const rawMs: number[] = [];
    const directMs: number[] = [];
    const sandboxMs: number[] = [];
    const lookupMs: number[] = [];
    const logMs: number[] = [];
    for (let i = 0; i < n; i++) {
      // alternate the order so neither side always runs right after the other
      if (i % 2 === 0) {
        apiMs.push((await viaApi()).ms);
        rawMs.push((await raw()).ms);
      } else {
        rawMs.push((await raw()).ms);
        apiMs.push((await viaApi()).ms);
      }
      directMs.push(await direct());
      sandboxMs.push(await sandboxRun());
      lookupMs.push(await sqlLookup());
      logMs.push(await sqlLog());
    }
    const api = median(apiMs);
    const rawMed = median(rawMs);
    process.stderr.write(
      `api p50_ms=${fmt(api)} p95_ms=${fmt(p95(apiMs))} | service.status() without HTTP p50_ms=${fmt(median(directMs))} p95_ms=${fmt(p95(directMs))} ` +
        `| sandbox.run(git status) p50_ms=${fmt(median(sandboxMs))} p95_ms=${fmt(p95(sandboxMs))} ` +
        `| raw git p50_ms=${fmt(rawMed)} p95_ms=${fmt(p95(rawMs))} | n=${n} entries=${first.body.entries.length}\n` +
        `  SQL p50: workspace lookup_ms=${fmt(median(lookupMs))} (×2 per request) operation_log insert_ms=${fmt(median(logMs))}\n`,
    );
    console.log(`BENCH status-overhead api_ms=${fmt(api)} raw_ms=${fmt(rawMed)} ratio=${(api / rawMed).toFixed(2)}`);
  } finally {
    await dispatcher.close();
    await fx.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`status-overhead bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
