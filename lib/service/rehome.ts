/**
 * The kill switch moves live work (issue 10 section 3, seed 002 "instant toggle to approach 1",
 * rollback < 30 s): a live approach-2 workspace is re-homed to approach 1 under the same id.
 *
 * One workspace, in order:
 * 1. freeze: its approach-2 row goes to `initializing`, so every routed call answers 503
 *    (retryable "workspace is initializing") instead of changing the pooled checkout meanwhile;
 *    the status before the freeze is recorded in workspace_rehomes, so a retry restores it.
 * 2. capture, in the pooled sandbox: HEAD, the index as a tree and the working tree (tracked,
 *    new and binary files; ignored files stay) as a tree, each as a commit on HEAD, in a git
 *    bundle of everything not on the remote — so local commits not yet pushed travel too.
 * 3. a fresh approach-1 workspace (same id, repo, base and agent branch), the bundle fetched into
 *    it, the agent branch reset to the carried HEAD, working tree and index set from the two
 *    trees: `git status` and the diff read the same as before.
 * 4. verify (HEAD and `git status --porcelain` equal on both sides), then the approach-2 row is
 *    terminated and marked `rehomed_at` (the router's serving record is now approach 1's row)
 *    and the pooled sandbox goes back to the pool.
 *
 * Anything that fails — the pooled sandbox gone, a capture or restore error, a mismatch — leaves
 * the approach-2 row as it was (status restored) and its sandbox untouched, releases the half-made
 * approach-1 workspace, and is reported as not carried with the reason: nothing silently lost.
 */
import { performance } from 'node:perf_hooks';
import { DomainError, ErrorType, isDomainError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Sandbox, SandboxProvider } from '../sandbox/types.js';
import type { Queryable } from '../store/queryable.js';
import { createRehomeRepository, type RehomeRecord, type RehomeRepository } from '../store/rehomes.js';
import { createWorkspaceRepository, type WorkspaceRepository } from '../store/workspaces.js';
import type { PooledGitService } from './index.js';
import type { GitService } from './types.js';

export interface RehomeDeps {
  /** approach 1 (its createWorkspace / release) */
  simple: Pick<GitService, 'createWorkspace' | 'release'>;
  workspaces: Pick<WorkspaceRepository, 'findById'>;
  rehomes: RehomeRepository;
  /** a sandbox by id (approach 2's pool for the pooled sandbox, the provider for approach 1's) */
  connectPooled(sandboxId: string): Promise<Sandbox>;
  connectSimple(sandboxId: string): Promise<Sandbox>;
  /** gives the pooled sandbox back to the pool once its workspace is carried (only under the lease the workspace holds) */
  returnPooled(sandboxId: string, lease: number): Promise<void>;
  log: Pick<Logger, 'warn' | 'info'>;
}

/**
 * The deps as a process wires them over its two approaches: approach 2's pool holds the pooled
 * sandbox, the provider both approaches share reaches approach 1's.
 */
export function rehomeDeps(o: {
  simple: RehomeDeps['simple'];
  pooled: Pick<PooledGitService, 'pool'>;
  provider: Pick<SandboxProvider, 'connect'>;
  db: Queryable;
  log: RehomeDeps['log'];
}): RehomeDeps {
  const { simple, pooled, provider, db, log } = o;
  return {
    simple,
    workspaces: createWorkspaceRepository(db),
    rehomes: createRehomeRepository(db),
    log,
    connectPooled: (id) => pooled.pool.connect(id),
    connectSimple: (id) => provider.connect(id),
    returnPooled: async (id, lease) => {
      await pooled.pool.release(id, lease);
    },
  };
}

export interface RehomeOutcome {
  workspaceId: string;
  state: 'carried' | 'not_carried' | 'skipped';
  reason?: string;
  commits?: number;
  files?: number;
  durationMs: number;
}

const REF = 'refs/sgc-rehome';
const GIT_COMMAND_TIMEOUT_MS = 60_000;

// $1 = workspace dir. Prints "<head> <ahead> <files>" then a blank-free base64 line of the bundle.
const CAPTURE = `set -e
cd "$1"
H=$(git rev-parse HEAD)
I=$(git write-tree)
T=$(mktemp)
cp "$(git rev-parse --git-path index)" "$T"
GIT_INDEX_FILE="$T" git add -A
W=$(GIT_INDEX_FILE="$T" git write-tree)
rm -f "$T"
IC=$(git commit-tree "$I" -p "$H" -m sgc-rehome-index)
WC=$(git commit-tree "$W" -p "$H" -m sgc-rehome-worktree)
git update-ref ${REF}/head "$H"
git update-ref ${REF}/index "$IC"
git update-ref ${REF}/worktree "$WC"
AHEAD=$(git rev-list --count HEAD --not --remotes)
FILES=$(git status --porcelain=v1 --untracked-files=all | wc -l)
B=$(mktemp)
git bundle create -q "$B" ${REF}/head ${REF}/index ${REF}/worktree --not --remotes 2>/dev/null
git update-ref -d ${REF}/head; git update-ref -d ${REF}/index; git update-ref -d ${REF}/worktree
echo "$H $AHEAD $FILES"
base64 < "$B" | tr -d '\\n'
rm -f "$B"
`;

// $1 = workspace dir; stdin = the bundle in base64
const RESTORE = `set -e
cd "$1"
B=$(mktemp)
base64 -d > "$B"
git fetch -q "$B" '${REF}/*:${REF}/*'
rm -f "$B"
git reset -q --hard ${REF}/head
git read-tree -u --reset "${REF}/worktree^{tree}"
git read-tree "${REF}/index^{tree}"
git update-ref -d ${REF}/head; git update-ref -d ${REF}/index; git update-ref -d ${REF}/worktree
`;

// $1 = workspace dir: what must read the same on both sides
const FINGERPRINT = `set -e
cd "$1"
git rev-parse HEAD
git status --porcelain=v1 --untracked-files=all | LC_ALL=C sort
git diff HEAD --binary | git hash-object --stdin
`;

async function sh(sb: Sandbox, script: string, dir: string, stdin?: string): Promise<string> {
  const r = await sb.run(['sh', '-c', script, 'sh', dir], {
    timeoutMs: GIT_COMMAND_TIMEOUT_MS,
    ...(stdin !== undefined ? { stdin } : {}),
  });
  if (r.exitCode !== 0)
    throw new Error(`exit ${r.exitCode}: ${r.stderr.trim().split('\n').slice(-2).join(' ').slice(0, 300)}`);
  return r.stdout;
}

/** The approach-2 workspace directory inside its sandbox (records keep it relative to home). */
function dirIn(sb: Sandbox, dir: string): string {
  return dir.startsWith('/') ? dir : `${sb.home}/${dir}`;
}

/**
 * Re-homes one workspace for kill `eventId` (0: not tied to a kill). Idempotent: a workspace
 * already carried for this event is reported as carried again; a retry after a crash mid-way
 * restores the recorded status first and starts over.
 */
export async function rehomeWorkspace(deps: RehomeDeps, eventId: number, workspaceId: string): Promise<RehomeOutcome> {
  const t0 = performance.now();
  const elapsed = (): number => performance.now() - t0;
  const prior = await deps.rehomes.get(eventId, workspaceId);
  if (prior && prior.state !== 'started') {
    return {
      workspaceId,
      state: prior.state,
      reason: prior.reason ?? undefined,
      commits: prior.commits,
      files: prior.files,
      durationMs: prior.durationMs ?? elapsed(),
    };
  }
  const rec = await deps.workspaces.findById('pooled', workspaceId);
  if (
    prior &&
    rec?.status === 'terminated' &&
    (await deps.workspaces.findById('simple', workspaceId))?.status === 'ready'
  ) {
    // a crash between marking the approach-2 row re-homed and recording it: it was carried
    const durationMs = elapsed();
    await deps.rehomes.finish(eventId, workspaceId, { state: 'carried', durationMs });
    return { workspaceId, state: 'carried', durationMs };
  }
  if (!rec || rec.status === 'terminated')
    return { workspaceId, state: 'skipped', reason: rec ? 'released' : 'not found', durationMs: elapsed() };

  const started = await deps.rehomes.start(eventId, workspaceId, rec.status);
  const prevStatus = started.prevStatus;
  const notCarried = async (reason: string, simpleCreated: boolean): Promise<RehomeOutcome> => {
    if (simpleCreated) {
      await deps.simple
        .release(workspaceId)
        .catch((e: unknown) =>
          deps.log.warn(
            { workspaceId, err: (e as Error).message },
            're-home: releasing the half-made approach-1 workspace failed',
          ),
        );
    }
    await deps.rehomes.setPooledStatus(workspaceId, prevStatus);
    const durationMs = elapsed();
    await deps.rehomes.finish(eventId, workspaceId, { state: 'not_carried', reason, durationMs });
    deps.log.warn({ workspaceId, eventId, reason }, 're-home: workspace not carried; left on approach 2 as it was');
    return { workspaceId, state: 'not_carried', reason, durationMs };
  };

  await deps.rehomes.setPooledStatus(workspaceId, 'initializing'); // freeze
  let src: Sandbox;
  try {
    src = await deps.connectPooled(rec.sandboxId);
    if (!(await src.isHealthy()))
      throw new DomainError(ErrorType.SandboxGone, 'sandbox does not answer', {
        details: { sandboxId: rec.sandboxId },
      });
  } catch (e) {
    const why = isDomainError(e, ErrorType.SandboxGone) ? 'sandbox_gone' : 'sandbox_unreachable';
    return notCarried(`${why}: pooled sandbox ${rec.sandboxId} cannot be read (${(e as Error).message})`, false);
  }

  let head: string;
  let commits: number;
  let files: number;
  let bundle: string;
  let before: string;
  try {
    const out = await sh(src, CAPTURE, dirIn(src, rec.dir));
    const nl = out.indexOf('\n');
    const [h, a, f] = out.slice(0, nl).trim().split(' ');
    head = h!;
    commits = Number(a);
    files = Number(f);
    bundle = out.slice(nl + 1).trim();
    if (!/^[0-9a-f]{40,64}$/.test(head) || bundle.length === 0) throw new Error('unexpected capture output');
    before = await sh(src, FINGERPRINT, dirIn(src, rec.dir));
  } catch (e) {
    return notCarried(`capture_failed: ${(e as Error).message}`, false);
  }

  let simpleCreated = false;
  try {
    const ws = await deps.simple.createWorkspace({
      workspaceId,
      agentId: rec.agentId,
      taskId: rec.taskId,
      repoUrl: rec.repoUrl,
      baseBranch: rec.baseBranch,
    });
    simpleCreated = true;
    const simpleRec = await deps.workspaces.findById('simple', workspaceId);
    if (!simpleRec) throw new Error('approach-1 record missing after create');
    const dst = await deps.connectSimple(ws.sandboxId);
    await sh(dst, RESTORE, dirIn(dst, simpleRec.dir), bundle);
    const after = await sh(dst, FINGERPRINT, dirIn(dst, simpleRec.dir));
    if (after !== before) throw new Error('verification: HEAD, status or diff differ after restore');
    // an operation that had passed its workspace check before the freeze may have written since
    // the capture: then the approach-2 checkout stays the serving one (a later re-home retries)
    if ((await sh(src, FINGERPRINT, dirIn(src, rec.dir))) !== before)
      throw new Error('the approach-2 checkout changed during the re-home');
  } catch (e) {
    return notCarried(`restore_failed: ${(e as Error).message}`, simpleCreated);
  }

  await deps.rehomes.markRehomed(workspaceId);
  const durationMs = elapsed();
  await deps.rehomes.finish(eventId, workspaceId, { state: 'carried', commits, files, durationMs });
  // the pooled checkout is now a copy of the approach-1 one: back to the pool (wiped)
  await deps
    .returnPooled(rec.sandboxId, rec.sandboxLease)
    .catch((e: unknown) =>
      deps.log.warn(
        { workspaceId, err: (e as Error).message },
        're-home: returning the pooled sandbox failed (the pool sweep reclaims it)',
      ),
    );
  deps.log.info({ workspaceId, eventId, commits, files, head, durationMs }, 're-home: workspace carried to approach 1');
  return { workspaceId, state: 'carried', commits, files, durationMs };
}

export interface RehomeSummary {
  eventId: number;
  rehomed: RehomeOutcome[];
  carried: number;
  notCarried: number;
  /** workspaces neither carried nor reported (always 0 unless a re-home threw) */
  lost: number;
}

/** Re-homes every live approach-2 workspace, at most `concurrency` at a time. */
export async function rehomeAll(
  deps: RehomeDeps,
  eventId: number,
  opts: { concurrency?: number; ids?: string[] } = {},
): Promise<RehomeSummary> {
  const ids = opts.ids ?? (await deps.rehomes.livePooled());
  const concurrency = Math.max(1, opts.concurrency ?? 8);
  const out: RehomeOutcome[] = [];
  let next = 0;
  let lost = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, ids.length) }, async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        try {
          out.push(await rehomeWorkspace(deps, eventId, id));
        } catch (e) {
          lost++;
          deps.log.warn({ workspaceId: id, eventId, err: (e as Error).message }, 're-home failed unexpectedly');
          out.push({ workspaceId: id, state: 'not_carried', reason: `error: ${(e as Error).message}`, durationMs: 0 });
        }
      }
    }),
  );
  out.sort((a, b) => (a.workspaceId < b.workspaceId ? -1 : 1));
  return {
    eventId,
    rehomed: out,
    carried: out.filter((o) => o.state === 'carried').length,
    notCarried: out.filter((o) => o.state === 'not_carried').length,
    lost,
  };
}

/** The re-home report of one kill, from workspace_rehomes. */
export function summariseRehomes(rows: RehomeRecord[]): {
  carried: string[];
  notCarried: { workspaceId: string; reason: string | null }[];
  inProgress: string[];
} {
  return {
    carried: rows.filter((r) => r.state === 'carried').map((r) => r.workspaceId),
    notCarried: rows
      .filter((r) => r.state === 'not_carried')
      .map((r) => ({ workspaceId: r.workspaceId, reason: r.reason })),
    inProgress: rows.filter((r) => r.state === 'started').map((r) => r.workspaceId),
  };
}
