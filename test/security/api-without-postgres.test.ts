/**
 * Issue 9 item 10: the API starts while Postgres is down, answers 503 with Retry-After (it
 * neither exits nor hangs), and becomes ready by itself once Postgres is reachable — migrations
 * are retried in the background, no restart.
 *
 * The real API process (`api/server.ts`, as `npm run api` runs it) against the real Temporal dev
 * server and a real, empty (unmigrated) Postgres database behind a TCP proxy this test controls:
 * black-holed at start, let through later.
 */
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort } from '../../scripts/stack.js';
import { startTcpProxy, viaProxy, type TcpProxy } from '../../scripts/testing/tcp-proxy.js';
import { stackEnv } from '../helpers/stack.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ADMIN = `admin-${randomBytes(12).toString('hex')}`;
const dbName = `sgc_nopg_${randomBytes(5).toString('hex')}`;

let proxy: TcpProxy;
let api: ChildProcess | undefined;
let base: string;
let sandboxRoot: string;
let stderr = '';
let exited: number | null = null;

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: stackEnv('SGC_TEST_PG_ADMIN_URL') });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  await admin((c) => c.query(`CREATE DATABASE ${dbName}`));
  const u = new URL(stackEnv('SGC_TEST_PG_ADMIN_URL'));
  u.pathname = `/${dbName}`;
  proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
  proxy.drop(); // Postgres is unreachable before the API starts
  sandboxRoot = mkdtempSync(join(tmpdir(), 'sgc-nopg-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  api = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'api/server.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      LOG_LEVEL: 'warn',
      SGC_CONFIG: join(ROOT, 'temporal.yaml'),
      DATABASE_URL: viaProxy(u.toString(), proxy),
      TEMPORAL_ADDRESS: stackEnv('SGC_TEST_TEMPORAL_ADDRESS'),
      API_PORT: String(port),
      SGC_API_TOKENS: JSON.stringify([{ name: 'root', role: 'admin', token: ADMIN }]),
      SGC_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      SANDBOX_PROVIDER: 'local',
      SGC__sandbox__localRoot: sandboxRoot,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  api.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  api.on('exit', (code) => {
    exited = code ?? -1;
  });
});

afterAll(async () => {
  if (api && exited === null) {
    api.kill('SIGTERM');
    await new Promise((r) => {
      api!.once('exit', r);
      setTimeout(r, 10_000);
    });
  }
  await proxy?.close();
  await admin((c) => c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)).catch(() => undefined);
  rmSync(sandboxRoot, { recursive: true, force: true });
});

async function request(
  path: string,
  token?: string,
): Promise<{ status: number; retryAfter: string | null; body: string } | null> {
  try {
    const res = await fetch(`${base}${path}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(15_000),
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() };
  } catch {
    return null; // not listening (yet)
  }
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== null)
      throw new Error(`the API exited (${exited}) while waiting for ${what}: ${stderr.slice(-2_000)}`);
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr: ${stderr.slice(-2_000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('API without Postgres', () => {
  test('starts while Postgres is unreachable, answers 503 + Retry-After, and is ready once Postgres is back, without a restart', async () => {
    const health = await until('the API listening', () => request('/healthz'), 60_000);
    assert.equal(health.status, 503, health.body);
    assert.ok(Number(health.retryAfter) > 0, `Retry-After on /healthz: ${health.retryAfter}`);
    assert.equal(JSON.parse(health.body).postgres, false);

    const t0 = Date.now();
    const flags = await request('/v1/flags', ADMIN);
    assert.ok(flags, 'answered, not hung');
    assert.equal(flags.status, 503, flags.body);
    assert.ok(Number(flags.retryAfter) > 0);
    assert.ok(Date.now() - t0 < 10_000, 'a 503 comes within seconds');

    proxy.forward();
    const ready = await until(
      'healthy',
      async () => {
        const h = await request('/healthz');
        return h?.status === 200 ? h : null;
      },
      60_000,
    );
    assert.equal(JSON.parse(ready.body).postgres, true);
    // the schema was migrated in the background: the flags table exists
    const after = await request('/v1/flags', ADMIN);
    assert.equal(after?.status, 200, after?.body);
    assert.equal((JSON.parse(after!.body) as { flags: unknown[] }).flags.length, 8);
    assert.equal(exited, null, 'the same process, never restarted');
  });
});
