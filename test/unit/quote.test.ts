import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertValidArgv, shellJoin, shellQuote } from '../../lib/sandbox/quote.js';
import { isDomainError, ErrorType } from '../../lib/errors.js';

const TRICKY = [
  '',
  ' ',
  'plain',
  "it's",
  "''",
  "'\\''",
  '"double"',
  '$(touch pwned)',
  '`touch pwned`',
  '; rm -rf /tmp/x',
  'a\nb\n',
  '\ttab',
  '$HOME',
  '${HOME}',
  '*',
  '~',
  '!',
  'a|b&c>d<e',
  '\\',
  "\\'",
  '-n',
  '--',
  'FOO=bar',
  'ünïcødé ✓',
  '#comment',
];

test('shellQuote wraps in single quotes and escapes embedded single quotes', () => {
  assert.equal(shellQuote('abc'), "'abc'");
  assert.equal(shellQuote(''), "''");
  assert.equal(shellQuote("it's"), "'it'\\''s'");
});

test('every tricky argument survives /bin/sh byte for byte and runs nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sgc-quote-'));
  try {
    for (const s of TRICKY) {
      const out = execFileSync('/bin/sh', ['-c', shellJoin(['printf', '%s', s])], { cwd: dir, encoding: 'utf8' });
      assert.equal(out, s, `argument ${JSON.stringify(s)}`);
    }
    assert.equal(existsSync(join(dir, 'pwned')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('shellJoin keeps argument boundaries (one argv element stays one argument)', () => {
  const out = execFileSync('/bin/sh', ['-c', shellJoin(['sh', '-c', 'echo $#', 'sh', 'a b', '', "c'd"])], {
    encoding: 'utf8',
  });
  assert.equal(out.trim(), '3');
});

test('a first word that looks like an assignment or keyword is still a command name', () => {
  const r = (() => {
    try {
      execFileSync('/bin/sh', ['-c', shellJoin(['FOO=bar', 'true'])], { stdio: 'pipe' });
      return 0;
    } catch (e) {
      return (e as { status: number }).status;
    }
  })();
  assert.equal(r, 127, 'FOO=bar must be looked up as a command, not treated as an assignment');
});

test('NUL bytes, empty argv, non-strings and an empty command are rejected as validation errors', () => {
  const cases: unknown[][] = [[], ['echo', 'a\0b'], ['echo', 3], ['']];
  for (const argv of cases) {
    assert.throws(
      () => assertValidArgv(argv),
      (e) => isDomainError(e, ErrorType.Validation) && e.details.field === 'argv',
      JSON.stringify(argv),
    );
  }
  assert.throws(
    () => shellJoin(['echo', 'x\0']),
    (e) => isDomainError(e, ErrorType.Validation),
  );
  assert.throws(
    () => shellQuote('\0'),
    (e) => isDomainError(e, ErrorType.Validation),
  );
  assert.doesNotThrow(() => assertValidArgv(['echo', '']));
});
