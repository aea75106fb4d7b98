/** Exchanging commits with the remote: commit + push (with retries and an idempotency trailer), pull --rebase. */
import { setTimeout as delay } from 'node:timers/promises';
import type { CommandResult, Sandbox } from '../sandbox/types.js';
import { DomainError, ErrorType, NO_SPACE, isDomainError } from '../errors.js';
import { classifyGitError } from './classify.js';
import { fetchBranch } from './clone.js';
import { remoteConfig } from './credentials.js';
import { fail, run, runOk, workspaceDir, type GitRun } from './runner.js';
import { SCRIPTS } from './scripts.js';
import type { CommitPushResult, GitCredentials, PullResult } from './types.js';
import { validateBranchName, validateCommitMessage, validateOperationId } from './validate.js';

export const OPERATION_TRAILER = 'Sgc-Operation';

async function abortStaleRebase(g: GitRun): Promise<void> {
  await runOk(g, 'rebase --abort', ['sh', '-c', SCRIPTS.abortStaleRebase]);
}

export async function headCommit(g: GitRun): Promise<string> {
  return (await runOk(g, 'rev-parse', ['git', 'rev-parse', 'HEAD'])).stdout.trim();
}

/** Files with unresolved conflicts, NUL-separated so any file name survives. */
async function conflictedFiles(g: GitRun): Promise<string[]> {
  const r = await run(g, ['git', 'diff', '--name-only', '--diff-filter=U', '-z']);
  return r.stdout.split('\0').filter(Boolean);
}

/**
 * Rebases HEAD onto `upstream`. On a conflict it aborts (the workspace returns to where it was)
 * and throws Conflict naming the files; any other failure is classified.
 */
async function rebaseOnto(g: GitRun, upstream: string, autostash: boolean): Promise<void> {
  const before = await headCommit(g);
  const argv = [
    'git',
    '-c',
    'commit.gpgsign=false',
    'rebase',
    '--quiet',
    ...(autostash ? ['--autostash'] : []),
    upstream,
  ];
  const r = await run(g, argv);
  if (r.exitCode !== 0) {
    const files = await conflictedFiles(g);
    await run(g, ['sh', '-c', SCRIPTS.abortStaleRebase]);
    if (files.length > 0 || /CONFLICT \(|could not apply/.test(r.stdout + r.stderr)) {
      throw conflictError(g, r, files, upstream);
    }
    throw fail(g, 'rebase', r);
  }
  // the rebase succeeded but re-applying the autostash conflicted: put everything back as it
  // was before the pull (the stash applies cleanly on the old HEAD) and report the conflict
  const files = await conflictedFiles(g);
  if (files.length > 0) {
    await runOk(g, 'reset', ['git', 'reset', '--quiet', '--hard', before]);
    await runOk(g, 'stash pop', ['git', 'stash', 'pop', '--quiet']);
    throw conflictError(g, r, files, upstream);
  }
}

function conflictError(g: GitRun, r: CommandResult, files: string[], upstream: string): DomainError {
  const e = classifyGitError({
    exitCode: r.exitCode,
    stderr: `${r.stderr}\nCONFLICT (rebase onto ${upstream})`,
    stdout: r.stdout,
    op: 'rebase',
    files,
    secrets: [g.creds?.token],
  });
  e.details.upstream = upstream;
  return e;
}

/** Exponential backoff with equal jitter: a random delay in [d/2, d], d = min(max, base·2^(n-1)). */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const d = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(d / 2 + random() * (d / 2));
}

export interface CommitAndPushOptions {
  message: string;
  /** the remote branch to rebase onto and push to */
  branch: string;
  /** stable id (workflow id): recorded as an `Sgc-Operation` trailer so a retry lands once */
  operationId?: string;
  creds?: GitCredentials;
  /** attempts before a repeatedly rejected push escalates (ConflictEscalated) */
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** serialises fetch → rebase → push across workspaces (the push lock); each attempt runs inside it */
  withLock?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** called at the start of every attempt, with the previous attempt's error from the second on */
  onAttempt?: (attempt: number, err?: unknown) => void;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Stages everything, commits (with an `Sgc-Operation: <operationId>` trailer when given), then
 * per attempt — inside `withLock` when given — fetches `origin/<branch>`, returns
 * `alreadyLanded` if a commit with this operationId is already there, rebases onto it and pushes
 * `HEAD:refs/heads/<branch>`.
 *
 * - Nothing staged: if HEAD carries this operationId it is a retry and goes on to push; if there
 *   are local commits not on any remote-tracking ref they are pushed; otherwise
 *   Validation("nothing to commit").
 * - Push rejected (someone pushed in between): retried after backoff; after `maxAttempts`
 *   rejected attempts → ConflictEscalated with `details.attempts`.
 * - A real rebase conflict: the rebase is aborted, the workspace stays clean at the local commit,
 *   Conflict with `details.files` is thrown at once (retrying cannot resolve it).
 * - Other failures (auth, network, not found) are thrown classified, without retrying here: the
 *   caller (a Temporal activity) owns retries of transient faults.
 */
export async function commitAndPush(sb: Sandbox, dir: string, o: CommitAndPushOptions): Promise<CommitPushResult> {
  const message = validateCommitMessage(o.message);
  const branch = validateBranchName(o.branch, 'branch');
  const operationId = o.operationId === undefined ? undefined : validateOperationId(o.operationId);
  if (!Number.isInteger(o.maxAttempts) || o.maxAttempts < 1) {
    throw new DomainError(ErrorType.Validation, 'maxAttempts: must be a positive integer', {
      details: { field: 'maxAttempts' },
    });
  }
  const g: GitRun = { sb, cwd: workspaceDir(sb, dir), creds: o.creds };
  const sleep = o.sleep ?? ((ms: number) => delay(ms));

  // one sandbox command (scripts/prepare.sh): abort a stale rebase, stage everything, commit when
  // anything is staged, else tell a retry (HEAD carries this operationId) from local commits or
  // nothing to push. It runs outside the push lock at a lower CPU priority: when many agents push
  // at once and share a machine, the one holding the lock (whom all others wait for) keeps the CPU.
  const prep = await run(g, [
    'nice',
    '-n',
    '19',
    'sh',
    '-c',
    SCRIPTS.prepare,
    'sh',
    message,
    operationId ? `${OPERATION_TRAILER}: ${operationId}` : '',
    operationId ?? '',
    OPERATION_TRAILER,
  ]);
  const [prepStatus, prepArg] = prep.stdout.trim().split(' ');
  if (prep.exitCode !== 0) {
    throw fail(g, prepStatus === 'fail' && prepArg ? prepArg : 'commit', { ...prep, stdout: '' });
  }
  // 'committed': staged changes are now a commit carrying the trailer; 'retry': HEAD already does
  if (prepStatus === 'unpushed' && Number(prepArg) === 0) {
    throw new DomainError(ErrorType.Validation, 'nothing to commit', { details: { field: 'changes' } });
  }

  let lastErr: unknown;
  for (let attempt = 1; attempt <= o.maxAttempts; attempt++) {
    o.onAttempt?.(attempt, lastErr);
    const once = (): Promise<CommitPushResult> => pushAttempt(g, branch, operationId, attempt);
    try {
      const res = await (o.withLock ? o.withLock(once) : once());
      return res.commit === '' ? { ...res, commit: await headCommit(g) } : res;
    } catch (e) {
      if (!isDomainError(e, ErrorType.PushRejected)) throw e;
      lastErr = e;
      if (attempt < o.maxAttempts) await sleep(backoffDelay(attempt, o.backoffBaseMs, o.backoffMaxMs));
    }
  }
  throw new DomainError(
    ErrorType.ConflictEscalated,
    `push to ${branch} still rejected after ${o.maxAttempts} attempts`,
    {
      details: { attempts: o.maxAttempts, branch, lastError: (lastErr as Error | undefined)?.message },
      cause: lastErr,
    },
  );
}

/**
 * One attempt, meant to run inside the push lock. It is a single sandbox command
 * (scripts/push.sh), so the lock is held for the git work only, not for a round trip per step
 * through the caller's event loop (which 100 concurrent agents keep busy).
 */
async function pushAttempt(
  g: GitRun,
  branch: string,
  operationId: string | undefined,
  attempt: number,
): Promise<CommitPushResult> {
  const r = await run(
    g,
    ['sh', '-c', SCRIPTS.push, 'sh', branch, operationId ?? '', OPERATION_TRAILER, ...remoteConfig(g.creds)],
    { remote: true },
  );
  const nl = r.stdout.indexOf('\n');
  const head = nl < 0 ? r.stdout : r.stdout.slice(0, nl);
  const [status, arg] = head.split(' ');
  // HEAD is read after the lock is released (one command fewer while holding it)
  if (r.exitCode === 0 && status === 'ok') return { commit: '', branch, attempts: attempt, alreadyLanded: false };
  if (r.exitCode === 0 && status === 'landed' && arg)
    return { commit: arg, branch, attempts: attempt, alreadyLanded: true };
  const upstream = `refs/remotes/origin/${branch}`;
  // a rebase cut short by a full disk is no conflict (retrying once space is freed resolves it)
  if (status === 'conflict' && !NO_SPACE.test(r.stderr)) {
    const files = r.stdout
      .slice(nl + 1)
      .split('\0')
      .filter(Boolean);
    const res = { ...r, stdout: '' };
    if (files.length > 0 || /CONFLICT \(|could not apply/.test(r.stderr)) throw conflictError(g, res, files, upstream);
    throw fail(g, 'rebase', res);
  }
  throw fail(g, status === 'fail' && arg ? arg : 'push', { ...r, stdout: '' });
}

/**
 * Fetches `origin/<branch>` and rebases the workspace onto it, uncommitted changes carried
 * along (autostash). A conflict — while rebasing commits or re-applying the uncommitted
 * changes — leaves the workspace exactly as before the pull and throws Conflict naming the files.
 * A branch the remote does not have yet is nothing to pull: `updated: false`.
 */
export async function pullRebase(
  sb: Sandbox,
  dir: string,
  o: { branch: string; creds?: GitCredentials },
): Promise<PullResult> {
  const branch = validateBranchName(o.branch, 'branch');
  const g: GitRun = { sb, cwd: workspaceDir(sb, dir), creds: o.creds };
  await abortStaleRebase(g);
  const before = await headCommit(g);
  if (!(await fetchBranch(g, branch))) return { head: before, updated: false };
  await rebaseOnto(g, `refs/remotes/origin/${branch}`, true);
  const head = await headCommit(g);
  return { head, updated: head !== before };
}
