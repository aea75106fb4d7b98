/**
 * The MCP git tools through the SDK's own client, over both transports, against the real stack:
 * Streamable HTTP at /mcp on the API and stdio (`npm run mcp`, a client of the API), a git
 * worker on the Temporal dev server, a fresh Postgres database, real bare repositories.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { parseConfig } from '../../lib/config/index.js';
import { createLogger } from '../../lib/log.js';
import { startApiStack } from '../helpers/api-stack.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { cloneAndRead, createBareRepo, git } from '../helpers/git.js';
import { testEnv } from '../helpers/temporal.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const log = createLogger({ level: 'silent' });
const ROOT = resolve(import.meta.dirname, '../..');

const TOKENS = {
  agentA: `agent-a-${randomBytes(12).toString('hex')}`,
  agentB: `agent-b-${randomBytes(12).toString('hex')}`,
};
const TOOLS = [
  'git_clone',
  'git_diff',
  'git_pull',
  'git_push',
  'git_read_file',
  'git_release',
  'git_status',
  'git_write_file',
];

let env: TestWorkflowEnvironment;
let tdb: TestDb;
let sandboxRoot: string;
let apiUrl: string;
const cleanups: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  env = await testEnv();
  tdb = await freshDb('mcp');
  sandboxRoot = mkdtempSync(join(tmpdir(), 'sgc-mcp-sb-'));
  const config = parseConfig({
    service: { approach: 'simple' },
    sandbox: { provider: 'local', localRoot: sandboxRoot, timeoutMs: 600_000 },
    security: { encryptionKey: randomBytes(32).toString('base64') },
    git: { backoffBaseMs: 20, backoffMaxMs: 200, remotes: [{ scheme: 'file', pathPrefix: tmpdir() }] },
    api: {
      tokens: [
        { name: 'agent-a', role: 'agent', agentId: 'agent-a', token: TOKENS.agentA },
        { name: 'agent-b', role: 'agent', agentId: 'agent-b', token: TOKENS.agentB },
      ],
    },
  });
  const stack = await startApiStack({ env, db: tdb.db, config, log, queue: 'mcp' });
  apiUrl = stack.url;
  cleanups.push(() => stack.close());
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await tdb?.drop();
  await env?.teardown();
  if (sandboxRoot) rmSync(sandboxRoot, { recursive: true, force: true });
});

async function httpClient(token: string): Promise<Client> {
  const client = new Client({ name: 'test-agent', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${apiUrl}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  cleanups.push(() => client.close());
  return client;
}

async function stdioClient(token: string): Promise<Client> {
  const client = new Client({ name: 'test-agent', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: ['--import', 'tsx', join(ROOT, 'api/mcp/stdio.ts')],
      cwd: ROOT,
      // only what the stdio server needs: no database or git credentials reach it
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? tmpdir(),
        SGC_API_URL: apiUrl,
        SGC_AGENT_TOKEN: token,
      },
      stderr: 'ignore',
    }),
  );
  cleanups.push(() => client.close());
  return client;
}

function text(r: CallToolResult): string {
  return r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
}

async function ok(client: Client, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  const r = (await client.callTool({ name, arguments: args })) as CallToolResult;
  assert.ok(!r.isError, `${name} failed: ${text(r)}`);
  return r;
}

async function fails(
  client: Client,
  name: string,
  args: Record<string, unknown>,
): Promise<CallToolResult & { category?: string }> {
  const r = (await client.callTool({ name, arguments: args })) as CallToolResult;
  assert.equal(r.isError, true, `${name} should have failed: ${text(r)}`);
  const category = (r.structuredContent as { error?: { category?: string } } | undefined)?.error?.category;
  return { ...r, category };
}

for (const transport of ['http', 'stdio'] as const) {
  describe(`MCP over ${transport}`, () => {
    let client: Client;
    let other: Client;
    beforeAll(async () => {
      client = transport === 'http' ? await httpClient(TOKENS.agentA) : await stdioClient(TOKENS.agentA);
      other = transport === 'http' ? await httpClient(TOKENS.agentB) : await stdioClient(TOKENS.agentB);
    });

    test('lists the eight git tools, each with a description and a schema naming its fields', async () => {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
      for (const t of tools) {
        assert.ok((t.description ?? '').length > 30, `${t.name} has a usable description`);
        assert.equal(t.inputSchema.type, 'object');
      }
      const push = tools.find((t) => t.name === 'git_push')!;
      expect(Object.keys(push.inputSchema.properties ?? {}).sort()).toEqual([
        'branch',
        'idempotencyKey',
        'message',
        'workspaceId',
      ]);
    });

    test('clone → write → status → diff → push → pull → release lands the commit on the remote', async () => {
      const remote = createBareRepo({ 'README.md': '# demo\n' });
      cleanups.push(() => remote.cleanup());
      const taskId = `mcp-${transport}`;
      const cloned = await ok(client, 'git_clone', { repoUrl: remote.url, taskId });
      const workspaceId = (cloned.structuredContent as { workspaceId: string }).workspaceId;
      assert.match(text(cloned), new RegExp(`agent/agent-a/${taskId}`));

      await ok(client, 'git_write_file', { workspaceId, path: 'notes/hello.txt', content: 'hello over mcp\n' });
      const read = await ok(client, 'git_read_file', { workspaceId, path: 'notes/hello.txt' });
      assert.equal(text(read), 'hello over mcp\n');
      const status = await ok(client, 'git_status', { workspaceId });
      assert.match(text(status), /notes\/hello\.txt/);
      assert.equal((status.structuredContent as { status: { clean: boolean } }).status.clean, false);
      const diff = await ok(client, 'git_diff', { workspaceId });
      assert.match(text(diff), /^\+hello over mcp$/m);

      const pushed = await ok(client, 'git_push', {
        workspaceId,
        message: 'agent writes over mcp',
        idempotencyKey: `push-${transport}`,
      });
      assert.equal((pushed.structuredContent as { push: { branch: string } }).push.branch, `agent/agent-a/${taskId}`);
      const landed = cloneAndRead(remote.url, `agent/agent-a/${taskId}`);
      assert.equal(landed.subjects[0], 'agent writes over mcp');
      assert.equal(landed.read('notes/hello.txt'), 'hello over mcp\n');
      // the same key again: the commit is not repeated
      await ok(client, 'git_push', {
        workspaceId,
        message: 'agent writes over mcp',
        idempotencyKey: `push-${transport}`,
      });
      assert.equal(
        cloneAndRead(remote.url, `agent/agent-a/${taskId}`).subjects.filter((s) => s === 'agent writes over mcp')
          .length,
        1,
      );

      git(landed.dir, 'config', 'user.email', 'other@example.test');
      git(landed.dir, 'config', 'user.name', 'other');
      git(landed.dir, 'commit', '--allow-empty', '-m', 'from elsewhere');
      git(landed.dir, 'push', 'origin', `agent/agent-a/${taskId}`);
      const pulled = await ok(client, 'git_pull', { workspaceId });
      assert.equal(
        (pulled.structuredContent as { pull: { updated: boolean; head: string } }).pull.head,
        git(landed.dir, 'rev-parse', 'HEAD').trim(),
      );

      await ok(client, 'git_release', { workspaceId });
      const gone = await fails(client, 'git_status', { workspaceId });
      assert.equal(gone.category, 'not_found');
    });

    test('a conflict is a tool error with the category and the conflicting files', async () => {
      const remote = createBareRepo({ 'shared.txt': 'alpha\nbeta\ngamma\n' });
      cleanups.push(() => remote.cleanup());
      const taskId = `conflict-${transport}`;
      const branch = `agent/agent-a/${taskId}`;
      const cloned = await ok(client, 'git_clone', { repoUrl: remote.url, taskId });
      const workspaceId = (cloned.structuredContent as { workspaceId: string }).workspaceId;
      // a teammate pushes a different edit of the same line to the agent's branch first
      const mate = mkdtempSync(join(tmpdir(), 'sgc-mate-'));
      cleanups.push(() => rmSync(mate, { recursive: true, force: true }));
      git(mate, 'clone', '--quiet', remote.url, 'c');
      const c = join(mate, 'c');
      git(c, 'checkout', '-q', '-b', branch);
      git(c, 'config', 'user.email', 'mate@example.test');
      git(c, 'config', 'user.name', 'mate');
      git(c, '-c', 'core.autocrlf=false', 'commit', '--allow-empty', '-q', '-m', 'placeholder');
      writeFileSync(join(c, 'shared.txt'), 'alpha\nBETA (mate)\ngamma\n');
      git(c, 'commit', '-q', '-am', 'mate edits beta');
      git(c, 'push', '-q', 'origin', branch);

      await ok(client, 'git_write_file', { workspaceId, path: 'shared.txt', content: 'alpha\nBETA (agent)\ngamma\n' });
      const lost = await fails(client, 'git_push', { workspaceId, message: 'agent edits beta' });
      assert.equal(lost.category, 'conflict');
      expect((lost.structuredContent as { error: { files: string[] } }).error.files).toEqual(['shared.txt']);
      assert.match(text(lost), /shared\.txt/);
      assert.equal(cloneAndRead(remote.url, branch).read('shared.txt'), 'alpha\nBETA (mate)\ngamma\n');
    });

    test('a bad argument is a clear tool error naming the field, and the server keeps serving', async () => {
      const missing = (await client.callTool({ name: 'git_status', arguments: {} })) as CallToolResult;
      assert.equal(missing.isError, true);
      assert.match(text(missing), /workspaceId/);
      const badRepo = await fails(client, 'git_clone', { repoUrl: 'not a url', taskId: 'x' });
      assert.equal(badRepo.category, 'invalid_argument');
      assert.match(text(badRepo), /repoUrl/);
      const badPath = await fails(client, 'git_write_file', {
        workspaceId: 'no-such-workspace',
        path: '../escape.txt',
        content: 'x',
      });
      assert.ok(['invalid_argument', 'not_found'].includes(badPath.category ?? ''), text(badPath));
      const { tools } = await client.listTools();
      assert.equal(tools.length, TOOLS.length);
    });

    test("another agent's workspace is not found, exactly like a missing one", async () => {
      const remote = createBareRepo();
      cleanups.push(() => remote.cleanup());
      const cloned = await ok(client, 'git_clone', { repoUrl: remote.url, taskId: `mine-${transport}` });
      const workspaceId = (cloned.structuredContent as { workspaceId: string }).workspaceId;
      for (const [name, args] of [
        ['git_status', { workspaceId }],
        ['git_read_file', { workspaceId, path: 'README.md' }],
        ['git_write_file', { workspaceId, path: 'x.txt', content: 'x' }],
        ['git_release', { workspaceId }],
      ] as const) {
        const r = await fails(other, name, args);
        assert.equal(r.category, 'not_found', `${name}: ${text(r)}`);
      }
      await ok(client, 'git_status', { workspaceId });
      await ok(client, 'git_release', { workspaceId });
    });
  });
}

test('/mcp needs an agent token: none is 401, GET is 405', async () => {
  const res = await fetch(`${apiUrl}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: '{}',
  });
  assert.equal(res.status, 401);
  const get = await fetch(`${apiUrl}/mcp`, { headers: { authorization: `Bearer ${TOKENS.agentA}` } });
  assert.equal(get.status, 405);
});
