import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { parsePorcelainV2, PorcelainParseError } from '../../lib/git/porcelain.js';

// fixtures captured from git 2.39 (`git status --porcelain=v2 --branch -z --untracked-files=all --ignored`)
const H = '422c2b7ab3b3c668038da977e4e93a5fc623169c';
const z = (...records: string[]): string => records.map((r) => `${r}\0`).join('');

test('clean tree with upstream and ahead/behind', () => {
  const s = parsePorcelainV2(
    z('# branch.oid cf69a42', '# branch.head main', '# branch.upstream origin/main', '# branch.ab +1 -2'),
  );
  assert.deepEqual(s, { branch: 'main', upstream: 'origin/main', ahead: 1, behind: 2, entries: [], clean: true });
});

test('empty output (no --branch) is a clean status with unknown branch', () => {
  assert.deepEqual(parsePorcelainV2(''), {
    branch: null,
    upstream: null,
    ahead: 0,
    behind: 0,
    entries: [],
    clean: true,
  });
});

test('ordinary, renamed (origPath in the next NUL field), untracked and ignored entries, paths with spaces', () => {
  const out = z(
    '# branch.oid 81a2833',
    '# branch.head agent/a1/t1',
    `1 .M N... 100644 100644 100644 ${H} ${H} a file.txt`,
    `2 R. N... 100644 100644 100644 ${H} ${H} R100 new name.txt`,
    'old name.txt',
    '1 A. N... 000000 100644 100644 0000000000000000000000000000000000000000 ' + `${H} dir/added.txt`,
    '? un tracked.txt',
    '! ign.log',
  );
  const s = parsePorcelainV2(out);
  assert.equal(s.branch, 'agent/a1/t1');
  assert.equal(s.upstream, null);
  assert.deepEqual(s.entries, [
    { path: 'a file.txt', index: '.', worktree: 'M', kind: 'changed' },
    { path: 'new name.txt', index: 'R', worktree: '.', kind: 'renamed', origPath: 'old name.txt' },
    { path: 'dir/added.txt', index: 'A', worktree: '.', kind: 'changed' },
    { path: 'un tracked.txt', index: '?', worktree: '?', kind: 'untracked' },
    { path: 'ign.log', index: '!', worktree: '!', kind: 'ignored' },
  ]);
  assert.equal(s.clean, false);
});

test('unmerged entry during a rebase, detached head', () => {
  const s = parsePorcelainV2(
    z('# branch.oid f42142e', '# branch.head (detached)', `u UU N... 100644 100644 100644 100644 ${H} ${H} ${H} a.txt`),
  );
  assert.equal(s.branch, null);
  assert.deepEqual(s.entries, [{ path: 'a.txt', index: 'U', worktree: 'U', kind: 'unmerged' }]);
  assert.equal(s.clean, false);
});

test('only ignored files: still clean', () => {
  assert.equal(parsePorcelainV2(z('# branch.head main', '! build/out.js')).clean, true);
});

test('an untracked file alone makes the tree dirty', () => {
  assert.equal(parsePorcelainV2(z('# branch.head main', '? x')).clean, false);
});

test('paths with newlines and unusual characters survive -z parsing', () => {
  const s = parsePorcelainV2(z('# branch.head main', '? we\nird "q" $(x).txt'));
  assert.equal(s.entries[0].path, 'we\nird "q" $(x).txt');
});

test('unknown headers (stash) are ignored; a bad ab header leaves zeros', () => {
  const s = parsePorcelainV2(z('# branch.head main', '# stash 3', '# branch.ab garbage'));
  assert.equal(s.ahead, 0);
  assert.equal(s.behind, 0);
});

test('malformed records throw PorcelainParseError', () => {
  assert.throws(() => parsePorcelainV2(z('1 .M N...')), PorcelainParseError);
  assert.throws(() => parsePorcelainV2(`2 R. N... 100644 100644 100644 ${H} ${H} R100 new.txt\0`), PorcelainParseError);
  assert.throws(() => parsePorcelainV2(z('X what')), PorcelainParseError);
  assert.throws(() => parsePorcelainV2(z('?nospace')), PorcelainParseError);
});
