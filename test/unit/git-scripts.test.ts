/**
 * The sandbox shell scripts live as lib/git/scripts/*.sh and are read once at module load: they
 * must be found under the test runner (as under tsx), parse as POSIX sh, and take every piece of
 * data as a positional parameter.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SCRIPTS } from '../../lib/git/scripts.js';

const SCRIPT_DIR = join(import.meta.dirname, '../../lib/git/scripts');

test('every .sh file in lib/git/scripts is loaded, and every loaded script has its file', () => {
  const files = readdirSync(SCRIPT_DIR)
    .filter((f) => f.endsWith('.sh'))
    .map((f) => f.slice(0, -3))
    .sort();
  const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  assert.equal(files.map(camel).sort().join(' '), Object.keys(SCRIPTS).sort().join(' '));
});

test('the scripts parse as POSIX sh and carry no comment lines into argv', () => {
  for (const [name, text] of Object.entries(SCRIPTS)) {
    assert.ok(text.length > 20, `${name} is loaded`);
    assert.doesNotMatch(text, /^\s*#/m, `${name}: comment lines are dropped`);
    execFileSync('/bin/sh', ['-n', '-c', text], { stdio: 'pipe' });
  }
});

test('confine.sh takes a hostile path as data: nothing runs, the path is judged outside', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sgc-scripts-'));
  try {
    const code = (path: string): number => {
      try {
        execFileSync('/bin/sh', ['-c', SCRIPTS.confine, 'sh', path], { cwd: dir, stdio: 'pipe' });
        return 0;
      } catch (e) {
        return (e as { status: number }).status;
      }
    };
    assert.equal(code('$(touch pwned)'), 0); // a (strange) file name inside the workspace
    assert.equal(code('../x; touch pwned'), 3);
    assert.equal(code('.git/config'), 4);
    assert.equal(existsSync(join(dir, 'pwned')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('prepare.sh and abort-stale-rebase.sh clear a rebase a full disk cut short while writing its own state (no `onto`: --abort refuses)', () => {
  // issue 12's disk-full fault: `git rebase --abort` failed on such a workspace, and every later
  // commit of it failed with an internal error (500) after the disk had space again
  const dir = mkdtempSync(join(tmpdir(), 'sgc-scripts-'));
  const git = (...args: string[]): string =>
    execFileSync('git', ['-c', 'user.email=a@b.test', '-c', 'user.name=a', ...args], { cwd: dir, encoding: 'utf8' });
  try {
    git('init', '-q', '-b', 'main');
    git('commit', '-q', '--allow-empty', '-m', 'init');
    for (const script of [SCRIPTS.abortStaleRebase, SCRIPTS.prepare]) {
      mkdirSync(join(dir, '.git', 'rebase-merge'));
      writeFileSync(join(dir, '.git', 'rebase-merge', 'head-name'), 'refs/heads/main\n');
      writeFileSync(join(dir, 'a.txt'), `${script.length}\n`);
      const out = execFileSync('/bin/sh', ['-c', script, 'sh', 'msg', 'Sgc-Operation: op-1', 'op-1', 'Sgc-Operation'], {
        cwd: dir,
        encoding: 'utf8',
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: 'a',
          GIT_AUTHOR_EMAIL: 'a@b.test',
          GIT_COMMITTER_NAME: 'a',
          GIT_COMMITTER_EMAIL: 'a@b.test',
        },
      });
      assert.equal(existsSync(join(dir, '.git', 'rebase-merge')), false, 'the stale rebase state is gone');
      assert.equal(git('symbolic-ref', 'HEAD').trim(), 'refs/heads/main', 'HEAD stays on its branch');
      if (script === SCRIPTS.prepare) assert.equal(out.trim(), 'committed');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
