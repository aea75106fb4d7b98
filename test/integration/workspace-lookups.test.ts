/**
 * One request looks its workspace up once: `GET /v1/workspaces/:id/status` through the real API
 * (real Postgres, local sandboxes, a real bare repo), counting the statements that read the
 * `workspaces` table while the request runs — for one approach alone and for the router over
 * both. Before the workspace binding was passed along, the routed request read it three times
 * (router binding, the approach's record, the router binding again for the operation).
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { buildApp } from '../../api/app.js';
import { parseConfig } from '../../lib/config/index.js';
import type { Db } from '../../lib/db/index.js';
import { createMetrics } from '../../lib/metrics.js';
import { createRoutedGitService } from '../../lib/router/router.js';
import { createGitService, servingWorkspaceLookup, type GitService } from '../../lib/service/index.js';
import { createLocalProvider } from '../../lib/sandbox/local.js';
import { createWorkspaceRepository } from '../../lib/store/workspaces.js';
import { createTemporalClient } from '../../clients/temporal.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { createBareRepo } from '../helpers/git.js';
import { stackEnv } from '../helpers/stack.js';

const TOKEN = `agent-${randomBytes(12).toString('hex')}`;
const AGENT = 'lookup-agent';
const log = pino({ level: 'silent' });
let t: TestDb;
let root: string;
const cleanups: (() => unknown)[] = [];

/** Counts statements on `db` that read the workspaces table (SELECT … FROM workspaces). */
function countWorkspaceReads(db: Db): { reset(): void; readonly n: number } {
  let n = 0;
  const original = db.query.bind(db) as (...args: unknown[]) => unknown;
  (db as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const q = args[0];
    const text = typeof q === 'string' ? q : ((q as { text?: string } | undefined)?.text ?? '');
    if (/^\s*SELECT\b[\s\S]*\bFROM workspaces\b/i.test(text)) n++;
    return original(...args);
  };
  return {
    reset: () => {
      n = 0;
    },
    get n() {
      return n;
    },
  };
}

beforeAll(async () => {
  t = await freshDb('lookups');
  root = mkdtempSync(join(tmpdir(), 'sgc-lookups-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await t?.drop();
});

async function statusLookups(mode: 'simple' | 'routed'): Promise<number> {
  const config = parseConfig({
    service: { approach: mode },
    sandbox: { provider: 'local', localRoot: root, timeoutMs: 600_000 },
    pool: { min: 0, max: 2 },
    security: { encryptionKey: randomBytes(32).toString('base64') },
    api: { tokens: [{ name: 'agent', role: 'agent', agentId: AGENT, token: TOKEN }] },
    git: { remotes: [{ scheme: 'file', pathPrefix: tmpdir() }] },
  });
  const provider = createLocalProvider({ root, defaultTimeoutMs: 600_000 });
  cleanups.push(() => provider.close());
  const metrics = createMetrics({ defaultMetrics: false });
  const simple = createGitService({ config, db: t.db, metrics, log, provider, approach: 'simple' });
  cleanups.push(() => simple.close());
  let service: GitService = simple;
  if (mode === 'routed') {
    const pooled = createGitService({ config, db: t.db, metrics, log, provider, approach: 'pooled' });
    cleanups.push(() => pooled.close());
    service = createRoutedGitService({
      simple,
      pooled,
      metrics,
      log,
      flags: { get: () => undefined },
      findWorkspace: servingWorkspaceLookup(createWorkspaceRepository(t.db)),
    });
  }
  const repo = createBareRepo({ 'README.md': '# lookups\n' });
  cleanups.push(() => repo.cleanup());
  const ws = await service.createWorkspace({ agentId: AGENT, taskId: `status-${mode}`, repoUrl: repo.url });
  cleanups.push(() => service.release(ws.id));

  const client = await createTemporalClient(
    { ...config.temporal, address: stackEnv('SGC_TEST_TEMPORAL_ADDRESS') },
    { lazy: true },
  );
  cleanups.push(() => client.connection.close());
  const app = await buildApp({ config, service, temporal: { client, taskQueue: 'unused' }, metrics, db: t.db, log });
  cleanups.push(() => app.close());
  const base = await app.listen({ host: '127.0.0.1', port: 0 });

  const reads = countWorkspaceReads(t.db);
  const res = await fetch(`${base}/v1/workspaces/${ws.id}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const n = reads.n;
  assert.equal(res.status, 200, await res.text());
  // and again much later than any short-lived cache would last: still one read per request
  await new Promise((r) => setTimeout(r, 400));
  reads.reset();
  const again = await fetch(`${base}/v1/workspaces/${ws.id}/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(again.status, 200);
  assert.equal(reads.n, n, 'every request reads the same number of times');
  return n;
}

test('GET …/status reads the workspace once: one approach alone', async () => {
  assert.equal(await statusLookups('simple'), 1);
});

test('GET …/status reads the workspace once: routed over both approaches', async () => {
  assert.equal(await statusLookups('routed'), 1);
});
