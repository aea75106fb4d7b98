import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseConfig } from '../../lib/config/index.js';

function file(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sgc-config-'));
  const p = join(dir, 'temporal.yaml');
  writeFileSync(p, content);
  return p;
}

test("the shipped temporal.yaml loads and carries the seeds' defaults", () => {
  const c = loadConfig({ path: 'temporal.yaml', env: {} });
  assert.equal(c.pool.min, 3);
  assert.equal(c.pool.max, 10);
  assert.equal(c.pool.ttlSeconds, 3600);
  assert.equal(c.lock.ttlSeconds, 30);
  assert.equal(c.lock.acquireTimeoutMs, 5000);
  assert.equal(c.validation.maxWeeks, 6);
  assert.equal(c.validation.thresholds.concurrency, 10);
  assert.equal(c.sandbox.pricePerSecond, 0.00003);
  assert.equal(c.service.approach, 'routed');
});

test('an empty config gets every default', () => {
  const c = parseConfig({});
  assert.equal(c.temporal.taskQueues.git, 'sgc-git');
  assert.equal(c.api.port, 8080);
  assert.ok(Object.keys(c.queries).some((k) => k.startsWith('validation.')));
});

test('a bad value stops start-up naming the key path and the reason', () => {
  const p = file('pool:\n  max: -1\nsandbox:\n  provider: docker\n');
  assert.throws(
    () => loadConfig({ path: p, env: {} }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const paths = e.issues.map((i) => i.path);
      assert.ok(paths.includes('pool.max'), paths.join());
      assert.ok(paths.includes('sandbox.provider'), paths.join());
      assert.match(e.message, /sandbox\.provider: /);
      return true;
    },
  );
});

test('min above max is refused with the key path', () => {
  assert.throws(() => parseConfig({ pool: { min: 11, max: 10 } }), /pool\.min: min must not exceed max/);
});

test('invalid YAML and a non-mapping top level are config errors', () => {
  assert.throws(() => loadConfig({ path: file('pool: [1, 2\n'), env: {} }), /not valid YAML/);
  assert.throws(() => loadConfig({ path: file('- a\n- b\n'), env: {} }), /top level must be a mapping/);
});

test('a config file that was named but does not exist is an error', () => {
  assert.throws(() => loadConfig({ path: '/nonexistent/temporal.yaml', env: {} }), /file not found/);
});

test('environment variables override keys, including SGC__ paths', () => {
  const c = loadConfig({
    path: file('api:\n  port: 8080\n'),
    env: { API_PORT: '9001', DATABASE_URL: 'postgres://db/x', SGC__pool__max: '20', SERVICE_APPROACH: 'pooled' },
  });
  assert.equal(c.api.port, 9001);
  assert.equal(c.postgres.url, 'postgres://db/x');
  assert.equal(c.pool.max, 20);
  assert.equal(c.service.approach, 'pooled');
});

test('tokens come from SGC_API_TOKENS and are validated', () => {
  const ok = loadConfig({
    path: file('{}'),
    env: { SGC_API_TOKENS: JSON.stringify([{ name: 'a', role: 'admin', token: 'x'.repeat(20) }]) },
  });
  assert.equal(ok.api.tokens[0].role, 'admin');
  assert.throws(
    () =>
      loadConfig({
        path: file('{}'),
        env: { SGC_API_TOKENS: JSON.stringify([{ name: 'a', role: 'root', token: 'short' }]) },
      }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.issues.some((i) => i.path === 'api.tokens.0.role') &&
      e.issues.some((i) => i.path === 'api.tokens.0.token'),
  );
});

test('the week-3 timeout goal is the command timeout the service runs with, not a copy; the plan limit defaults to E2B Hobby', () => {
  const c = parseConfig({ sandbox: { commandTimeoutMs: 45_000 } });
  assert.equal(c.validation.goals.operationTimeoutSeconds, 45);
  assert.equal(parseConfig({}).validation.goals.operationTimeoutSeconds, 120);
  assert.equal(parseConfig({}).sandbox.planConcurrencyLimit, 20);
  assert.equal(parseConfig({ sandbox: { planConcurrencyLimit: 100 } }).sandbox.planConcurrencyLimit, 100);
});
