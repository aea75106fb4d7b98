/**
 * The git side of the merge queue (push.mode queue, issue 13):
 *
 * - `stageCommit`: in the agent's workspace, commit (with the `Sgc-Operation` trailer) and push
 *   HEAD to a ref of its own on the remote, `refs/sgc/queue/<operationId>`; a remote that refuses
 *   custom refs (a hook, a hosting rule) gets `refs/heads/sgc-queue/<operationId>` instead. No
 *   lock: every agent stages in parallel.
 * - `applyQueueBatch`: in one checkout, rebase each staged commit onto the branch tip in arrival
 *   order (commits whose trailer is already on the branch are skipped; a conflicting one is left
 *   out alone), then one atomic push moves the branch and deletes the staged refs. A push the
 *   remote rejects (someone pushed outside the queue) starts the batch again on the new tip.
 */
import { createHash } from 'node:crypto';
import { DomainError, ErrorType } from '../errors.js';
import { remoteConfig } from './credentials.js';
import { fail, run, runOk, workspaceDir, type GitRun } from './runner.js';
import { SCRIPTS } from './scripts.js';
import { OPERATION_TRAILER, headCommit } from './sync.js';
import type { GitCredentials, QueueOutcome, StagedPush } from './types.js';
import { validateBranchName, validateCommitMessage, validateOperationId } from './validate.js';
import type { CommandResult, Sandbox } from '../sandbox/types.js';

/** Where staged commits go: custom refs first, a branch namespace for remotes that refuse them. */
export const QUEUE_REF_PREFIX = 'refs/sgc/queue/';
export const QUEUE_BRANCH_PREFIX = 'refs/heads/sgc-queue/';

/** A ref name component for an operation id (ids outside the ref-safe alphabet are hashed). */
export function queueRefName(operationId: string): string {
  if (
    /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(operationId) &&
    !operationId.includes('..') &&
    !operationId.endsWith('.lock') &&
    !operationId.endsWith('.')
  ) {
    return operationId;
  }
  return `h-${createHash('sha256').update(operationId).digest('hex').slice(0, 40)}`;
}

/** stderr of a push the remote refused for the ref's name or namespace (not auth, not network). */
const REFUSED_REF = /\[remote rejected\]|hook declined|funny refname|refusing|not allowed|deny/i;

const QUICK = ['-c', 'maintenance.auto=false', '-c', 'commit.gpgsign=false'];

export interface StageCommitOptions {
  message: string;
  branch: string;
  operationId: string;
  /** sanitised repository URL, recorded in the StagedPush */
  repoUrl: string;
  creds?: GitCredentials;
  now?: () => number;
}

/**
 * Commits everything (as commitAndPush does, trailer included) and pushes HEAD to the
 * operation's queue ref. Idempotent: a retry finds HEAD carrying the trailer and pushes it again.
 * Local commits without anything staged get an empty commit carrying the trailer, so the branch
 * always shows whether this operation landed.
 */
export async function stageCommit(sb: Sandbox, dir: string, o: StageCommitOptions): Promise<StagedPush> {
  const message = validateCommitMessage(o.message);
  const branch = validateBranchName(o.branch, 'branch');
  const operationId = validateOperationId(o.operationId);
  const g: GitRun = { sb, cwd: workspaceDir(sb, dir), creds: o.creds };
  const trailer = `${OPERATION_TRAILER}: ${operationId}`;
  const name = queueRefName(operationId);
  let ref = `${QUEUE_REF_PREFIX}${name}`;
  // one command (scripts/stage.sh): prepare.sh's commit, then the push of it to the queue ref
  const st = await run(
    g,
    [
      'sh',
      '-c',
      SCRIPTS.stage,
      'sh',
      message,
      trailer,
      operationId,
      OPERATION_TRAILER,
      'head',
      ref,
      ...remoteConfig(g.creds),
    ],
    { remote: true },
  );
  const lines = st.stdout.trim().split('\n');
  const [prepStatus, prepArg] = (lines[0] ?? '').split(' ');
  const [last, lastArg] = (lines[lines.length - 1] ?? '').split(' ');
  let commit = last === 'pushed' && lastArg ? lastArg : '';
  if (prepStatus === 'fail' || (prepStatus !== 'unpushed' && lines.length < 2)) {
    throw fail(g, prepStatus === 'fail' && prepArg ? prepArg : 'commit', { ...st, stdout: '' });
  }
  let r: CommandResult | null = null;
  if (prepStatus === 'unpushed') {
    // local commits but nothing staged (rare): an empty commit carrying the trailer, then the push
    if (Number(prepArg) === 0)
      throw new DomainError(ErrorType.Validation, 'nothing to commit', { details: { field: 'changes' } });
    await runOk(g, 'commit', [
      'git',
      ...QUICK,
      'commit',
      '--quiet',
      '--no-verify',
      '--allow-empty',
      '--cleanup=whitespace',
      '-m',
      message,
      '--trailer',
      trailer,
    ]);
    commit = await headCommit(g);
    r = await pushStaged(g, commit, ref);
  } else if (st.exitCode !== 0) {
    if (last !== 'fail' || lastArg !== 'push') throw fail(g, lastArg || 'push', { ...st, stdout: '' });
    commit = lines.length > 1 ? (lines[0].split(' ')[1] ?? '') : '';
    if (!commit) commit = await headCommit(g);
    r = st;
  }
  if (r && r.exitCode !== 0 && REFUSED_REF.test(r.stderr + r.stdout)) {
    // a remote that refuses custom refs: the branch namespace instead
    ref = `${QUEUE_BRANCH_PREFIX}${name}`;
    r = await pushStaged(g, commit, ref);
  }
  if (r && r.exitCode !== 0) throw fail(g, 'push', r);
  return { operationId, repoUrl: o.repoUrl, branch, ref, commit, stagedAt: (o.now ?? Date.now)() };
}

function pushStaged(g: GitRun, commit: string, ref: string): Promise<CommandResult> {
  return run(g, ['git', 'push', '--quiet', '--porcelain', '--force', 'origin', `${commit}:${ref}`], { remote: true });
}

export interface QueueBatchItem {
  operationId: string;
  ref: string;
}

export interface ApplyQueueBatchOptions {
  /** the URL git fetches from and pushes to (credentials go through `creds`, never the URL) */
  repoUrl: string;
  branch: string;
  items: QueueBatchItem[];
  creds?: GitCredentials;
  committer: { name: string; email: string };
  /** batches started again after the remote rejected the push (default 5) */
  maxRounds?: number;
  /** how many commits of the branch are searched for trailers already landed (default 20,000) */
  trailerDepth?: number;
}

export interface QueueBatchResult {
  outcomes: QueueOutcome[];
  /** the branch tip after the batch */
  tip: string;
  /** rounds it took (1 unless the remote rejected a push) */
  rounds: number;
  pushed: boolean;
}

/** Local names the staged refs are fetched to (per namespace). */
function localStagedRef(ref: string): string | null {
  if (ref.startsWith(QUEUE_REF_PREFIX)) return `refs/sgcq/q/${ref.slice(QUEUE_REF_PREFIX.length)}`;
  if (ref.startsWith(QUEUE_BRANCH_PREFIX)) return `refs/sgcq/b/${ref.slice(QUEUE_BRANCH_PREFIX.length)}`;
  return null;
}

/**
 * Applies staged commits onto `branch` in the order given, in checkout `dir` (created when absent),
 * and pushes the branch once with an atomic push that also deletes the staged refs it consumed.
 * Safe to run again with the same items after a crash at any point: an operation whose trailer is
 * on the branch is answered `landed` with that commit and never applied twice.
 */
export async function applyQueueBatch(sb: Sandbox, dir: string, o: ApplyQueueBatchOptions): Promise<QueueBatchResult> {
  const branch = validateBranchName(o.branch, 'branch');
  for (const it of o.items) validateOperationId(it.operationId);
  const home: GitRun = { sb, cwd: '', creds: o.creds };
  const cwd = workspaceDir(sb, dir);
  await runOk(home, 'init', ['git', 'init', '--quiet', cwd]);
  const g: GitRun = { sb, cwd, creds: o.creds };
  const hasOrigin = (await run(g, ['git', 'remote', 'get-url', 'origin'])).exitCode === 0;
  await runOk(g, 'remote', ['git', 'remote', hasOrigin ? 'set-url' : 'add', 'origin', o.repoUrl]);
  const ident = ['-c', `user.name=${o.committer.name}`, '-c', `user.email=${o.committer.email}`];
  const upstream = `refs/remotes/origin/${branch}`;
  const maxRounds = o.maxRounds ?? 5;

  for (let round = 1; round <= maxRounds; round++) {
    const f = await run(
      g,
      [
        'git',
        ...QUICK,
        'fetch',
        '--quiet',
        '--no-tags',
        '--prune',
        'origin',
        `+refs/heads/${branch}:${upstream}`,
        `+${QUEUE_REF_PREFIX}*:refs/sgcq/q/*`,
        `+${QUEUE_BRANCH_PREFIX}*:refs/sgcq/b/*`,
      ],
      { remote: true },
    );
    if (f.exitCode !== 0) {
      if (/couldn't find remote ref/i.test(f.stderr)) {
        throw new DomainError(
          ErrorType.Validation,
          `branch: ${branch} does not exist on the remote (push.mode queue lands onto an existing branch)`,
          { details: { field: 'branch' } },
        );
      }
      throw fail(g, 'fetch', f);
    }
    const { tip: tip0, landed } = await landedTrailers(g, upstream, o.trailerDepth ?? 20_000);
    // a clean, detached checkout of the tip (a fresh or crashed checkout alike)
    await runOk(g, 'checkout', ['sh', '-c', SCRIPTS.queueCheckout, 'sh', tip0]);

    // every staged commit fetched, in one command (not one rev-parse per item)
    const stagedAt = new Map<string, string>();
    for (const line of (
      await runOk(g, 'for-each-ref', ['git', 'for-each-ref', '--format=%(objectname) %(refname)', 'refs/sgcq/'])
    ).stdout.split('\n')) {
      const [sha, name] = line.trim().split(' ');
      if (sha && name) stagedAt.set(name, sha);
    }
    const outcomes: (QueueOutcome | undefined)[] = [];
    const toApply: { slot: number; operationId: string; staged: string }[] = [];
    const deletes: string[] = [];
    const seen = new Set<string>();
    for (const it of o.items) {
      if (seen.has(it.operationId)) continue;
      seen.add(it.operationId);
      const local = localStagedRef(it.ref);
      const staged = local ? (stagedAt.get(local) ?? '') : '';
      if (staged) deletes.push(`:${it.ref}`);
      const already = landed.get(it.operationId);
      if (already) {
        outcomes.push({ operationId: it.operationId, status: 'landed', commit: already, alreadyLanded: true });
      } else if (!staged) {
        outcomes.push({ operationId: it.operationId, status: 'missing' });
      } else {
        toApply.push({ slot: outcomes.length, operationId: it.operationId, staged });
        outcomes.push(undefined);
      }
    }
    let tip = tip0;
    if (toApply.length > 0) {
      const applied = await applyStaged(g, ident, tip0, toApply);
      for (const [i, a] of applied.outcomes.entries()) outcomes[toApply[i].slot] = a;
      tip = applied.tip;
    }
    const refspecs = [...(tip !== tip0 ? [`${tip}:refs/heads/${branch}`] : []), ...deletes];
    const done = outcomes as QueueOutcome[];
    if (refspecs.length === 0) return { outcomes: done, tip, rounds: round, pushed: false };
    const p = await run(g, ['git', ...QUICK, 'push', '--atomic', '--porcelain', 'origin', ...refspecs], {
      remote: true,
    });
    if (p.exitCode === 0) return { outcomes: done, tip, rounds: round, pushed: true };
    // rejected: someone moved the branch (or a staged ref) outside the queue; apply again on the new tip
    if (
      !/rejected|non-fast-forward|fetch first|stale info|remote ref does not exist|failed to delete|atomic/i.test(
        p.stdout + p.stderr,
      )
    )
      throw fail(g, 'push', p);
  }
  throw new DomainError(
    ErrorType.PushRejected,
    `merge queue push to ${branch} still rejected after ${maxRounds} rounds`,
    { details: { branch, rounds: maxRounds } },
  );
}

/** most commits one cherry-pick takes (40-byte names on its command line) */
const MAX_PICKS = 5_000;

interface Applied {
  /** one per item, in order */
  outcomes: QueueOutcome[];
  tip: string;
}

/**
 * Applies staged commits onto `tip0` (HEAD: a clean, detached checkout of it) in order, as
 * `git rebase <tip> <staged>` one after another would — in one `git cherry-pick` of every commit
 * of the batch instead of a rebase (and a rev-parse) per staged commit: a pick that becomes empty
 * is dropped, as rebase drops it; at a conflict the picks of that staged commit are undone and it
 * alone gets the exact rebase (which also drops patches already upstream, and answers conflict
 * when it conflicts too); the rest continue on top. Staged refs with merges, or sharing commits,
 * take the rebase per staged commit throughout.
 */
async function applyStaged(
  g: GitRun,
  ident: string[],
  tip0: string,
  items: { operationId: string; staged: string }[],
): Promise<Applied> {
  const chains = await commitChains(
    g,
    tip0,
    items.map((i) => i.staged),
  );
  const outcomes: QueueOutcome[] = [];
  let tip = tip0;
  if (!chains) {
    for (const it of items) {
      const r = await rebaseOne(g, ident, tip, it.operationId, it.staged);
      outcomes.push(r);
      if (r.status === 'landed') tip = r.commit;
    }
    return { outcomes, tip };
  }
  const owner = new Map<string, number>();
  for (const [i, c] of chains.entries()) for (const sha of c) owner.set(sha, i);
  let k = 0;
  while (k < items.length) {
    const picks = chains.slice(k).flat();
    const skipped = new Set<string>();
    let conflictAt: number | null = null;
    if (picks.length > 0) {
      let r = await run(g, ['git', ...QUICK, ...ident, 'cherry-pick', '--ff', '--allow-empty', ...picks]);
      while (r.exitCode !== 0) {
        const cur = (await run(g, ['git', 'rev-parse', '-q', '--verify', 'CHERRY_PICK_HEAD'])).stdout.trim();
        const at = owner.get(cur);
        if (!cur || at === undefined) throw fail(g, 'cherry-pick', r);
        const unmerged = (await run(g, ['git', 'diff', '--name-only', '--diff-filter=U'])).stdout.trim();
        const empty = !unmerged && (await run(g, ['git', 'diff', '--cached', '--quiet', 'HEAD', '--'])).exitCode === 0;
        if (!empty) {
          conflictAt = at;
          break;
        }
        // it became empty (its change is already upstream): dropped, as rebase drops it
        skipped.add(cur);
        r = await run(g, ['git', ...QUICK, ...ident, 'cherry-pick', '--skip']);
      }
    }
    // the new commits, in pick order (skipped picks made none)
    const made =
      picks.length === 0
        ? []
        : (await runOk(g, 'rev-list', ['git', 'rev-list', '--reverse', `${tip}..HEAD`])).stdout
            .split('\n')
            .filter(Boolean);
    let next = 0;
    const end = conflictAt ?? items.length;
    for (let i = k; i < end; i++) {
      const before = tip;
      for (const sha of chains[i]) {
        if (skipped.has(sha)) continue;
        tip = made[next++];
      }
      outcomes.push({
        operationId: items[i].operationId,
        status: 'landed',
        commit: tip,
        alreadyLanded: tip === before,
      });
    }
    if (conflictAt === null) {
      if (next !== made.length) throw new Error(`merge queue: ${made.length} commits made for ${next} picks`);
      return { outcomes, tip };
    }
    // the conflicting staged commit: its own picks undone, then the exact rebase decides
    await runOk(g, 'cherry-pick', ['git', 'cherry-pick', '--quit']);
    await runOk(g, 'checkout', ['git', 'checkout', '--quiet', '--force', '--detach', tip]);
    const r = await rebaseOne(g, ident, tip, items[conflictAt].operationId, items[conflictAt].staged);
    outcomes.push(r);
    if (r.status === 'landed') tip = r.commit;
    k = conflictAt + 1;
  }
  return { outcomes, tip };
}

/**
 * For each staged commit, its commits not on `tip0`, oldest first — or null when one of them is
 * a merge (or a root) or two staged commits share one, or there are more than MAX_PICKS (their
 * names would go on one command line): the rebase per staged commit handles those.
 */
async function commitChains(g: GitRun, tip0: string, staged: string[]): Promise<string[][] | null> {
  const out = (await runOk(g, 'rev-list', ['git', 'rev-list', '--parents', ...staged, '--not', tip0])).stdout;
  const parents = new Map<string, string[]>();
  for (const line of out.split('\n')) {
    const [sha, ...ps] = line.trim().split(' ');
    if (sha) parents.set(sha, ps);
  }
  const taken = new Set<string>();
  const chains: string[][] = [];
  for (const s of staged) {
    const chain: string[] = [];
    for (let cur = s; parents.has(cur);) {
      const ps = parents.get(cur) ?? [];
      if (ps.length !== 1 || taken.has(cur)) return null;
      taken.add(cur);
      chain.push(cur);
      cur = ps[0];
    }
    chains.push(chain.reverse());
  }
  return taken.size > MAX_PICKS ? null : chains;
}

/** `git rebase <tip> <staged>` in the checkout (at `tip`, clean): landed (HEAD after) or conflict. */
async function rebaseOne(
  g: GitRun,
  ident: string[],
  tip: string,
  operationId: string,
  staged: string,
): Promise<QueueOutcome> {
  // replays tip..staged onto tip; patches already upstream are dropped, the trailer is kept
  const rb = await run(g, [
    'git',
    ...QUICK,
    ...ident,
    '-c',
    'notes.rewrite.rebase=false',
    'rebase',
    '--quiet',
    tip,
    staged,
  ]);
  if (rb.exitCode !== 0) {
    const files = (await run(g, ['git', 'diff', '--name-only', '--diff-filter=U', '-z'])).stdout
      .split('\0')
      .filter(Boolean);
    await run(g, ['sh', '-c', SCRIPTS.abortStaleRebase]);
    if (files.length === 0 && !/CONFLICT \(|could not apply/.test(rb.stdout + rb.stderr)) throw fail(g, 'rebase', rb);
    // back on the tip for whatever comes next
    await runOk(g, 'checkout', ['git', 'checkout', '--quiet', '--force', '--detach', tip]);
    return { operationId, status: 'conflict', files };
  }
  const head = await headCommit(g);
  // head === tip: every change was already upstream (the rebase dropped it)
  return { operationId, status: 'landed', commit: head, alreadyLanded: head === tip };
}

/**
 * The branch tip, and operationId → the branch commit carrying its trailer over the last `depth`
 * commits (one `git log`: its first record is the tip).
 */
async function landedTrailers(
  g: GitRun,
  ref: string,
  depth: number,
): Promise<{ tip: string; landed: Map<string, string> }> {
  const r = await runOk(g, 'log', [
    'git',
    'log',
    `-n${depth}`,
    `--format=%H%x1f%(trailers:key=${OPERATION_TRAILER},valueonly,separator=%x1f)%x1e`,
    ref,
    '--',
  ]);
  const out = new Map<string, string>();
  let tip = '';
  for (const rec of r.stdout.split('\x1e')) {
    const [sha, ...ids] = rec.trim().split('\x1f');
    if (!sha) continue;
    tip ||= sha;
    for (const id of ids) if (id && !out.has(id)) out.set(id, sha);
  }
  if (!tip) throw fail(g, 'log', r);
  return { tip, landed: out };
}
