/** Cloning a workspace and fetching single branches. */
import { posix } from 'node:path';
import type { Sandbox } from '../sandbox/types.js';
import { DomainError, ErrorType } from '../errors.js';
import { fail, run, runOk, workspaceDir, type GitRun } from './runner.js';
import { SCRIPTS } from './scripts.js';
import type { GitCredentials } from './types.js';
import { validateBranchName, validateRepoUrl } from './validate.js';

/**
 * Deadline of a clone: a large repository takes far longer than the providers' default command
 * timeout (120 s), which would cut it off (and kill git's index-pack with it).
 */
export const CLONE_TIMEOUT_MS = 30 * 60_000;

/**
 * Clones `repoUrl` at `baseBranch` into `dir` (relative to the sandbox home), sets the author
 * locally and checks out `agentBranch` — tracking the remote one when it already exists, else
 * created from the base. Idempotent: on a good existing clone of the same remote it only makes
 * sure the identity and branch are right (local commits are kept); a half-made or foreign
 * directory at `dir` is removed and cloned again (the directory belongs to the workspace).
 */
export async function cloneWorkspace(
  sb: Sandbox,
  o: {
    repoUrl: string;
    baseBranch: string;
    agentBranch: string;
    dir: string;
    creds?: GitCredentials;
    author: { name: string; email: string };
    /** deadline of the clone itself (default CLONE_TIMEOUT_MS) */
    timeoutMs?: number;
  },
): Promise<void> {
  const repoUrl = validateRepoUrl(o.repoUrl);
  const baseBranch = validateBranchName(o.baseBranch, 'baseBranch');
  const agentBranch = validateBranchName(o.agentBranch, 'agentBranch');
  const dir = workspaceDir(sb, o.dir);
  if (!o.author?.name || !o.author?.email || /[\0\n<>]/.test(o.author.name + o.author.email)) {
    throw new DomainError(ErrorType.Validation, 'author: name and email are required and must be one line', {
      details: { field: 'author' },
    });
  }
  const home: GitRun = { sb, cwd: '', creds: o.creds };
  const ws: GitRun = { sb, cwd: dir, creds: o.creds };

  // one round trip: is there already a complete clone of this remote at dir?
  const probe = await run(home, ['sh', '-c', SCRIPTS.probe, 'sh', dir]);
  const [top, origin, head] = probe.stdout.split('\n');
  const good =
    probe.exitCode === 0 &&
    origin === repoUrl &&
    /^[0-9a-f]{40,64}$/.test(head ?? '') &&
    posix.basename(top ?? '') === posix.basename(dir);
  if (!good) {
    if (probe.exitCode !== 2) await runOk(home, 'clean', ['rm', '-rf', '--', dir]);
    await runOk(home, 'clone', ['git', 'clone', '--quiet', '--no-tags', '--branch', baseBranch, '--', repoUrl, dir], {
      remote: true,
      timeoutMs: o.timeoutMs ?? CLONE_TIMEOUT_MS,
    });
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

/**
 * Fetches one branch into refs/remotes/origin/<branch> with an explicit refspec (independent of
 * the clone's configured refspecs). Returns false when the remote has no such branch.
 */
export async function fetchBranch(g: GitRun, branch: string): Promise<boolean> {
  const r = await run(
    g,
    ['git', 'fetch', '--quiet', '--no-tags', 'origin', `+refs/heads/${branch}:refs/remotes/origin/${branch}`],
    { remote: true },
  );
  if (r.exitCode === 0) return true;
  if (/couldn't find remote ref/i.test(r.stderr)) {
    // a stale tracking ref would make a deleted remote branch look present
    await run(g, ['git', 'update-ref', '-d', `refs/remotes/origin/${branch}`]);
    return false;
  }
  throw fail(g, 'fetch', r);
}
