/**
 * Git operations on workspaces in real (local-provider) sandboxes against real bare repositories.
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBareRepo, cloneAndRead, git } from '../helpers/git.js';
import { startGitHttpServer } from '../helpers/git-http.js';
import { createLocalProvider } from '../../lib/sandbox/local.js';
import type { LocalSandboxProvider } from '../../lib/sandbox/local.js';
import type { Sandbox } from '../../lib/sandbox/types.js';
import {
  cloneWorkspace,
  commitAndPush,
  gitDiff,
  gitStatus,
  pullRebase,
  readWorkspaceFile,
  writeWorkspaceFile,
  backoffDelay,
} from '../../lib/git/index.js';
import type { CommitAndPushOptions, GitCredentials } from '../../lib/git/index.js';
import { agentBranchName } from '../../lib/git/validate.js';
import { DomainError, isDomainError, ErrorType } from '../../lib/errors.js';

const AUTHOR = { name: 'Agent Test', email: 'agent@test.invalid' };
const DIR = 'ws';
const FAST = { maxAttempts: 3, backoffBaseMs: 10, backoffMaxMs: 50 } as const;

let root: string;
let provider: LocalSandboxProvider;
const repos: { cleanup(): void }[] = [];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'sgc-gitops-'));
  provider = createLocalProvider({ root, defaultTimeoutMs: 600_000 });
});
afterAll(() => {
  provider.close();
  rmSync(root, { recursive: true, force: true });
  for (const r of repos) r.cleanup();
});

function repo(
  files: Record<string, string> = { 'README.md': '# demo\n', 'shared.txt': 'line one\nline two\n' },
): ReturnType<typeof createBareRepo> {
  const r = createBareRepo(files);
  repos.push(r);
  return r;
}

async function workspace(url: string, agentBranch: string, creds?: GitCredentials): Promise<Sandbox> {
  const sb = await provider.create({ metadata: { test: 'git-ops' } });
  await cloneWorkspace(sb, { repoUrl: url, baseBranch: 'main', agentBranch, dir: DIR, author: AUTHOR, creds });
  return sb;
}

function push(
  sb: Sandbox,
  o: Partial<CommitAndPushOptions> & { message: string; branch: string },
): ReturnType<typeof commitAndPush> {
  return commitAndPush(sb, DIR, { ...FAST, ...o });
}

/** An in-process mutex: the simplest `withLock`. */
function mutex(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
}

async function sh(sb: Sandbox, script: string, ...args: string[]): Promise<string> {
  const r = await sb.run(['sh', '-c', script, 'sh', ...args], { cwd: DIR, envs: { GIT_CONFIG_NOSYSTEM: '1' } });
  assert.equal(r.exitCode, 0, `${script}: ${r.stderr}`);
  return r.stdout;
}

async function assertCleanNoRebase(sb: Sandbox): Promise<void> {
  const st = await gitStatus(sb, DIR);
  assert.equal(st.clean, true, JSON.stringify(st.entries));
  assert.ok(st.branch, 'HEAD must be on a branch, not detached by a rebase');
  const inProgress = await sh(
    sb,
    'for d in rebase-merge rebase-apply; do [ -d "$(git rev-parse --git-path $d)" ] && echo $d; done; true',
  );
  assert.equal(inProgress.trim(), '');
}

test('clone checks out a new agent branch from the base with the author configured', async () => {
  const r = repo();
  const branch = agentBranchName('a1', 't1');
  const sb = await workspace(r.url, branch);
  const st = await gitStatus(sb, DIR);
  assert.equal(st.branch, 'agent/a1/t1');
  assert.equal(st.clean, true);
  assert.equal(await readWorkspaceFile(sb, DIR, 'shared.txt'), 'line one\nline two\n');
  assert.equal((await sh(sb, 'git config user.name; git config user.email')).trim(), `${AUTHOR.name}\n${AUTHOR.email}`);
});

test('clone is idempotent: a re-run keeps local commits; a broken directory is cloned again', async () => {
  const r = repo();
  const branch = agentBranchName('a1', 'idem');
  const sb = await workspace(r.url, branch);
  await writeWorkspaceFile(sb, DIR, 'local.txt', 'unpushed\n');
  await sh(sb, 'git add -A && git commit -qm "local only"');
  await cloneWorkspace(sb, { repoUrl: r.url, baseBranch: 'main', agentBranch: branch, dir: DIR, author: AUTHOR });
  assert.equal((await sh(sb, 'git log -1 --format=%s')).trim(), 'local only');
  assert.equal((await gitStatus(sb, DIR)).branch, branch);
  // a crash mid-clone leaves a directory without a usable HEAD
  await sh(sb, 'rm -rf .git && echo junk > junk.txt');
  await cloneWorkspace(sb, { repoUrl: r.url, baseBranch: 'main', agentBranch: branch, dir: DIR, author: AUTHOR });
  const st = await gitStatus(sb, DIR);
  assert.equal(st.branch, branch);
  assert.equal(st.clean, true);
  await assert.rejects(readWorkspaceFile(sb, DIR, 'junk.txt'), (e) => isDomainError(e, ErrorType.NotFound));
});

test('clone tracks an agent branch the remote already has', async () => {
  const r = repo();
  const branch = agentBranchName('a2', 't1');
  const first = await workspace(r.url, branch);
  await writeWorkspaceFile(first, DIR, 'from-first.txt', 'hello\n');
  await push(first, { message: 'first session', branch });
  const second = await workspace(r.url, branch);
  assert.equal(await readWorkspaceFile(second, DIR, 'from-first.txt'), 'hello\n');
  const st = await gitStatus(second, DIR);
  assert.equal(st.upstream, `origin/${branch}`);
  assert.equal(st.ahead, 0);
});

test('clone errors are classified: unknown repo → NotFound, unknown base branch → NotFound', async () => {
  const sb = await provider.create();
  await assert.rejects(
    cloneWorkspace(sb, {
      repoUrl: 'file:///nonexistent/sgc/repo.git',
      baseBranch: 'main',
      agentBranch: 'agent/x/y',
      dir: DIR,
      author: AUTHOR,
    }),
    (e) => isDomainError(e, ErrorType.NotFound),
  );
  const r = repo();
  await assert.rejects(
    cloneWorkspace(sb, {
      repoUrl: r.url,
      baseBranch: 'no-such-branch',
      agentBranch: 'agent/x/y',
      dir: DIR,
      author: AUTHOR,
    }),
    (e) => isDomainError(e, ErrorType.NotFound),
  );
});

test('write, status, diff, commit and push: the commit lands on the agent branch', async () => {
  const r = repo();
  const branch = agentBranchName('a3', 't1');
  const sb = await workspace(r.url, branch);
  await writeWorkspaceFile(sb, DIR, 'src/new file.ts', 'export const x = 1;\n');
  await writeWorkspaceFile(sb, DIR, 'shared.txt', 'line one\nline 2 changed\n');
  const st = await gitStatus(sb, DIR);
  assert.deepEqual(st.entries.map((e) => [e.path, e.kind]).sort(), [
    ['shared.txt', 'changed'],
    ['src/new file.ts', 'untracked'],
  ]);
  const diff = await gitDiff(sb, DIR);
  assert.match(diff, /\+line 2 changed/);
  assert.match(diff, /new file mode[\s\S]*\+export const x = 1;/);
  // diff leaves the index alone: the new file is still untracked
  assert.deepEqual((await gitStatus(sb, DIR)).entries, st.entries);
  assert.match(await gitDiff(sb, DIR, { path: 'shared.txt' }), /^diff --git a\/shared.txt/);
  assert.equal(await gitDiff(sb, DIR, { staged: true }), '');

  const attempts: number[] = [];
  const res = await push(sb, {
    message: 'feat: add x',
    branch,
    operationId: 'op-land-1',
    onAttempt: (n) => attempts.push(n),
  });
  assert.equal(res.alreadyLanded, false);
  assert.equal(res.attempts, 1);
  assert.deepEqual(attempts, [1]);
  assert.equal(res.branch, branch);
  const check = cloneAndRead(r.url, branch);
  assert.equal(check.subjects[0], 'feat: add x');
  assert.equal(check.read('src/new file.ts'), 'export const x = 1;\n');
  assert.equal(git(check.dir, 'rev-parse', 'HEAD').trim(), res.commit);
  assert.match(git(check.dir, 'log', '-1', '--format=%B'), /Sgc-Operation: op-land-1/);
  await assertCleanNoRebase(sb);
});

test('nothing to commit is a validation error', async () => {
  const r = repo();
  const sb = await workspace(r.url, agentBranchName('a4', 't1'));
  await assert.rejects(
    push(sb, { message: 'empty', branch: agentBranchName('a4', 't1') }),
    (e) => isDomainError(e, ErrorType.Validation) && /nothing to commit/.test(e.message),
  );
});

test('two workspaces edit the same line of one branch: the second gets Conflict naming the file, its workspace clean', async () => {
  const r = repo();
  const a = await workspace(r.url, agentBranchName('a5', 'left'));
  const b = await workspace(r.url, agentBranchName('a5', 'right'));
  await writeWorkspaceFile(a, DIR, 'shared.txt', 'line one by A\nline two\n');
  await writeWorkspaceFile(b, DIR, 'shared.txt', 'line one by B\nline two\n');
  await push(a, { message: 'A edits', branch: 'main' });
  const before = (await sh(b, 'git rev-parse HEAD || true')).trim();
  const err = await push(b, { message: 'B edits', branch: 'main' }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(isDomainError(err, ErrorType.Conflict), `expected Conflict, got ${String(err)}`);
  assert.deepEqual(err.details.files, ['shared.txt']);
  assert.equal(err.category, 'conflict');
  assert.match(err.message, /shared\.txt/);
  await assertCleanNoRebase(b);
  // the workspace sits at its own local commit, not the pre-commit HEAD and not the remote's
  assert.equal((await sh(b, 'git log -1 --format=%s')).trim(), 'B edits');
  assert.notEqual((await sh(b, 'git rev-parse HEAD')).trim(), before);
  assert.equal(await readWorkspaceFile(b, DIR, 'shared.txt'), 'line one by B\nline two\n');
  assert.deepEqual(cloneAndRead(r.url, 'main').subjects.slice(0, 1), ['A edits']);
});

test('10 workspaces push one branch concurrently behind a lock: all 10 commits land', async () => {
  const r = repo();
  const sbs = await Promise.all(Array.from({ length: 10 }, (_, i) => workspace(r.url, agentBranchName('c', `t${i}`))));
  await Promise.all(sbs.map((sb, i) => writeWorkspaceFile(sb, DIR, `agent-${i}.txt`, `agent ${i}\n`)));
  const withLock = mutex();
  const results = await Promise.all(
    sbs.map((sb, i) => push(sb, { message: `agent ${i} commit`, branch: 'main', withLock })),
  );
  assert.ok(
    results.every((x) => x.attempts === 1),
    'the lock serialises: nobody is rejected',
  );
  const check = cloneAndRead(r.url, 'main');
  for (let i = 0; i < 10; i++) {
    assert.equal(check.subjects.filter((s) => s === `agent ${i} commit`).length, 1, `agent ${i}`);
    assert.equal(check.read(`agent-${i}.txt`), `agent ${i}\n`);
  }
});

test('10 workspaces push one branch concurrently without a lock: rejected pushes retry and all land', async () => {
  const r = repo();
  const sbs = await Promise.all(Array.from({ length: 10 }, (_, i) => workspace(r.url, agentBranchName('n', `t${i}`))));
  await Promise.all(sbs.map((sb, i) => writeWorkspaceFile(sb, DIR, `nolock-${i}.txt`, `${i}\n`)));
  const results = await Promise.all(
    sbs.map((sb, i) =>
      push(sb, {
        message: `nolock ${i}`,
        branch: 'main',
        maxAttempts: 40,
        backoffBaseMs: 20,
        backoffMaxMs: 300,
      }),
    ),
  );
  assert.ok(
    results.some((x) => x.attempts > 1),
    'expected at least one rejected push to be retried',
  );
  const subjects = cloneAndRead(r.url, 'main').subjects;
  for (let i = 0; i < 10; i++) assert.equal(subjects.filter((s) => s === `nolock ${i}`).length, 1);
});

test('a retry with the same operationId after a successful push reports alreadyLanded; the commit is there once', async () => {
  const r = repo();
  const branch = agentBranchName('a6', 't1');
  const sb = await workspace(r.url, branch);
  await writeWorkspaceFile(sb, DIR, 'once.txt', 'once\n');
  const first = await push(sb, { message: 'exactly once', branch, operationId: 'wf-123' });
  const again = await push(sb, { message: 'exactly once', branch, operationId: 'wf-123' });
  assert.equal(again.alreadyLanded, true);
  assert.equal(again.commit, first.commit);
  assert.equal(cloneAndRead(r.url, branch).subjects.filter((s) => s === 'exactly once').length, 1);
  // a different operation with nothing new is not a retry
  await assert.rejects(push(sb, { message: 'other', branch, operationId: 'wf-456' }), (e) =>
    isDomainError(e, ErrorType.Validation),
  );
});

test('a crash after the commit but before the push: the retry pushes the same commit once', async () => {
  const r = repo();
  const branch = agentBranchName('a7', 't1');
  const sb = await workspace(r.url, branch);
  await writeWorkspaceFile(sb, DIR, 'crash.txt', 'crash\n');
  const crash = new DomainError(ErrorType.Network, 'worker died');
  await assert.rejects(
    push(sb, { message: 'survives a crash', branch, operationId: 'wf-crash', withLock: () => Promise.reject(crash) }),
    (e) => e === crash,
  );
  const res = await push(sb, { message: 'survives a crash', branch, operationId: 'wf-crash' });
  assert.equal(res.alreadyLanded, false);
  const subjects = cloneAndRead(r.url, branch).subjects;
  assert.equal(subjects.filter((s) => s === 'survives a crash').length, 1);
  // unpushed local commits from an earlier operation are pushed by a later one
  await sh(sb, 'echo more > more.txt && git add -A && git commit -qm "committed by hand"');
  const later = await push(sb, { message: 'ignored: nothing staged', branch, operationId: 'wf-later' });
  assert.equal(cloneAndRead(r.url, branch).subjects[0], 'committed by hand');
  assert.equal(later.alreadyLanded, false);
});

test('a push rejected on every attempt escalates with ConflictEscalated after maxAttempts, backing off between', async () => {
  const r = repo();
  const intruder = join(r.root, 'intruder');
  git(r.root, 'clone', '--quiet', r.url, intruder);
  const sb = await workspace(r.url, agentBranchName('a8', 't1'));
  // every push first lets someone else land a commit on main (a pre-push hook runs after our fetch)
  const hook = [
    '#!/bin/sh',
    'unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE',
    `cd '${intruder}' || exit 1`,
    'date +%s%N >> intr.txt && git add intr.txt && git -c user.name=i -c user.email=i@i commit -qm intrusion && git push -q origin HEAD:main',
  ].join('\n');
  await sb.writeFile(`${DIR}/.git/hooks/pre-push`, `${hook}\n`);
  await sh(sb, 'chmod +x .git/hooks/pre-push');
  await writeWorkspaceFile(sb, DIR, 'mine.txt', 'mine\n');
  const sleeps: number[] = [];
  const seen: [number, unknown][] = [];
  const err = await push(sb, {
    message: 'never lands',
    branch: 'main',
    maxAttempts: 3,
    backoffBaseMs: 100,
    backoffMaxMs: 150,
    sleep: async (ms) => void sleeps.push(ms),
    onAttempt: (n, e) => void seen.push([n, e]),
  }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(isDomainError(err, ErrorType.ConflictEscalated), `expected ConflictEscalated, got ${String(err)}`);
  assert.equal(err.details.attempts, 3);
  assert.equal(err.category, 'conflict');
  assert.deepEqual(
    seen.map(([n]) => n),
    [1, 2, 3],
  );
  assert.equal(seen[0][1], undefined);
  assert.ok(isDomainError(seen[1][1], ErrorType.PushRejected));
  assert.equal(sleeps.length, 2);
  assert.ok(sleeps[0] >= 50 && sleeps[0] <= 100, `first backoff ${sleeps[0]}`);
  assert.ok(sleeps[1] >= 75 && sleeps[1] <= 150, `second backoff capped: ${sleeps[1]}`);
  const subjects = cloneAndRead(r.url, 'main').subjects;
  assert.ok(!subjects.includes('never lands'));
  assert.equal(
    subjects.filter((x) => x === 'intrusion').length,
    3,
    'each attempt was beaten by a real concurrent push',
  );
  await assertCleanNoRebase(sb);
});

test('backoff grows exponentially with jitter and respects the cap', () => {
  assert.equal(
    backoffDelay(1, 100, 1000, () => 0),
    50,
  );
  assert.equal(
    backoffDelay(1, 100, 1000, () => 1),
    100,
  );
  assert.equal(
    backoffDelay(3, 100, 1000, () => 1),
    400,
  );
  assert.equal(
    backoffDelay(10, 100, 1000, () => 1),
    1000,
  );
  assert.equal(
    backoffDelay(10, 100, 1000, () => 0),
    500,
  );
});

test('pull rebases onto the remote and carries uncommitted changes along', async () => {
  const r = repo();
  const a = await workspace(r.url, 'main');
  const b = await workspace(r.url, 'main');
  await writeWorkspaceFile(a, DIR, 'from-a.txt', 'a\n');
  await push(a, { message: 'A adds a file', branch: 'main' });
  await writeWorkspaceFile(b, DIR, 'shared.txt', 'line one\nline two\nlocal edit\n');
  const res = await pullRebase(b, DIR, { branch: 'main' });
  assert.equal(res.updated, true);
  assert.equal(await readWorkspaceFile(b, DIR, 'from-a.txt'), 'a\n');
  assert.equal(await readWorkspaceFile(b, DIR, 'shared.txt'), 'line one\nline two\nlocal edit\n');
  assert.equal((await sh(b, 'git rev-parse HEAD')).trim(), res.head);
  assert.equal((await pullRebase(b, DIR, { branch: 'main' })).updated, false);
  // an agent branch the remote has never seen: nothing to pull
  assert.equal((await pullRebase(b, DIR, { branch: 'agent/never/pushed' })).updated, false);
});

test('pull with a conflicting local commit: Conflict naming the file, rebase aborted, workspace clean at its commit', async () => {
  const r = repo();
  const a = await workspace(r.url, 'main');
  const b = await workspace(r.url, 'main');
  await writeWorkspaceFile(a, DIR, 'shared.txt', 'remote line one\nline two\n');
  await push(a, { message: 'remote edit', branch: 'main' });
  await writeWorkspaceFile(b, DIR, 'shared.txt', 'local line one\nline two\n');
  await sh(b, 'git add -A && git commit -qm "local edit"');
  const err = await pullRebase(b, DIR, { branch: 'main' }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(isDomainError(err, ErrorType.Conflict), String(err));
  assert.deepEqual(err.details.files, ['shared.txt']);
  await assertCleanNoRebase(b);
  assert.equal((await sh(b, 'git log -1 --format=%s')).trim(), 'local edit');
});

test('pull whose uncommitted changes conflict: Conflict, and the workspace is exactly as before the pull', async () => {
  const r = repo();
  const a = await workspace(r.url, 'main');
  const b = await workspace(r.url, 'main');
  await writeWorkspaceFile(a, DIR, 'shared.txt', 'remote line one\nline two\n');
  await push(a, { message: 'remote edit', branch: 'main' });
  const headBefore = (await sh(b, 'git rev-parse HEAD')).trim();
  await writeWorkspaceFile(b, DIR, 'shared.txt', 'uncommitted line one\nline two\n');
  const err = await pullRebase(b, DIR, { branch: 'main' }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(isDomainError(err, ErrorType.Conflict), String(err));
  assert.deepEqual(err.details.files, ['shared.txt']);
  assert.equal((await sh(b, 'git rev-parse HEAD')).trim(), headBefore);
  assert.equal(await readWorkspaceFile(b, DIR, 'shared.txt'), 'uncommitted line one\nline two\n');
  assert.equal((await sh(b, 'git stash list')).trim(), '', 'no stash left behind');
  const st = await gitStatus(b, DIR);
  assert.deepEqual(
    st.entries.map((e) => [e.path, e.kind]),
    [['shared.txt', 'changed']],
  );
});

test('file paths are confined to the workspace: traversal, .git and symlinks out are rejected', async () => {
  const r = repo();
  const sb = await workspace(r.url, agentBranchName('a9', 't1'));
  await sb.writeFile('outside-workspace.txt', 'home but not workspace');
  for (const p of ['../outside-workspace.txt', '/etc/passwd', '.git/config', '.git/hooks/pre-push', 'a/../../x']) {
    await assert.rejects(
      writeWorkspaceFile(sb, DIR, p, 'x'),
      (e) => isDomainError(e, ErrorType.Validation) && e.details.field === 'path',
      p,
    );
    await assert.rejects(readWorkspaceFile(sb, DIR, p), (e) => isDomainError(e, ErrorType.Validation), p);
  }
  // a checked-out symlink that leads elsewhere in the sandbox (another workspace) or into .git
  await sh(sb, 'ln -s .. up && ln -s .git gitlink && ln -s ../nowhere dangling');
  await assert.rejects(readWorkspaceFile(sb, DIR, 'up/outside-workspace.txt'), (e) =>
    isDomainError(e, ErrorType.Validation),
  );
  await assert.rejects(writeWorkspaceFile(sb, DIR, 'gitlink/config', 'x'), (e) =>
    isDomainError(e, ErrorType.Validation),
  );
  await assert.rejects(writeWorkspaceFile(sb, DIR, 'dangling', 'x'), (e) => isDomainError(e, ErrorType.Validation));
  assert.equal(await sb.readFile('outside-workspace.txt'), 'home but not workspace');
});

test('injection: a branch with shell metacharacters is rejected; a message with $(…) is committed literally', async () => {
  const r = repo();
  const sb = await workspace(r.url, agentBranchName('a10', 't1'));
  const marker = join(sb.home, 'pwned');
  await assert.rejects(
    push(sb, { message: 'x', branch: 'x;touch /tmp/pwned' }),
    (e) => isDomainError(e, ErrorType.Validation) && e.details.field === 'branch',
  );
  await assert.rejects(
    cloneWorkspace(sb, {
      repoUrl: r.url,
      baseBranch: 'main',
      agentBranch: 'x;touch /tmp/pwned',
      dir: 'other',
      author: AUTHOR,
    }),
    (e) => isDomainError(e, ErrorType.Validation) && e.details.field === 'agentBranch',
  );
  await assert.rejects(
    cloneWorkspace(sb, {
      repoUrl: 'ext::sh -c touch% /tmp/pwned',
      baseBranch: 'main',
      agentBranch: 'agent/a/b',
      dir: 'other',
      author: AUTHOR,
    }),
    (e) => isDomainError(e, ErrorType.Validation) && e.details.field === 'repoUrl',
  );
  const message = `fix: $(touch ${marker}) \`touch ${marker}\`; touch ${marker} 'quoted' "dq"\n\n# not stripped`;
  await writeWorkspaceFile(sb, DIR, 'inj.txt', 'x\n');
  const branch = agentBranchName('a10', 't1');
  await push(sb, { message, branch });
  const check = cloneAndRead(r.url, branch);
  assert.equal(git(check.dir, 'log', '-1', '--format=%B').trim(), message);
  assert.equal(existsSync(marker), false);
  assert.equal(existsSync('/tmp/pwned'), false);
});

test('credentials reach git only through the environment: never argv, config, ps or errors', async () => {
  const token = `tok_${Math.random().toString(36).slice(2)}_secret`;
  const r = repo();
  git(r.bare, 'config', 'http.receivepack', 'true');
  const server = await startGitHttpServer({ projectRoot: r.root, username: 'x-access-token', password: token });
  // record every argv sent to the sandbox and poll the host's process table meanwhile
  const argvs: string[][] = [];
  const psSnapshots: string[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      psSnapshots.push(
        await new Promise<string>((res) => execFile('ps', ['-eo', 'args'], (_e, out) => res(out ?? ''))),
      );
      await new Promise((res) => setTimeout(res, 5));
    }
  })();
  try {
    const base = await provider.create();
    const sb: Sandbox = { ...base, run: (argv, o) => (argvs.push(argv), base.run(argv, o)) } as Sandbox;
    const url = `${server.url}/remote.git`;
    const branch = agentBranchName('cred', 't1');
    const host = new URL(server.url).host;
    const creds = { token, protocol: 'http', host };
    await cloneWorkspace(sb, {
      repoUrl: url,
      baseBranch: 'main',
      agentBranch: branch,
      dir: DIR,
      author: AUTHOR,
      creds,
    });
    await writeWorkspaceFile(sb, DIR, 'auth.txt', 'with token\n');
    await commitAndPush(sb, DIR, { ...FAST, message: 'pushed over http with a token', branch, creds });
    assert.equal(cloneAndRead(r.url, branch).subjects[0], 'pushed over http with a token');
    assert.ok(server.seenAuth.length > 0, 'the token must have reached the server');

    // wrong token and no token: Auth errors that do not quote the token
    await writeWorkspaceFile(sb, DIR, 'auth2.txt', 'x\n');
    const wrong = `${token}_wrong`;
    const e1 = await commitAndPush(sb, DIR, {
      ...FAST,
      message: 'wrong token',
      branch,
      creds: { token: wrong, protocol: 'http', host },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(isDomainError(e1, ErrorType.Auth), String(e1));
    assert.ok(!JSON.stringify({ m: e1.message, d: e1.details, s: e1.stack }).includes(wrong));
    const e2 = await pullRebase(sb, DIR, { branch }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(isDomainError(e2, ErrorType.Auth), String(e2));

    assert.ok(argvs.length > 5);
    assert.ok(!argvs.some((a) => a.some((x) => x.includes(token))), 'token in a sandbox argv');
    assert.ok(!(await sb.readFile(`${DIR}/.git/config`)).includes(token), 'token in .git/config');
    assert.ok(!(await sh(sb, 'git config --get remote.origin.url')).includes('@'), 'credentials in the remote URL');
  } finally {
    polling = false;
    await poller;
    await server.close();
  }
  assert.ok(psSnapshots.length > 0);
  assert.ok(!psSnapshots.some((s) => s.includes(token)), 'token visible in ps');
});
