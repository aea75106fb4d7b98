/**
 * push.mode queue (issue 13), fault: the worker is SIGKILLed while the merge queue pushes a batch
 * and started again. The git worker runs in a process of its own (test/helpers/git-worker-child.ts);
 * a pre-receive hook on each of two bare remotes holds its queue's push to `main` until the test
 * has killed the worker, then lets that orphaned push land on one ("accept": landed, never
 * answered) and refuses it on the other ("refuse": the remote went away mid-push). On both, once
 * the worker is back, every operation ends landed exactly once on the remote (its Sgc-Operation
 * trailer once on main) or conflict: none lost, none duplicated, no staged ref left behind.
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { parseConfig } from '../../lib/config/index.js';
import { ErrorType } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { createGitService, type SimpleGitService } from '../../lib/service/index.js';
import { gitOperationWorkflow } from '../../workflows/git-operation/workflow.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { createBareRepo, git } from '../helpers/git.js';
import { stackEnv } from '../helpers/stack.js';
import { testEnv, uniqueId, uniqueQueue, workflowBundle } from '../helpers/temporal.js';

const ROOT = resolve(import.meta.dirname, '../..');
const log = createLogger({ level: 'silent' });

let env: TestWorkflowEnvironment;
let tdb: TestDb;
let tmp: string;
let bundlePath: string;
let rawConfig: Record<string, unknown>;
let service: SimpleGitService;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  env = await testEnv();
  tdb = await freshDb('mqcrash');
  tmp = mkdtempSync(join(tmpdir(), 'sgc-mqcrash-'));
  // one bundle for every worker process (bundling per start would cost seconds each restart)
  bundlePath = join(tmp, 'workflows.js');
  writeFileSync(bundlePath, (await workflowBundle()).code);
  rawConfig = {
    sandbox: { provider: 'local', localRoot: join(tmp, 'sandboxes'), timeoutMs: 600_000 },
    security: { encryptionKey: randomBytes(32).toString('base64') },
    git: {
      backoffBaseMs: 20,
      backoffMaxMs: 200,
      remotes: [{ scheme: 'file', pathPrefix: tmpdir() }],
      pushBranches: ['main'],
    },
    push: { mode: 'queue' },
  };
  // the test's own service (same database, same sandboxes on disk) writes the agents' files
  service = createGitService({
    config: parseConfig(rawConfig),
    db: tdb.db,
    metrics: createMetrics({ defaultMetrics: false }),
    log,
    approach: 'simple',
  });
  await service.start();
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await service?.close();
  await tdb?.drop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A git worker in its own process; resolves once it polls. */
async function startWorker(taskQueue: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/git-worker-child.ts')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      SGC_CHILD_TEMPORAL: stackEnv('SGC_TEST_TEMPORAL_ADDRESS'),
      SGC_CHILD_TASK_QUEUE: taskQueue,
      SGC_CHILD_DB_URL: tdb.url,
      SGC_CHILD_CONFIG: JSON.stringify(rawConfig),
      SGC_CHILD_BUNDLE: bundlePath,
      SGC_CHILD_QUEUE_ROOT: join(tmp, 'queue'),
      SGC_CHILD_MAX_BATCH: '3',
      SGC_CHILD_IDLE_MS: '60000',
      ...(process.env.SGC_CHILD_LOG_LEVEL ? { SGC_CHILD_LOG_LEVEL: process.env.SGC_CHILD_LOG_LEVEL } : {}),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const ready = once(child.stdout!, 'data');
  const died = once(child, 'exit').then(([code]) => {
    throw new Error(`worker child exited (${String(code)}) before it was ready`);
  });
  await Promise.race([ready, died]);
  died.catch(() => undefined);
  return child;
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(t);
}

async function waitUntil(what: string, cond: () => Promise<boolean> | boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** trailer value → how many commits on the branch carry it */
function trailersOn(bare: string, branch: string): Map<string, number> {
  const out = git(bare, 'log', '--format=%(trailers:key=Sgc-Operation,valueonly,separator=%x1f)%x1e', branch);
  const counts = new Map<string, number>();
  for (const rec of out.split('\x1e')) {
    for (const id of rec.trim().split('\x1f').filter(Boolean)) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

function stagedRefs(bare: string): string[] {
  return git(bare, 'for-each-ref', '--format=%(refname)', 'refs/sgc/', 'refs/heads/sgc-queue/')
    .split('\n')
    .filter(Boolean);
}

/**
 * pre-receive: the first update of refs/heads/main writes `started` and waits (at most 30 s) for
 * `release`, whose content decides: accept → the push lands, anything else → refused.
 */
function holdFirstPushToMain(bare: string, dir: string): { started: string; release: string } {
  const started = join(dir, 'started');
  const release = join(dir, 'release');
  const hook = join(bare, 'hooks', 'pre-receive');
  writeFileSync(
    hook,
    `#!/bin/sh
hold=0
while read old new ref; do [ "$ref" = refs/heads/main ] && hold=1; done
[ "$hold" = 1 ] || exit 0
[ -e '${started}' ] && exit 0
echo started > '${started}'
i=0
while [ ! -e '${release}' ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
[ "$(cat '${release}' 2>/dev/null)" = accept ] && exit 0
echo "remote went away" >&2
exit 1
`,
  );
  chmodSync(hook, 0o755);
  return { started, release };
}

/** A receive-pack (its hook) still runs for `bare`. */
function holdRunning(bare: string): boolean {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('receive-pack') && cmd.includes(bare)) return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}

type Handle = WorkflowHandle<typeof gitOperationWorkflow>;
type Verdict = 'accept' | 'refuse';
/** agents per remote: 0 and 1 edit the same line (one of them conflicts), the others a file each */
const N = 4;

test('worker SIGKILLed while batch pushes are in flight (one lands orphaned, one is refused): every operation lands exactly once or conflicts', async () => {
  const taskQueue = uniqueQueue('mq-crash');
  const verdicts: Verdict[] = ['accept', 'refuse'];
  const remotes = verdicts.map(() => createBareRepo({ 'shared.txt': 'one\ntwo\nthree\n' }));
  let worker = await startWorker(taskQueue);
  try {
    const run = (input: Parameters<typeof gitOperationWorkflow>[0], workflowId = uniqueId(`gitop-${input.op}`)) =>
      env.client.workflow.start(gitOperationWorkflow, { taskQueue, workflowId, args: [input] });
    const scenarios = await Promise.all(
      verdicts.map(async (verdict, r) => {
        const remote = remotes[r]!;
        const wss = await Promise.all(
          Array.from({ length: N }, async (_, i) => {
            const res = await (
              await run({
                op: 'create',
                agentId: `${verdict}-${i}`,
                workspaceId: uniqueId('ws'),
                taskId: 't-crash',
                repoUrl: remote.url,
              })
            ).result();
            assert.equal(res.op, 'create');
            return res.workspace;
          }),
        );
        for (const [i, ws] of wss.entries()) {
          if (i < 2) await service.writeFile(ws.id, 'shared.txt', `one\nTWO by ${i}\nthree\n`);
          else await service.writeFile(ws.id, `agents/${i}.txt`, `agent ${i}\n`);
        }
        const hold = holdFirstPushToMain(remote.bare, mkdtempSync(join(tmp, `hook-${verdict}-`)));
        const handles: Handle[] = await Promise.all(
          wss.map((ws, i) =>
            run({
              op: 'commitPush',
              agentId: `${verdict}-${i}`,
              workspaceId: ws.id,
              message: `${verdict} ${i}`,
              targetBranch: 'main',
            }),
          ),
        );
        return { verdict, remote, hold, handles };
      }),
    );
    // every operation staged and handed to its queue (no commitPush activity in flight), and each
    // queue's first batch push held by its remote's hook: now the worker dies
    for (const s of scenarios) {
      await waitUntil(`the ${s.verdict} queue to push its first batch`, () => existsSync(s.hold.started), 90_000);
      await waitUntil(
        `every ${s.verdict} operation to be staged`,
        async () => {
          const d = await Promise.all(s.handles.map((h) => h.describe()));
          return d.every((x) => (x.raw.pendingActivities ?? []).length === 0) && stagedRefs(s.remote.bare).length === N;
        },
        60_000,
      );
    }
    const before = scenarios.map((s) => git(s.remote.bare, 'rev-parse', 'main').trim());
    worker.kill('SIGKILL');
    await once(worker, 'exit');
    for (const s of scenarios) writeFileSync(s.hold.release, s.verdict);
    // accept: the orphaned push lands while no worker is alive, nobody answered for it;
    // refuse: the remote turns it away
    await waitUntil(
      'the orphaned push to land',
      () => git(remotes[0]!.bare, 'rev-parse', 'main').trim() !== before[0],
      15_000,
    );
    await waitUntil('the refused push to end', () => !holdRunning(remotes[1]!.bare), 15_000);
    assert.equal(git(remotes[1]!.bare, 'rev-parse', 'main').trim(), before[1], 'the refused push moved nothing');
    worker = await startWorker(taskQueue);

    // the retried batches (after the activity's heartbeat timeout) and the rest answer everyone
    for (const s of scenarios) {
      const deadline = sleep(45_000).then(() => {
        throw new Error(`${s.verdict}: operations not answered within 45 s of the restart`);
      });
      const results = await Promise.race([Promise.allSettled(s.handles.map((h) => h.result())), deadline]);
      const trailers = trailersOn(s.remote.bare, 'main');
      const onMain = new Set(git(s.remote.bare, 'rev-list', 'main').trim().split('\n'));
      let conflicts = 0;
      for (const [i, r] of results.entries()) {
        const id = s.handles[i]!.workflowId;
        const who = `${s.verdict} agent ${i}`;
        if (r.status === 'fulfilled') {
          assert.equal(r.value.op, 'commitPush');
          if (r.value.op !== 'commitPush') continue;
          assert.ok(onMain.has(r.value.push.commit), `${who}: ${r.value.push.commit} is on main`);
          assert.equal(trailers.get(id), 1, `${who}: landed exactly once`);
        } else {
          const err = r.reason as unknown;
          assert.ok(err instanceof WorkflowFailedError, `${who}: ${String(err)}`);
          assert.ok(err.cause instanceof ApplicationFailure, `${who}: ${String(err.cause)}`);
          assert.equal(err.cause.type, ErrorType.Conflict, `${who}: ${err.cause.message}`);
          assert.ok(i < 2, `${who} touched nothing anyone else did`);
          assert.equal(trailers.get(id), undefined, `${who}: a conflict is not on main`);
          conflicts++;
        }
      }
      assert.equal(conflicts, 1, `${s.verdict}: exactly one of the two edits of the same line conflicts`);
      // nothing on main but these operations, each once
      const ids = new Set(s.handles.map((h) => h.workflowId));
      for (const id of trailers.keys()) assert.ok(ids.has(id), `${s.verdict}: ${id} on main is one of ours`);
      assert.equal(trailers.size, N - 1);
      for (let i = 2; i < N; i++) assert.equal(git(s.remote.bare, 'show', `main:agents/${i}.txt`), `agent ${i}\n`);
      assert.deepEqual(stagedRefs(s.remote.bare), [], `${s.verdict}: no staged ref left`);
    }
  } finally {
    await stopWorker(worker);
    for (const r of remotes) r.cleanup();
  }
});
