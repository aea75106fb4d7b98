/**
 * Issue 9 item 4's request limits (the trust-ops part): a token that floods the API is slowed
 * to `limits.requestsPerMinute` (429 + Retry-After) without slowing anyone else, and a client
 * that never finishes sending its request (slowloris) is cut off after `limits.requestTimeoutMs`
 * (Fastify's requestTimeout was 0: such a connection stayed open for ever).
 *
 * The real app (buildApp) over HTTP, a fresh Postgres database and the local sandbox provider.
 */
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { buildApp, type App } from '../../api/app.js';
import { parseConfig } from '../../lib/config/index.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { createGitService } from '../../lib/service/index.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { testEnv } from '../helpers/temporal.js';

const log = createLogger({ level: 'silent' });
const TOKENS = {
  a: `agent-a-${randomBytes(12).toString('hex')}`,
  b: `agent-b-${randomBytes(12).toString('hex')}`,
  c: `agent-c-${randomBytes(12).toString('hex')}`,
};
const PER_MINUTE = 5;

let env: TestWorkflowEnvironment;
let tdb: TestDb;
let sandboxRoot: string;
let app: App;
let url: string;
let service: ReturnType<typeof createGitService>;

beforeAll(async () => {
  [env, tdb] = await Promise.all([testEnv(), freshDb('limits')]);
  sandboxRoot = mkdtempSync(join(tmpdir(), 'sgc-limits-'));
  const config = parseConfig({
    service: { approach: 'simple' },
    sandbox: { provider: 'local', localRoot: sandboxRoot },
    security: { encryptionKey: randomBytes(32).toString('base64') },
    limits: { requestsPerMinute: PER_MINUTE, requestTimeoutMs: 1_000 },
    api: {
      tokens: [
        { name: 'agent-a', role: 'agent', agentId: 'agent-a', token: TOKENS.a },
        { name: 'agent-b', role: 'agent', agentId: 'agent-b', token: TOKENS.b },
        { name: 'agent-c', role: 'agent', agentId: 'agent-c', token: TOKENS.c },
      ],
    },
  });
  service = createGitService({ config, db: tdb.db, metrics: createMetrics({ defaultMetrics: false }), log });
  app = await buildApp({
    config,
    service,
    temporal: { client: env.client, taskQueue: 'unused' },
    metrics: createMetrics({ defaultMetrics: false }),
    db: tdb.db,
    log,
  });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app?.close();
  await service?.close();
  await tdb?.drop();
  await env?.teardown();
  rmSync(sandboxRoot, { recursive: true, force: true });
});

const get = (token: string) =>
  fetch(`${url}/v1/workspaces/00000000-0000-4000-8000-000000000000`, { headers: { authorization: `Bearer ${token}` } });

describe('request limits', () => {
  test('a token past limits.requestsPerMinute gets 429 with Retry-After; another token is not slowed', async () => {
    for (let i = 0; i < PER_MINUTE; i++)
      assert.equal((await get(TOKENS.a)).status, 404, `request ${i + 1} is within the limit`);
    const over = await get(TOKENS.a);
    assert.equal(over.status, 429);
    const retryAfter = Number(over.headers.get('retry-after'));
    assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After ${over.headers.get('retry-after')}`);
    const body = (await over.json()) as { error: string; message: string };
    assert.equal(body.error, 'rate_limited');
    assert.match(body.message, /requestsPerMinute/);
    assert.equal((await get(TOKENS.b)).status, 404, 'agent b has its own budget');
  });

  test('an MCP tool call counts once against limits.requestsPerMinute, as the REST call it stands for', async () => {
    // /mcp answers a tool call by calling the REST route in-process: that inner call was counted
    // too, so an agent on MCP had half the budget of one on REST
    let id = 0;
    const toolCall = async (): Promise<{ status: number; category?: string }> => {
      const res = await fetch(`${url}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TOKENS.c}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: ++id,
          method: 'tools/call',
          params: { name: 'git_status', arguments: { workspaceId: '00000000-0000-4000-8000-000000000000' } },
        }),
      });
      if (res.status !== 200) return { status: res.status };
      const body = (await res.json()) as { result: { structuredContent: { error: { category: string } } } };
      return { status: 200, category: body.result.structuredContent.error.category };
    };
    for (let i = 0; i < PER_MINUTE; i++)
      assert.deepEqual(
        await toolCall(),
        { status: 200, category: 'not_found' },
        `tool call ${i + 1} is within the limit`,
      );
    assert.equal((await toolCall()).status, 429, 'the call past the limit is refused at /mcp');
  });

  test('a request that is never finished is cut off after limits.requestTimeoutMs', async () => {
    assert.equal(app.server.requestTimeout, 1_000);
    assert.ok(app.server.keepAliveTimeout > 0);
    const { port } = new URL(url);
    const sock = net.connect(Number(port), '127.0.0.1');
    await new Promise<void>((res) => sock.once('connect', () => res()));
    // headers started, never finished: a slowloris client
    sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const t0 = Date.now();
    const answer = await new Promise<string>((res) => {
      let got = '';
      const timer = setTimeout(() => res(`${got}(still open after 10 s)`), 10_000);
      sock.on('data', (b) => {
        got += b.toString();
      });
      sock.on('close', () => {
        clearTimeout(timer);
        res(got);
      });
    });
    sock.destroy();
    assert.match(answer, /^HTTP\/1\.1 408/, `the server answers 408 and closes: ${answer}`);
    assert.ok(Date.now() - t0 < 5_000);
  });
});
