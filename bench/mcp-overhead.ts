/**
 * Benchmark `mcp-overhead`: the MCP tool `git_status` over Streamable HTTP at /mcp (the SDK's own
 * client, one initialised session) against `GET /v1/workspaces/:id/status` over HTTP, on the same
 * API process, workspace and checkout (real Postgres, local sandbox provider, a real bare repo
 * with modified and untracked files). Calls alternate so machine load affects both alike.
 * Goal: ratio of medians (mcp / rest) ≤ 1.2.
 *
 * Env: BENCH_N (default 200), BENCH_WARMUP (20).
 * Prints one final line: BENCH mcp-overhead mcp_ms=<n> rest_ms=<n> ratio=<n>
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import pino from 'pino';
import { Agent, request } from 'undici';
import { buildApp } from '../api/app.js';
import { parseConfig } from '../lib/config/index.js';
import { createMetrics } from '../lib/metrics.js';
import { createGitService } from '../lib/service/index.js';
import { createTemporalClient } from '../clients/temporal.js';
import { createBareRepo } from '../scripts/testing/git.js';
import { freshDb } from '../scripts/testing/db.js';
import { stackEnv } from '../scripts/testing/stack.js';

const n = Number(process.env.BENCH_N ?? 200);
const warmup = Number(process.env.BENCH_WARMUP ?? 20);
const TOKEN = `bench-${randomBytes(16).toString('hex')}`;
const AGENT = 'bench-agent';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const p95 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.ceil(0.95 * xs.length) - 1];
const fmt = (x: number): string => x.toFixed(2);

async function main(): Promise<void> {
  const cleanups: (() => unknown)[] = [];
  try {
    const t = await freshDb('bench_mcp');
    cleanups.push(() => t.drop());
    const sandboxRoot = mkdtempSync(join(tmpdir(), 'sgc-bench-mcp-'));
    cleanups.push(() => rmSync(sandboxRoot, { recursive: true, force: true }));
    const files: Record<string, string> = { 'README.md': '# bench\n' };
    for (let i = 0; i < 40; i++) files[`src/mod-${i}.ts`] = `export const v${i} = ${i};\n`;
    const repo = createBareRepo(files);
    cleanups.push(() => repo.cleanup());
    const config = parseConfig({
      service: { approach: 'simple' },
      sandbox: { provider: 'local', localRoot: sandboxRoot, timeoutMs: 600_000 },
      security: { encryptionKey: randomBytes(32).toString('base64') },
      api: { tokens: [{ name: 'bench-agent', role: 'agent', agentId: AGENT, token: TOKEN }] },
    });
    const log = pino({ level: 'silent' });
    const service = createGitService({ config, db: t.db, metrics: createMetrics({ defaultMetrics: false }), log });
    cleanups.push(() => service.close());
    // status never touches Temporal; buildApp wants a client, so a lazy one that is never used
    const client = await createTemporalClient({ ...config.temporal, address: stackEnv('SGC_TEST_TEMPORAL_ADDRESS') }, { lazy: true });
    cleanups.push(() => client.connection.close());
    const app = await buildApp({ config, service, temporal: { client, taskQueue: 'bench-unused' }, metrics: createMetrics({ defaultMetrics: false }), db: t.db, log });
    cleanups.push(() => app.close());
    const base = await app.listen({ host: '127.0.0.1', port: 0 });

    const ws = await service.createWorkspace({ agentId: AGENT, taskId: 'mcp-bench', repoUrl: repo.url });
    cleanups.push(() => service.release(ws.id));
    for (let i = 0; i < 5; i++) await service.writeFile(ws.id, `src/mod-${i}.ts`, `export const v${i} = ${i * 10}; // edited\n`);
    for (let i = 0; i < 3; i++) await service.writeFile(ws.id, `new-file-${i}.txt`, `untracked ${i}\n`);

    const dispatcher = new Agent({ connections: 1, keepAliveTimeout: 60_000 });
    cleanups.push(() => dispatcher.close());
    const headers = { authorization: `Bearer ${TOKEN}` };
    const rest = async (): Promise<number> => {
      const t0 = performance.now();
      const res = await request(`${base}/v1/workspaces/${ws.id}/status`, { headers, dispatcher });
      const body = (await res.body.json()) as { entries: unknown[] };
      const ms = performance.now() - t0;
      if (res.statusCode !== 200 || body.entries.length !== 8) throw new Error(`GET status answered ${res.statusCode}: ${JSON.stringify(body)}`);
      return ms;
    };
    const mcp = new Client({ name: 'bench-agent', version: '1.0.0' });
    await mcp.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers } }));
    cleanups.push(() => mcp.close());
    const viaMcp = async (): Promise<number> => {
      const t0 = performance.now();
      const r = (await mcp.callTool({ name: 'git_status', arguments: { workspaceId: ws.id } })) as CallToolResult;
      const ms = performance.now() - t0;
      const entries = (r.structuredContent as { status?: { entries: unknown[] } } | undefined)?.status?.entries;
      if (r.isError || entries?.length !== 8) throw new Error(`git_status failed: ${JSON.stringify(r.content)}`);
      return ms;
    };

    for (let i = 0; i < warmup; i++) {
      await rest();
      await viaMcp();
    }
    const restMs: number[] = [];
    const mcpMs: number[] = [];
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0) {
        restMs.push(await rest());
        mcpMs.push(await viaMcp());
      } else {
        mcpMs.push(await viaMcp());
        restMs.push(await rest());
      }
    }
    const m = median(mcpMs);
    const r = median(restMs);
    process.stderr.write(`mcp p50_ms=${fmt(m)} p95_ms=${fmt(p95(mcpMs))} | rest p50_ms=${fmt(r)} p95_ms=${fmt(p95(restMs))} | n=${n}\n`);
    console.log(`BENCH mcp-overhead mcp_ms=${fmt(m)} rest_ms=${fmt(r)} ratio=${(m / r).toFixed(2)}`);
  } finally {
    for (const undo of cleanups.reverse()) {
      try {
        await undo();
      } catch {
        // best effort: the rest still gets cleaned up
      }
    }
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`mcp-overhead bench failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 1;
});
