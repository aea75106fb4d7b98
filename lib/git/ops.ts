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

  // one sandbox command: abort a stale rebase, stage everything, commit when anything is staged,
  // else tell a retry (HEAD carries this operationId) from local commits or nothing to push.
  // It runs outside the push lock at a lower CPU priority: when many agents push at once and
  // share a machine, the one holding the lock (whom all others wait for) keeps the CPU.
  const prep = await run(g, [
    'nice', '-n', '19', 'sh', '-c', PREPARE_SCRIPT, 'sh', message,
    operationId ? `${OPERATION_TRAILER}: ${operationId}` : '', operationId ?? '', OPERATION_TRAILER,
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
  throw new DomainError(ErrorType.ConflictEscalated, `push to ${branch} still rejected after ${o.maxAttempts} attempts`, {
    details: { attempts: o.maxAttempts, branch, lastError: (lastErr as Error | undefined)?.message },
    cause: lastErr,
  });
}

/**
 * One attempt, meant to run inside the push lock. It is a single sandbox command, so the lock is
 * held for the git work only, not for a round trip per step through the caller's event loop
 * (which 100 concurrent agents keep busy).
 */
async function pushAttempt(g: GitRun, branch: string, operationId: string | undefined, attempt: number): Promise<CommitPushResult> {
  const r = await run(g, ['sh', '-c', PUSH_SCRIPT, 'sh', branch, operationId ?? '', OPERATION_TRAILER, ...remoteConfig(g.creds)], { remote: true });
  const nl = r.stdout.indexOf('\n');
  const head = nl < 0 ? r.stdout : r.stdout.slice(0, nl);
  const [status, arg] = head.split(' ');
  // HEAD is read after the lock is released (one command fewer while holding it)
  if (r.exitCode === 0 && status === 'ok') return { commit: '', branch, attempts: attempt, alreadyLanded: false };
  if (r.exitCode === 0 && status === 'landed' && arg) return { commit: arg, branch, attempts: attempt, alreadyLanded: true };
  const upstream = `refs/remotes/origin/${branch}`;
  if (status === 'conflict') {
    const files = r.stdout.slice(nl + 1).split('\0').filter(Boolean);
    const res = { ...r, stdout: '' };
    if (files.length > 0 || /CONFLICT \(|could not apply/.test(r.stderr)) throw conflictError(g, res, files, upstream);
    throw fail(g, 'rebase', res);
  }
  throw fail(g, status === 'fail' && arg ? arg : 'push', { ...r, stdout: '' });
}

/**
 * Stages everything and commits when anything is staged. $1: message, $2: the trailer line or
 * '', $3: operationId or '', $4: the trailer key. Prints `committed`; with nothing staged
 * `retry` when HEAD carries this operationId, else `unpushed <n>` (local commits on no
 * remote-tracking ref). On a failure `fail <step>` with git's exit code and stderr.
 */
const PREPARE_SCRIPT = [
  // `nice` alone does not reach across sessions where the kernel groups tasks per session
  // (sched_autogroup); lower this session's share too. Best effort: not every system has it.
  '{ echo 19 > /proc/self/autogroup; } 2>/dev/null',
  `${ABORT_STALE_REBASE_SCRIPT} || { echo "fail rebase--abort"; exit 1; }`,
  'git add --all || { s=$?; echo "fail add"; exit $s; }',
  'git diff --cached --quiet; s=$?',
  'if [ $s -eq 0 ]; then',
  '  if [ -n "$3" ] && vals=$(git log -1 --format="%(trailers:key=$4,valueonly,separator=%x1f)" HEAD 2>/dev/null); then',
  '    set -f; old=$IFS; IFS=$(printf "\\037")',
  '    for v in $vals; do [ "$v" = "$3" ] && { echo retry; exit 0; }; done',
  '    IFS=$old',
  '  fi',
  '  n=$(git rev-list --count HEAD --not --remotes) || { s=$?; echo "fail rev-list"; exit $s; }',
  '  echo "unpushed $n"; exit 0',
  'fi',
  '[ $s -eq 1 ] || { echo "fail diff"; exit $s; }',
  'if [ -n "$2" ]; then',
  '  git -c commit.gpgsign=false -c maintenance.auto=false commit --quiet --no-verify --cleanup=whitespace -m "$1" --trailer "$2" || { s=$?; echo "fail commit"; exit $s; }',
  'else',
  '  git -c commit.gpgsign=false -c maintenance.auto=false commit --quiet --no-verify --cleanup=whitespace -m "$1" || { s=$?; echo "fail commit"; exit $s; }',
  'fi',
  'echo committed',
].join('\n');

/**
 * fetch `origin/<branch>` → `landed <sha>` when a commit there already carries this operation's
 * trailer (the workspace is brought up to date, best effort) → rebase onto it (a no-op when HEAD
 * already contains it) → push → `ok`. $1: branch, $2: operationId or '', $3: trailer key,
 * the rest: `-c` options for the commands that talk to the remote.
 * On a rebase conflict the rebase is aborted and stdout is `conflict` + NUL-separated files;
 * any other failure prints `fail <step>` and exits with git's code, its stderr passed on.
 */
const PUSH_SCRIPT = [
  'set -f',
  'b=$1; op=$2; key=$3; shift 3',
  'ref="refs/remotes/origin/$b"',
  // inside the lock every process counts: no auto-maintenance (fetch, rebase) or notes copy (rebase)
  'quick="-c maintenance.auto=false -c notes.rewrite.rebase=false"',
  'remote=1',
  'if ! err=$(git -c maintenance.auto=false -c fetch.writeFetchHead=false "$@" fetch --quiet --no-tags origin "+refs/heads/$b:$ref" 2>&1); then',
  '  case $err in',
  // a stale tracking ref would make a deleted remote branch look present
  '    *"ouldn\'t find remote ref"*) git update-ref -d "$ref"; remote=0 ;;',
  '    *) printf "%s\\n" "$err" >&2; echo "fail fetch"; exit 1 ;;',
  '  esac',
  'fi',
  'if [ $remote = 1 ] && [ -n "$op" ]; then',
  '  us=$(printf "\\037")',
  '  log=$(git log --fixed-strings --grep="$op" --format="%H${us}%(trailers:key=$key,valueonly,separator=%x1f)" "$ref" --) || { echo "fail log"; exit 1; }',
  '  while IFS= read -r line; do',
  '    [ -n "$line" ] || continue',
  '    sha=${line%%"$us"*}; rest=${line#*"$us"}',
  '    old=$IFS; IFS=$us',
  '    for v in $rest; do',
  '      if [ "$v" = "$op" ]; then',
  '        IFS=$old',
  // the local copy of the landed commit is dropped by the rebase as already upstream
  '        git $quick rebase --quiet "$ref" >/dev/null 2>&1 || git rebase --abort >/dev/null 2>&1',
  '        echo "landed $sha"; exit 0',
  '      fi',
  '    done',
  '    IFS=$old',
  '  done <<EOF',
  '$log',
  'EOF',
  'fi',
  // a no-op when HEAD already contains the remote branch (cheaper than asking merge-base first)
  'if [ $remote = 1 ]; then',
  '  out=$(git -c commit.gpgsign=false $quick rebase --quiet "$ref" 2>&1); s=$?',
  '  if [ $s -ne 0 ]; then',
  '    printf "conflict\\n"',
  '    git diff --name-only --diff-filter=U -z',
  `    ${ABORT_STALE_REBASE_SCRIPT} >/dev/null 2>&1`,
  '    printf "%s\\n" "$out" >&2',
  '    exit $s',
  '  fi',
  'fi',
  'git "$@" push --quiet --porcelain origin "HEAD:refs/heads/$b" >&2 || { s=$?; echo "fail push"; exit $s; }',
  'echo ok',
].join('\n');

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
