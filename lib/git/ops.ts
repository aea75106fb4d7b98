/**
 * Git operations on a workspace inside a sandbox — the API the service layer (approach 1 and 2)
 * builds on. Every command is argv sent through `sb.run` (the provider shell-quotes it); the few
 * multi-step helpers are constant `sh -c` scripts that receive all data as positional
 * parameters, so nothing user-supplied is ever spliced into shell text.
 *
 * Credentials: the token travels only in the command's environment (`GIT_SGC_TOKEN`) and reaches
 * git through an inline credential helper (`-c credential.helper=!f…`) that prints it on `get`.
 * It is never in argv, a URL, .git/config, a log line or an error message.
 */
import { posix } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { CommandResult, RunOptions, Sandbox } from '../sandbox/types.js';
import type { CommitPushResult, GitStatus, PullResult } from '../service/types.js';
import { DomainError, ErrorType, isDomainError } from '../errors.js';
import { classifyGitError, redact } from './classify.js';
import { parsePorcelainV2 } from './porcelain.js';
import {
  validateBranchName, validateCommitMessage, validateOperationId, validateRepoUrl, validateWorkspacePath,
} from './validate.js';

export interface GitCredentials {
  token?: string;
  /** user name sent with the token; default `x-access-token` (GitHub's convention for tokens) */
  username?: string;
}

export const OPERATION_TRAILER = 'Sgc-Operation';

/** Environment for every git command: no prompts, no system config, stable output language. */
const GIT_BASE_ENV: Record<string, string> = {
  GIT_TERMINAL_PROMPT: '0',
  GIT_CONFIG_NOSYSTEM: '1',
  LC_ALL: 'C',
};

/**
 * Inline credential helper: git runs it through the shell with the action as $1. It reads the
 * token from the environment at that moment, so the helper text (visible in argv) holds no secret.
 */
const CREDENTIAL_HELPER =
  '!f() { test "$1" = get || return 0; echo "username=${GIT_SGC_USERNAME:-x-access-token}"; echo "password=${GIT_SGC_TOKEN}"; }; f';

/** `-c` options for commands that talk to the remote. */
function remoteConfig(creds?: GitCredentials): string[] {
  const out = [
    // the empty value resets any inherited helper list, so a token is never stored anywhere
    '-c', 'credential.helper=',
    '-c', 'protocol.ext.allow=never',
    '-c', 'protocol.fd.allow=never',
  ];
  if (creds?.token) out.push('-c', `credential.helper=${CREDENTIAL_HELPER}`);
  return out;
}

function credEnv(creds?: GitCredentials): Record<string, string> {
  const env: Record<string, string> = {};
  if (creds?.token) {
    env.GIT_SGC_TOKEN = creds.token;
    if (creds.username) env.GIT_SGC_USERNAME = creds.username;
  }
  return env;
}

interface GitRun {
  sb: Sandbox;
  /** workspace directory relative to the sandbox home ('' = home itself) */
  cwd: string;
  creds?: GitCredentials;
}

async function run(g: GitRun, argv: string[], opts: Omit<RunOptions, 'cwd'> & { remote?: boolean } = {}): Promise<CommandResult> {
  const cfg = opts.remote ? remoteConfig(g.creds) : [];
  const full = argv[0] === 'git' ? ['git', ...cfg, ...argv.slice(1)] : argv;
  return g.sb.run(full, {
    cwd: g.cwd === '' ? undefined : g.cwd,
    envs: { ...GIT_BASE_ENV, ...(opts.remote ? credEnv(g.creds) : {}), ...opts.envs },
    timeoutMs: opts.timeoutMs,
    stdin: opts.stdin,
  });
}

/** Runs git and throws the classified DomainError on a non-zero exit. */
async function runOk(g: GitRun, op: string, argv: string[], opts: Omit<RunOptions, 'cwd'> & { remote?: boolean } = {}): Promise<CommandResult> {
  const r = await run(g, argv, opts);
  if (r.exitCode !== 0) throw fail(g, op, r);
  return r;
}

function fail(g: GitRun, op: string, r: CommandResult, files?: string[]): DomainError {
  return classifyGitError({ exitCode: r.exitCode, stderr: r.stderr, stdout: r.stdout, op, files, secrets: [g.creds?.token] });
}

/**
 * The workspace directory relative to the sandbox home. Accepts a relative path or an absolute
 * one below `sb.home`; rejects anything else.
 */
export function workspaceDir(sb: Sandbox, dir: string): string {
  let rel = dir;
  if (typeof dir === 'string' && dir.startsWith('/')) {
    const home = sb.home.replace(/\/+$/, '');
    if (!(dir === home || dir.startsWith(`${home}/`))) {
      throw new DomainError(ErrorType.Validation, 'dir: must be inside the sandbox home', { details: { field: 'dir' } });
    }
    rel = dir.slice(home.length).replace(/^\/+/, '');
    if (rel === '') throw new DomainError(ErrorType.Validation, 'dir: must be a directory below the sandbox home', { details: { field: 'dir' } });
  }
  return validateWorkspacePath(rel, 'dir');
}

// ---------------------------------------------------------------------------------------------
// clone

/**
 * Clones `repoUrl` at `baseBranch` into `dir` (relative to the sandbox home), sets the author
 * locally and checks out `agentBranch` — tracking the remote one when it already exists, else
 * created from the base. Idempotent: on a good existing clone of the same remote it only makes
 * sure the identity and branch are right (local commits are kept); a half-made or foreign
 * directory at `dir` is removed and cloned again (the directory belongs to the workspace).
 */
export async function cloneWorkspace(sb: Sandbox, o: {
  repoUrl: string; baseBranch: string; agentBranch: string; dir: string;
  creds?: GitCredentials; author: { name: string; email: string };
}): Promise<void> {
  const repoUrl = validateRepoUrl(o.repoUrl);
  const baseBranch = validateBranchName(o.baseBranch, 'baseBranch');
  const agentBranch = validateBranchName(o.agentBranch, 'agentBranch');
  const dir = workspaceDir(sb, o.dir);
  if (!o.author?.name || !o.author?.email || /[\0\n<>]/.test(o.author.name + o.author.email)) {
    throw new DomainError(ErrorType.Validation, 'author: name and email are required and must be one line', { details: { field: 'author' } });
  }
  const home: GitRun = { sb, cwd: '', creds: o.creds };
  const ws: GitRun = { sb, cwd: dir, creds: o.creds };

  // one round trip: is there already a complete clone of this remote at dir?
  const probe = await run(home, ['sh', '-c', PROBE_SCRIPT, 'sh', dir]);
  const [top, origin, head] = probe.stdout.split('\n');
  const good = probe.exitCode === 0 && origin === repoUrl && /^[0-9a-f]{40,64}$/.test(head ?? '')
    && posix.basename(top ?? '') === posix.basename(dir);
  if (!good) {
    if (probe.exitCode !== 2) await runOk(home, 'clean', ['rm', '-rf', '--', dir]);
    await runOk(home, 'clone', ['git', 'clone', '--quiet', '--no-tags', '--branch', baseBranch, '--', repoUrl, dir], { remote: true });
  }
  await runOk(ws, 'config', ['git', 'config', 'user.name', o.author.name]);
  await runOk(ws, 'config', ['git', 'config', 'user.email', o.author.email]);

  const current = (await run(ws, ['git', 'symbolic-ref', '--quiet', '--short', 'HEAD'])).stdout.trim();
  if (current === agentBranch) return;
  const local = await run(ws, ['git', 'rev-parse', '--verify', '--quiet', `refs/heads/${agentBranch}`]);
  if (local.exitCode === 0) {
    await runOk(ws, 'checkout', ['git', 'checkout', '--quiet', agentBranch]);
    return;
  }
  const remoteExists = await fetchBranch(ws, agentBranch);
  if (remoteExists) {
    await runOk(ws, 'checkout', ['git', 'checkout', '--quiet', '-b', agentBranch, '--track', `origin/${agentBranch}`]);
  } else {
    await runOk(ws, 'checkout', ['git', 'checkout', '--quiet', '-b', agentBranch]);
  }
}

/** exit 2: dir absent; exit 1: present but not a usable clone; exit 0: prints toplevel, origin, HEAD. */
const PROBE_SCRIPT = [
  '[ -e "$1" ] || exit 2',
  'cd "$1" 2>/dev/null || exit 1',
  'top=$(git rev-parse --show-toplevel 2>/dev/null) || exit 1',
  '[ "$(cd "$top" && pwd -P)" = "$(pwd -P)" ] || exit 1',
  'origin=$(git config --get remote.origin.url) || exit 1',
  'head=$(git rev-parse --verify --quiet HEAD) || exit 1',
  'printf "%s\\n%s\\n%s\\n" "$top" "$origin" "$head"',
].join('\n');

/**
 * Fetches one branch into refs/remotes/origin/<branch> with an explicit refspec (independent of
 * the clone's configured refspecs). Returns false when the remote has no such branch.
 */
async function fetchBranch(g: GitRun, branch: string): Promise<boolean> {
  const r = await run(g, ['git', 'fetch', '--quiet', '--no-tags', 'origin', `+refs/heads/${branch}:refs/remotes/origin/${branch}`], { remote: true });
  if (r.exitCode === 0) return true;
  if (/couldn't find remote ref/i.test(r.stderr)) {
    // a stale tracking ref would make a deleted remote branch look present
    await run(g, ['git', 'update-ref', '-d', `refs/remotes/origin/${branch}`]);
    return false;
  }
  throw fail(g, 'fetch', r);
}

// ---------------------------------------------------------------------------------------------
// reads and edits

/** `git status --porcelain=v2 --branch -z --untracked-files=all`, parsed. */
export async function gitStatus(sb: Sandbox, dir: string): Promise<GitStatus> {
  const g: GitRun = { sb, cwd: workspaceDir(sb, dir) };
  const r = await runOk(g, 'status', ['git', 'status', '--porcelain=v2', '--branch', '-z', '--untracked-files=all']);
  return parsePorcelainV2(r.stdout);
}

/**
 * Diff of the working tree against HEAD, untracked files included (shown as new files), or of
 * the index against HEAD with `staged`. Untracked files are marked intent-to-add in a throw-away
 * copy of the index (GIT_INDEX_FILE), so calling diff never changes what status reports.
 */
export async function gitDiff(sb: Sandbox, dir: string, o: { staged?: boolean; path?: string } = {}): Promise<string> {
  const g: GitRun = { sb, cwd: workspaceDir(sb, dir) };
  const paths = o.path === undefined ? [] : [validateWorkspacePath(o.path)];
  if (o.staged) {
    return (await runOk(g, 'diff', ['git', 'diff', '--no-color', '--no-ext-diff', '--cached', '--', ...paths])).stdout;
  }
  return (await runOk(g, 'diff', ['sh', '-c', DIFF_SCRIPT, 'sh', ...paths])).stdout;
}

const DIFF_SCRIPT = [
  'set -e',
  'gd=$(git rev-parse --absolute-git-dir)',
  'tmp="$gd/sgc-diff-index.$$"',
  'trap \'rm -f "$tmp"\' EXIT',
  'if [ -f "$gd/index" ]; then cp "$gd/index" "$tmp"; fi',
  'GIT_INDEX_FILE="$tmp" git add --all --intent-to-add',
  'GIT_INDEX_FILE="$tmp" git diff --no-color --no-ext-diff HEAD -- "$@"',
].join('\n');

/**
 * Checks inside the sandbox that `<dir>/<path>` resolves (symlinks followed) inside the
 * workspace and outside its .git: a checked-out symlink must not lead a write elsewhere.
 */
const CONFINE_SCRIPT = [
  'root=$(pwd -P) || exit 5',
  't=$(realpath -m -- "$1") || exit 5',
  'case "$t" in "$root/.git"|"$root/.git/"*) exit 4;; "$root/"*) exit 0;; *) exit 3;; esac',
].join('\n');

async function confined(sb: Sandbox, dir: string, path: string): Promise<string> {
  const p = validateWorkspacePath(path);
  const r = await sb.run(['sh', '-c', CONFINE_SCRIPT, 'sh', p], { cwd: dir });
  if (r.exitCode === 3 || r.exitCode === 4) {
    throw new DomainError(ErrorType.Validation, 'path: resolves outside the workspace', { details: { field: 'path' } });
  }
  if (r.exitCode !== 0) {
    throw new DomainError(ErrorType.Internal, `could not resolve path (exit ${r.exitCode})`, { details: { field: 'path' } });
  }
  return `${dir}/${p}`;
}

/** Writes a file in the workspace (parents created); the path is validated and confined. */
export async function writeWorkspaceFile(sb: Sandbox, dir: string, path: string, content: string): Promise<void> {
  const d = workspaceDir(sb, dir);
  if (typeof content !== 'string') throw new DomainError(ErrorType.Validation, 'content: must be a string', { details: { field: 'content' } });
  await sb.writeFile(await confined(sb, d, path), content);
}

/** Reads a workspace file; DomainError(NotFound) when it does not exist. */
export async function readWorkspaceFile(sb: Sandbox, dir: string, path: string): Promise<string> {
  const d = workspaceDir(sb, dir);
  return sb.readFile(await confined(sb, d, path));
}

// ---------------------------------------------------------------------------------------------
// commit + push, pull

/** Aborts a rebase a crashed run left behind, so every operation starts from a clean state. */
const ABORT_STALE_REBASE_SCRIPT =
  'if [ -d "$(git rev-parse --git-path rebase-merge)" ] || [ -d "$(git rev-parse --git-path rebase-apply)" ]; then git rebase --abort; fi';

async function abortStaleRebase(g: GitRun): Promise<void> {
  await runOk(g, 'rebase --abort', ['sh', '-c', ABORT_STALE_REBASE_SCRIPT]);
}

async function headCommit(g: GitRun): Promise<string> {
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
  const argv = ['git', '-c', 'commit.gpgsign=false', 'rebase', '--quiet', ...(autostash ? ['--autostash'] : []), upstream];
  const r = await run(g, argv);
  if (r.exitCode !== 0) {
    const files = await conflictedFiles(g);
    await run(g, ['sh', '-c', ABORT_STALE_REBASE_SCRIPT]);
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
    exitCode: r.exitCode, stderr: `${r.stderr}\nCONFLICT (rebase onto ${upstream})`, stdout: r.stdout, op: 'rebase', files, secrets: [g.creds?.token],
  });
  e.details.upstream = upstream;
  return e;
}

/** Commit on `origin/<branch>` whose `Sgc-Operation` trailer equals operationId, if any. */
async function findLanded(g: GitRun, branch: string, operationId: string): Promise<string | null> {
  const r = await runOk(g, 'log', [
    'git', 'log', '--fixed-strings', `--grep=${operationId}`,
    `--format=%H%x1f%(trailers:key=${OPERATION_TRAILER},valueonly,separator=%x1f)%x1e`, `refs/remotes/origin/${branch}`, '--',
  ]);
  for (const rec of r.stdout.split('\x1e')) {
    const [sha, ...values] = rec.trim().split('\x1f');
    if (sha && values.map((v) => v.trim()).includes(operationId)) return sha;
  }
  return null;
}

async function headHasTrailer(g: GitRun, operationId: string): Promise<boolean> {
  const r = await run(g, ['git', 'log', '-1', `--format=%(trailers:key=${OPERATION_TRAILER},valueonly,separator=%x1f)`, 'HEAD']);
  return r.exitCode === 0 && r.stdout.trim().split('\x1f').map((v) => v.trim()).includes(operationId);
}

/** Exponential backoff with equal jitter: a random delay in [d/2, d], d = min(max, base·2^(n-1)). */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
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
    throw new DomainError(ErrorType.Validation, 'maxAttempts: must be a positive integer', { details: { field: 'maxAttempts' } });
  }
  const g: GitRun = { sb, cwd: workspaceDir(sb, dir), creds: o.creds };
  const sleep = o.sleep ?? ((ms: number) => delay(ms));

  await abortStaleRebase(g);
  await runOk(g, 'add', ['git', 'add', '--all']);
  const staged = await run(g, ['git', 'diff', '--cached', '--quiet']);
  if (staged.exitCode === 1) {
    await runOk(g, 'commit', [
      'git', '-c', 'commit.gpgsign=false', 'commit', '--quiet', '--no-verify', '--cleanup=whitespace', '-m', message,
      ...(operationId ? ['--trailer', `${OPERATION_TRAILER}: ${operationId}`] : []),
    ]);
  } else if (staged.exitCode !== 0) {
    throw fail(g, 'diff', staged);
  } else if (!(operationId && await headHasTrailer(g, operationId))) {
    const unpushed = await runOk(g, 'rev-list', ['git', 'rev-list', '--count', 'HEAD', '--not', '--remotes']);
    if (Number(unpushed.stdout.trim()) === 0) {
      throw new DomainError(ErrorType.Validation, 'nothing to commit', { details: { field: 'changes' } });
    }
  }

  let lastErr: unknown;
  for (let attempt = 1; attempt <= o.maxAttempts; attempt++) {
    o.onAttempt?.(attempt, lastErr);
    const once = (): Promise<CommitPushResult> => pushAttempt(g, branch, operationId, attempt);
    try {
      return await (o.withLock ? o.withLock(once) : once());
    } catch (e) {
      if (!isDomainError(e, ErrorType.PushRejected)) throw e;
      lastErr = e;
      if (attempt < o.maxAttempts) await sleep(backoffDelay(attempt, o.backoffBaseMs, o.backoffMaxMs));
    }
  }
  throw new DomainError(ErrorType.ConflictEscalated, `push to ${branch} still rejected after ${o.maxAttempts} attempts`, {
    details: { attempts: o.maxAttempts, branch, lastError: (lastErr as Error | undefined)?.message },
    cause: lastErr,
  });
}

async function pushAttempt(g: GitRun, branch: string, operationId: string | undefined, attempt: number): Promise<CommitPushResult> {
  const remoteExists = await fetchBranch(g, branch);
  if (remoteExists) {
    if (operationId) {
      const landed = await findLanded(g, branch, operationId);
      if (landed) {
        // bring the workspace up to date; the local copy of the landed commit is dropped by the
        // rebase as already upstream. Best effort: the push already happened.
        const r = await run(g, ['git', 'rebase', '--quiet', `refs/remotes/origin/${branch}`]);
        if (r.exitCode !== 0) await run(g, ['sh', '-c', ABORT_STALE_REBASE_SCRIPT]);
        return { commit: landed, branch, attempts: attempt, alreadyLanded: true };
      }
    }
    await rebaseOnto(g, `refs/remotes/origin/${branch}`, false);
  }
  const r = await run(g, ['git', 'push', '--quiet', '--porcelain', 'origin', `HEAD:refs/heads/${branch}`], { remote: true });
  if (r.exitCode !== 0) throw fail(g, 'push', r);
  return { commit: await headCommit(g), branch, attempts: attempt, alreadyLanded: false };
}

/**
 * Fetches `origin/<branch>` and rebases the workspace onto it, uncommitted changes carried
 * along (autostash). A conflict — while rebasing commits or re-applying the uncommitted
 * changes — leaves the workspace exactly as before the pull and throws Conflict naming the files.
 * A branch the remote does not have yet is nothing to pull: `updated: false`.
 */
export async function pullRebase(sb: Sandbox, dir: string, o: { branch: string; creds?: GitCredentials }): Promise<PullResult> {
  const branch = validateBranchName(o.branch, 'branch');
  const g: GitRun = { sb, cwd: workspaceDir(sb, dir), creds: o.creds };
  await abortStaleRebase(g);
  const before = await headCommit(g);
  if (!(await fetchBranch(g, branch))) return { head: before, updated: false };
  await rebaseOnto(g, `refs/remotes/origin/${branch}`, true);
  const head = await headCommit(g);
  return { head, updated: head !== before };
}

export { redact };
