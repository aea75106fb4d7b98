import { afterAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalProvider } from '../../lib/sandbox/local.js';
import { createProvider } from '../../lib/sandbox/index.js';
import { configSchema } from '../../lib/config/schema.js';
import { isDomainError, ErrorType } from '../../lib/errors.js';
import { runSandboxContract } from '../contract/sandbox-contract.js';

const roots: string[] = [];
function newRoot(): string {
  const r = mkdtempSync(join(tmpdir(), 'sgc-local-sb-'));
  roots.push(r);
  return r;
}
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

runSandboxContract('local', () => {
  const provider = createLocalProvider({ root: newRoot(), defaultTimeoutMs: 60_000, reapIntervalMs: 200 });
  return { provider, cleanup: async () => provider.close() };
});

test('local: a sandbox survives a provider restart (reconnect by id from disk)', async () => {
  const root = newRoot();
  const p1 = createLocalProvider({ root, defaultTimeoutMs: 60_000 });
  const sb = await p1.create({ metadata: { agentId: 'a1' }, envs: { KEEP: 'me' } });
  await sb.writeFile('w/f.txt', 'persisted');
  p1.close();
  const p2 = createLocalProvider({ root, defaultTimeoutMs: 60_000 });
  try {
    const again = await p2.connect(sb.id);
    assert.deepEqual(again.metadata, { agentId: 'a1' });
    assert.equal(again.startedAt.getTime(), sb.startedAt.getTime());
    assert.equal(await again.readFile('w/f.txt'), 'persisted');
    assert.equal((await again.run(['sh', '-c', 'printf %s "$KEEP"'])).stdout, 'me');
    assert.deepEqual(
      (await p2.list({ metadata: { agentId: 'a1' } })).map((i) => i.id),
      [sb.id],
    );
  } finally {
    p2.close();
  }
});

test('local: a handle sees what another provider instance did to its sandbox (extended, then killed)', async () => {
  // every run checks the sandbox's metadata file; a copy kept between runs must follow the file
  const root = newRoot();
  const p1 = createLocalProvider({ root, defaultTimeoutMs: 60_000 });
  const p2 = createLocalProvider({ root, defaultTimeoutMs: 60_000 });
  try {
    const sb = await p1.create({ timeoutMs: 1_500 });
    assert.equal((await sb.run(['true'])).exitCode, 0);
    const other = await p2.connect(sb.id);
    await other.setTimeout(60_000);
    await sleep(1_700);
    // past the original lifetime: alive only because the other instance extended it
    assert.equal((await sb.run(['true'])).exitCode, 0);
    assert.equal((await p1.info(sb.id)).endAt.getTime() > Date.now() + 50_000, true);
    await other.kill();
    await assert.rejects(sb.run(['true']), (e) => isDomainError(e, ErrorType.SandboxGone));
    await assert.rejects(sb.run(['true'], { cwd: 'x' }), (e) => isDomainError(e, ErrorType.SandboxGone));
  } finally {
    p1.close();
    p2.close();
  }
});

test('local: the reaper timer removes an expired sandbox without anyone touching it', async () => {
  const root = newRoot();
  const p = createLocalProvider({ root, defaultTimeoutMs: 60_000, reapIntervalMs: 100 });
  try {
    const sb = await p.create({ timeoutMs: 300 });
    assert.ok(existsSync(join(root, sb.id, 'home')));
    await sleep(900);
    assert.equal(existsSync(join(root, sb.id)), false);
  } finally {
    p.close();
  }
});

test('local: kill removes the directory and stops running commands', async () => {
  const root = newRoot();
  const p = createLocalProvider({ root, defaultTimeoutMs: 60_000 });
  try {
    const sb = await p.create();
    const running = sb.run(['sleep', '30']);
    await sleep(200);
    await sb.kill();
    const r = await running;
    assert.notEqual(r.exitCode, 0);
    assert.equal(existsSync(join(root, sb.id)), false);
  } finally {
    p.close();
  }
});

test('local: commands see only PATH, HOME, LANG and the given envs', async () => {
  const p = createLocalProvider({ root: newRoot(), defaultTimeoutMs: 60_000 });
  try {
    const sb = await p.create({ envs: { A: '1' } });
    const names = (await sb.run(['env'], { envs: { B: '2' } })).stdout
      .trim()
      .split('\n')
      .map((l) => l.split('=')[0])
      .sort();
    // /bin/sh itself adds PWD (and dash may add OLDPWD); nothing else of the parent's
    assert.deepEqual(
      names.filter((n) => !['PWD', 'OLDPWD', 'SHLVL', '_'].includes(n)),
      ['A', 'B', 'HOME', 'LANG', 'PATH'],
    );
    assert.equal((await sb.run(['sh', '-c', 'printf %s "$HOME"'])).stdout, sb.home);
  } finally {
    p.close();
  }
});

test('local: fault injection fails operations with Network errors and adds latency, switchable at runtime', async () => {
  const p = createLocalProvider({ root: newRoot(), defaultTimeoutMs: 60_000 });
  try {
    const sb = await p.create();
    p.setFaults({ failRate: 1 });
    await assert.rejects(sb.run(['true']), (e) => isDomainError(e, ErrorType.Network) && e.category === 'network');
    await assert.rejects(p.create(), (e) => isDomainError(e, ErrorType.Network));
    assert.equal(await sb.isHealthy(), false);
    p.setFaults({ latencyMs: 300 });
    const t0 = Date.now();
    assert.equal((await sb.run(['true'])).exitCode, 0);
    assert.ok(Date.now() - t0 >= 290);
    p.setFaults({});
    assert.equal(await sb.isHealthy(), true);
  } finally {
    p.close();
  }
});

test('createProvider picks local from config; e2b without a key names the setting', () => {
  const cfg = configSchema.parse({ sandbox: { localRoot: newRoot() } }).sandbox;
  const p = createProvider(cfg);
  assert.equal(p.name, 'local');
  (p as ReturnType<typeof createLocalProvider>).close();
  const e2b = configSchema.parse({ sandbox: { provider: 'e2b' } }).sandbox;
  assert.throws(
    () => createProvider(e2b, { env: {} }),
    (e) =>
      isDomainError(e, ErrorType.Validation) && /sandbox\.e2bApiKey/.test(e.message) && /E2B_API_KEY/.test(e.message),
  );
  assert.equal(createProvider(e2b, { env: { E2B_API_KEY: 'e2b_test_key_not_used' } }).name, 'e2b');
});
