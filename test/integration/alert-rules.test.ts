import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stackEnv } from '../helpers/stack.js';

const MONITORING = fileURLToPath(new URL('../../monitoring/', import.meta.url));

function promtool(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(stackEnv('SGC_PROMTOOL_BIN'), args, { encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** alerts.yml and its unit tests copied to a temp dir, with `edit` applied to the rules. */
function copyWith(edit: (rules: string) => string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'sgc-alerts-'));
  writeFileSync(join(dir, 'alerts.yml'), edit(readFileSync(join(MONITORING, 'alerts.yml'), 'utf8')));
  copyFileSync(join(MONITORING, 'alerts.test.yml'), join(dir, 'alerts.test.yml'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('monitoring/alerts.yml passes promtool check rules', () => {
  const r = promtool('check', 'rules', join(MONITORING, 'alerts.yml'));
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /SUCCESS: 6 rules found/);
});

test('the alert rules fire and stay quiet as their promtool unit tests expect', () => {
  const r = promtool('test', 'rules', join(MONITORING, 'alerts.test.yml'));
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /SUCCESS/);
});

test('a broken copy of the rules fails promtool check rules', () => {
  const c = copyWith((s) =>
    s.replace(
      'max(gitops_reconciliation_divergence_ratio) > 0.001',
      'max(gitops_reconciliation_divergence_ratio > 0.001',
    ),
  );
  try {
    const r = promtool('check', 'rules', join(c.dir, 'alerts.yml'));
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /FAILED|error/i);
  } finally {
    c.cleanup();
  }
});

test('the unit tests catch a divergence threshold loosened from 0.1% to 1%', () => {
  const c = copyWith((s) => {
    assert.ok(s.includes('gitops_reconciliation_divergence_ratio) > 0.001'));
    return s.replace(
      'gitops_reconciliation_divergence_ratio) > 0.001',
      'gitops_reconciliation_divergence_ratio) > 0.01',
    );
  });
  try {
    const r = promtool('test', 'rules', join(c.dir, 'alerts.test.yml'));
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /ReconciliationDivergence/);
  } finally {
    c.cleanup();
  }
});
