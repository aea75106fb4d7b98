/**
 * Benchmark `mcp-overhead`: the MCP tool `git_status` over Streamable HTTP at /mcp (the SDK's own
 * client as it comes, one initialised session) against `GET /v1/workspaces/:id/status` over HTTP,
 * on the same API process, workspace and checkout (real Postgres, local sandbox provider, a real
 * bare repo with modified and untracked files). Calls alternate so machine load affects both alike.
 * Both sides use the same HTTP client, the platform's `fetch` (the one the SDK's client uses), so
 * the ratio is what MCP adds and not what one HTTP client costs over another; the REST call over
 * undici's `request` (faster by ~0.3 ms a call) is reported beside it on stderr, with its ratio.
 * Goal: ratio of medians (mcp / rest) ≤ 1.2.
 *
 * Env: BENCH_N (default 200), BENCH_WARMUP (20).
 * Prints one final line: BENCH mcp-overhead mcp_ms=<n> rest_ms=<n> ratio=<n>
 */
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Agent, request } from 'undici';
import { fmt, median, p95, workspaceFixture } from './_workspace-fixture.js';

const n = Number(process.env.BENCH_N ?? 200);
const warmup = Number(process.env.BENCH_WARMUP ?? 20);

async function main(): Promise<void> {
  const fx = await workspaceFixture('mcp');
  const cleanups: (() => unknown)[] = [() => fx.close()];
  try {
    const { base, ws } = fx;
    const TOKEN = fx.token;
    const dispatcher = new Agent({ connections: 1, keepAliveTimeout: 60_000 });
    cleanups.push(() => dispatcher.close());
    const headers = { authorization: `Bearer ${TOKEN}` };
    const statusUrl = `${base}/v1/workspaces/${ws.id}/status`;
    const checked = (status: number, body: { entries: unknown[] }): void => {
      if (status !== 200 || body.entries.length !== 8)
        throw new Error(`GET status answered ${status}: ${JSON.stringify(body)}`);
    };
    const rest = async (): Promise<number> => {
      const t0 = performance.now();
      const res = await fetch(statusUrl, { headers });
      const body = (await res.json()) as { entries: unknown[] };
      const ms = performance.now() - t0;
      checked(res.status, body);
      return ms;
    };
    const restRequest = async (): Promise<number> => {
      const t0 = performance.now();
      const res = await request(statusUrl, { headers, dispatcher });
      const body = (await res.body.json()) as { entries: unknown[] };
      const ms = performance.now() - t0;
      checked(res.statusCode, body);
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
      await restRequest();
    }
    const restMs: number[] = [];
    const mcpMs: number[] = [];
    const restRequestMs: number[] = [];
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0) {
        restMs.push(await rest());
        mcpMs.push(await viaMcp());
      } else {
        mcpMs.push(await viaMcp());
        restMs.push(await rest());
      }
      restRequestMs.push(await restRequest());
    }
    const m = median(mcpMs);
    const r = median(restMs);
    const rr = median(restRequestMs);
    process.stderr.write(
      `mcp p50_ms=${fmt(m)} p95_ms=${fmt(p95(mcpMs))} | rest (fetch) p50_ms=${fmt(r)} p95_ms=${fmt(p95(restMs))} ` +
        `| rest (undici request) p50_ms=${fmt(rr)} p95_ms=${fmt(p95(restRequestMs))}, mcp / that=${(m / rr).toFixed(2)} | n=${n}\n`,
    );
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
  process.stderr.write(`mcp-overhead bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
