/**
 * The sandbox shell scripts live as lib/git/scripts/*.sh and are read once at module load: they
 * must be found under the test runner (as under tsx), parse as POSIX sh, and take every piece of
 * data as a positional parameter.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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

/**
 * A real full disk (a 4 MiB tmpfs in a private mount namespace: `unshare -m`, `-rm` when not root)
 * under one push attempt: the fetched tip brings another agent's 512 KiB file, and the disk has
 * room for the rebase's own state but not for that file. Then space comes back and the same
 * operation is retried, as the activity's retry does after the 503.
 */
function fullDiskRebaseScenario(failure: string): { out: string; remote: string; bigFile: Buffer } {
  const root = mkdtempSync(join(tmpdir(), 'sgc-fulldisk-'));
  const remote = join(root, 'remote.git');
  const other = join(root, 'other');
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'a',
    GIT_AUTHOR_EMAIL: 'a@b.test',
    GIT_COMMITTER_NAME: 'a',
    GIT_COMMITTER_EMAIL: 'a@b.test',
  };
  const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, encoding: 'utf8', env });
  git(root, 'init', '-q', '--bare', '-b', 'main', remote);
  git(root, 'clone', '-q', remote, other);
  git(other, 'checkout', '-q', '-b', 'main');
  writeFileSync(join(other, 'readme.txt'), 'base\n');
  git(other, 'add', '-A');
  git(other, 'commit', '-q', '-m', 'base');
  git(other, 'push', '-q', 'origin', 'HEAD:main');
  // the other agent's change: pushed after our workspace was cloned, so our push must rebase onto it
  const bigFile = randomBytes(512 * 1024);
  writeFileSync(join(other, 'big.bin'), bigFile);
  git(other, 'add', '-A');
  git(other, 'commit', '-q', '-m', 'other agent');
  const disk = join(root, 'disk');
  mkdirSync(disk);
  const scenario = `
set -u
mount -t tmpfs -o size=4m tmpfs "$DISK" || { echo "mount failed"; exit 90; }
cd "$DISK" && git clone -q "$REMOTE" ws && cd ws || exit 91
echo mine > mine.txt
echo "prepare1: $(sh -c "$PREPARE" sh "agent push" "Sgc-Operation: op-x" op-x Sgc-Operation)"
git -C "$OTHER" push -q origin HEAD:main
git fetch -q origin
dd if=/dev/zero of="$DISK/filler" bs=4k 2>/dev/null
truncate -s -128K "$DISK/filler"
${failure}
echo "push1 stderr: $(tr '\\n' ' ' < "$DISK/push1.err")"
rm -f "$DISK/filler"
# the agent writes another file before its retry: it is the agent's, not the failed rebase's
echo later > later.txt
echo "prepare2: $(sh -c "$PREPARE" sh "agent push" "Sgc-Operation: op-x" op-x Sgc-Operation)"
echo "push2: $(sh -c "$PUSH" sh main op-x Sgc-Operation 2>"$DISK/push2.err" | head -1) $(tr '\\n' ' ' < "$DISK/push2.err")"
echo "status: $(git status --porcelain | tr '\\n' ' ')"
echo "later: $(cat later.txt)"
`;
  const unshare = process.getuid?.() === 0 ? ['-m'] : ['-rm'];
  try {
    const out = execFileSync('unshare', [...unshare, 'bash', '-c', scenario], {
      encoding: 'utf8',
      env: {
        ...env,
        DISK: disk,
        REMOTE: remote,
        OTHER: other,
        PREPARE: SCRIPTS.prepare,
        PUSH: SCRIPTS.push,
        RESTORE: SCRIPTS.restore,
      },
    });
    return { out, remote, bigFile };
  } catch (e) {
    const { status, stdout, stderr } = e as { status: number; stdout: string; stderr: string };
    throw new Error(`the full-disk scenario could not run (exit ${status}): ${stdout}\n${stderr}`);
  }
}

/** What the two scenarios share: the retry lands the operation once, nothing else changed. */
function assertRetryLandedOnce({ out, remote, bigFile }: ReturnType<typeof fullDiskRebaseScenario>): void {
  const line = (k: string): string => out.split('\n').find((l) => l.startsWith(`${k}:`)) ?? `${k}: (missing)`;
  assert.match(line('push1 stderr'), /could not detach HEAD/, `the checkout was cut short:\n${out}`);
  assert.match(line('prepare2'), /^prepare2: retry$/, `the retry pushes what the operation committed:\n${out}`);
  assert.match(line('push2'), /^push2: ok/, `the retry landed:\n${out}`);
  const bare = (...args: string[]): string => execFileSync('git', ['--git-dir', remote, ...args], { encoding: 'utf8' });
  const carrying = bare('log', '--format=%H', '--fixed-strings', '--grep=Sgc-Operation: op-x', 'main')
    .split('\n')
    .filter(Boolean);
  assert.equal(carrying.length, 1, `one commit on the remote carries the operation:\n${out}`);
  assert.ok(
    execFileSync('git', ['--git-dir', remote, 'show', 'main:big.bin']).equals(bigFile),
    "the other agent's file is intact on the remote",
  );
  assert.equal(bare('show', 'main:mine.txt'), 'mine\n');
  assert.equal(
    bare('ls-tree', '--name-only', 'main').split('\n').filter(Boolean).sort().join(' '),
    'big.bin mine.txt readme.txt',
  );
  // the agent's later write is still its own, uncommitted: the retry pushes what was committed
  assert.equal(line('later'), 'later: later');
  assert.equal(line('status'), 'status: ?? later.txt ');
}

test('a rebase a full disk cuts short leaves nothing behind: the retry lands the operation once, no other file touched', () => {
  // issue 12's disk-full fault: the checkout toward the fetched tip wrote part of another agent's
  // file and failed ("unable to write file …", "could not detach HEAD"); the failed rebase left that
  // part and a deleted own file in the workspace, the retry committed them under the same
  // operation, and the remote got the operation twice, the second commit truncating the other file
  const r = fullDiskRebaseScenario(
    'echo "push1: $(sh -c "$PUSH" sh main op-x Sgc-Operation 2>"$DISK/push1.err" | head -1)"',
  );
  assert.match(r.out, /^push1: (conflict|fail)/m, `the first attempt met the full disk:\n${r.out}`);
  assert.match(r.out, /unable to write file big\.bin/, `git's own words for it:\n${r.out}`);
  assertRetryLandedOnce(r);
});

test('a rebase cut short that could not be undone then (the disk still full) is undone before the next operation', () => {
  // push.sh undoes a failed rebase at once; when the disk is still too full for that, the journal
  // it wrote before the rebase stays, and prepare.sh undoes it before staging anything. Here the
  // rebase is push.sh's, run by hand with its journal, and nothing undoes it until prepare.sh
  const r = fullDiskRebaseScenario(
    'eval "$RESTORE"; journal_rebase refs/remotes/origin/main && git -c commit.gpgsign=false rebase --quiet refs/remotes/origin/main 2>"$DISK/push1.err"; echo "state: $(git status --porcelain | tr \'\\n\' \' \')"',
  );
  assert.match(r.out, /^state: .*big\.bin/m, `the cut-short rebase left the other agent's file behind:\n${r.out}`);
  assertRetryLandedOnce(r);
});
