/**
 * The sandbox shell scripts live as lib/git/scripts/*.sh and are read once at module load: they
 * must be found under the test runner (as under tsx), parse as POSIX sh, and take every piece of
 * data as a positional parameter.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
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
