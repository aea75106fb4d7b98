/**
 * The merge queue's git side (lib/git/queue.ts applyQueueBatch) on a real local-provider sandbox
 * and a real bare repository, without Temporal: the shapes a batch meets (plain commits, a
 * conflict, a staged ref of two commits, a patch already on the branch, an empty commit, a staged
 * commit already on the branch, a merge) — each answered as `git rebase <tip> <staged>` in arrival
 * order would answer it, each landed commit on the branch exactly once, every staged ref deleted.
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyQueueBatch, type QueueBatchItem } from '../../lib/git/queue.js';
import type { QueueOutcome } from '../../lib/git/types.js';
import { createLocalProvider, type LocalSandboxProvider } from '../../lib/sandbox/local.js';
import { createBareRepo, git } from '../helpers/git.js';

const COMMITTER = { name: 'queue', email: 'queue@test.invalid' };
let root: string;
let provider: LocalSandboxProvider;
const cleanups: (() => void)[] = [];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'sgc-gitqueue-'));
  provider = createLocalProvider({ root, defaultTimeoutMs: 600_000 });
});
afterAll(() => {
  provider.close();
  rmSync(root, { recursive: true, force: true });
  for (const c of cleanups) c();
});

function setup() {
  const repo = createBareRepo({ 'README.md': '# demo\n', 'shared.txt': 'line one\nline two\n' });
  cleanups.push(repo.cleanup);
  const work = mkdtempSync(join(tmpdir(), 'sgc-gitqueue-work-'));
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  git(work, 'clone', '--quiet', repo.bare, 'c');
  const c = join(work, 'c');
  const initial = git(c, 'rev-parse', 'HEAD').trim();
  const commit = (message: string, files: Record<string, string>, trailer?: string, ...extra: string[]): string => {
    for (const [p, content] of Object.entries(files)) writeFileSync(join(c, p), content);
    git(c, 'add', '-A');
    git(
      c,
      'commit',
      '--quiet',
      ...extra,
      '-m',
      message,
      ...(trailer ? ['--trailer', `Sgc-Operation: ${trailer}`] : []),
    );
    return git(c, 'rev-parse', 'HEAD').trim();
  };
  /** pushes `sha` to the operation's staged ref */
  const stage = (op: string, sha: string): QueueBatchItem => {
    git(c, 'push', '--quiet', '--force', 'origin', `${sha}:refs/sgc/queue/${op}`);
    return { operationId: op, ref: `refs/sgc/queue/${op}` };
  };
  const from = (sha: string): void => void git(c, 'checkout', '--quiet', '--force', '--detach', sha);
  /** commits on main, oldest first: [sha, subject, trailer values] */
  const branch = (): { sha: string; subject: string; ops: string[] }[] =>
    git(
      repo.bare,
      'log',
      '--reverse',
      '--format=%H%x1f%s%x1f%(trailers:key=Sgc-Operation,valueonly,separator=%x1f)%x1e',
      'main',
    )
      .split('\x1e')
      .map((r) => r.trim().split('\x1f'))
      .filter((f) => f[0])
      .map(([sha, subject, ...ops]) => ({ sha, subject, ops: ops.filter(Boolean) }));
  const apply = async (items: QueueBatchItem[]) => {
    const sb = await provider.create({ metadata: { test: 'git-queue' } });
    try {
      return await applyQueueBatch(sb, 'queue', { repoUrl: repo.url, branch: 'main', items, committer: COMMITTER });
    } finally {
      await provider.kill(sb.id);
    }
  };
  return { repo, c, initial, commit, stage, from, branch, apply };
}

function byOp(outcomes: QueueOutcome[]): Map<string, QueueOutcome> {
  return new Map(outcomes.map((o) => [o.operationId, o]));
}

test('a batch of every shape: landed in arrival order exactly once, the conflict alone left out, staged refs deleted', async () => {
  const s = setup();
  const items: QueueBatchItem[] = [];
  s.from(s.initial);
  items.push(s.stage('a', s.commit('a', { 'a.txt': 'a\n' }, 'a')));
  s.from(s.initial);
  items.push(s.stage('b', s.commit('b', { 'shared.txt': 'B\nline two\n' }, 'b')));
  s.from(s.initial);
  items.push(s.stage('c', s.commit('c', { 'shared.txt': 'C\nline two\n' }, 'c')));
  // two commits: an agent's local commit without the trailer, then the trailer's
  s.from(s.initial);
  s.commit('d1', { 'd1.txt': 'd1\n' });
  items.push(s.stage('d', s.commit('d2', { 'd2.txt': 'd2\n' }, 'd')));
  // the same change as a: dropped (already upstream), answered landed on the tip before it
  s.from(s.initial);
  items.push(s.stage('e', s.commit('e', { 'a.txt': 'a\n' }, 'e')));
  // an empty commit carrying its trailer is kept
  s.from(s.initial);
  items.push(s.stage('f', s.commit('f', {}, 'f', '--allow-empty')));
  // a staged commit already on the branch
  items.push(s.stage('g', s.initial));

  const res = await s.apply(items);
  assert.equal(res.pushed, true);
  assert.deepEqual(
    res.outcomes.map((o) => o.operationId),
    ['a', 'b', 'c', 'd', 'e', 'f', 'g'],
    'one outcome per item, in order',
  );
  const out = byOp(res.outcomes);
  const onMain = s.branch();
  assert.deepEqual(
    onMain.map((c) => c.subject),
    ['initial', 'a', 'b', 'd1', 'd2', 'f'],
  );
  const shaOf = (subject: string): string => onMain.find((c) => c.subject === subject)?.sha ?? '?';
  for (const [op, subject] of [
    ['a', 'a'],
    ['b', 'b'],
    ['d', 'd2'],
    ['f', 'f'],
  ]) {
    assert.deepEqual(
      out.get(op),
      { operationId: op, status: 'landed', commit: shaOf(subject), alreadyLanded: false },
      op,
    );
    assert.deepEqual(onMain.filter((c) => c.ops.includes(op)).length, 1, `${op} on the branch once`);
  }
  assert.deepEqual(out.get('c'), { operationId: 'c', status: 'conflict', files: ['shared.txt'] });
  assert.deepEqual(out.get('e'), { operationId: 'e', status: 'landed', commit: shaOf('d2'), alreadyLanded: true });
  assert.deepEqual(out.get('g'), { operationId: 'g', status: 'landed', commit: shaOf('f'), alreadyLanded: true });
  assert.equal(res.tip, shaOf('f'));
  assert.equal(git(s.repo.bare, 'show', 'main:shared.txt'), 'B\nline two\n');
  assert.equal(git(s.repo.bare, 'for-each-ref', 'refs/sgc/'), '');

  // the landed ones again (a retry after a crash, staged anew): every trailer found, none applied twice
  const head = git(s.c, 'rev-parse', 'HEAD').trim();
  const retry = ['a', 'b', 'd', 'f'].map((op) => s.stage(op, head));
  const again = (await s.apply(retry)).outcomes;
  assert.deepEqual(
    again,
    retry.map((it) => ({ ...out.get(it.operationId), alreadyLanded: true })),
  );
  assert.deepEqual(
    s.branch().map((c) => c.subject),
    ['initial', 'a', 'b', 'd1', 'd2', 'f'],
  );
});

test('a staged patch already on the branch and changed since: dropped as rebase drops it, not a conflict; the batch goes on', async () => {
  const s = setup();
  // on main: x (line one → X), then y (line one → Y)
  s.from(s.initial);
  const x = s.commit('x', { 'shared.txt': 'X\nline two\n' });
  s.commit('y', { 'shared.txt': 'Y\nline two\n' });
  git(s.c, 'push', '--quiet', 'origin', 'HEAD:main');
  const tipBefore = git(s.repo.bare, 'rev-parse', 'main').trim();
  const items: QueueBatchItem[] = [];
  s.from(s.initial);
  items.push(s.stage('p', s.commit('p', { 'p.txt': 'p\n' }, 'p')));
  // x's change again, made on the initial commit: picked onto y it would conflict
  s.from(s.initial);
  git(s.c, 'cherry-pick', '--quiet', x);
  git(s.c, 'commit', '--quiet', '--amend', '-m', 'x again', '--trailer', 'Sgc-Operation: q');
  items.push(s.stage('q', git(s.c, 'rev-parse', 'HEAD').trim()));
  s.from(s.initial);
  items.push(s.stage('r', s.commit('r', { 'r.txt': 'r\n' }, 'r')));

  const out = byOp((await s.apply(items)).outcomes);
  const onMain = s.branch();
  assert.deepEqual(
    onMain.map((c) => c.subject),
    ['initial', 'x', 'y', 'p', 'r'],
  );
  assert.notEqual(onMain[2].sha, '?');
  assert.equal(onMain[2].sha, tipBefore);
  assert.deepEqual(out.get('q'), { operationId: 'q', status: 'landed', commit: onMain[3].sha, alreadyLanded: true });
  assert.deepEqual(out.get('r'), { operationId: 'r', status: 'landed', commit: onMain[4].sha, alreadyLanded: false });
  assert.equal(git(s.repo.bare, 'show', 'main:shared.txt'), 'Y\nline two\n');
});

test('a staged ref holding a merge: applied as rebase applies it (linearised), the others too', async () => {
  const s = setup();
  const items: QueueBatchItem[] = [];
  s.from(s.initial);
  items.push(s.stage('k', s.commit('k', { 'k.txt': 'k\n' }, 'k')));
  s.from(s.initial);
  const m1 = s.commit('m1', { 'm1.txt': 'm1\n' });
  s.from(s.initial);
  s.commit('m2', { 'm2.txt': 'm2\n' });
  git(s.c, 'merge', '--quiet', '--no-edit', m1);
  items.push(s.stage('m', git(s.c, 'rev-parse', 'HEAD').trim()));
  s.from(s.initial);
  items.push(s.stage('n', s.commit('n', { 'n.txt': 'n\n' }, 'n')));

  const res = await s.apply(items);
  assert.deepEqual(
    res.outcomes.map((o) => [o.operationId, o.status]),
    [
      ['k', 'landed'],
      ['m', 'landed'],
      ['n', 'landed'],
    ],
  );
  const subjects = s.branch().map((c) => c.subject);
  assert.equal(subjects.length, 5);
  assert.deepEqual([subjects[0], subjects[1], subjects[4]], ['initial', 'k', 'n']);
  assert.deepEqual(subjects.slice(2, 4).sort(), ['m1', 'm2']);
  for (const f of ['k.txt', 'm1.txt', 'm2.txt', 'n.txt'])
    assert.ok(git(s.repo.bare, 'show', `main:${f}`).length > 0, f);
});
