/**
 * push.mode queue (issue 13) on the real dev server: gitOperationWorkflow stages each commit on
 * its own ref, mergeQueueWorkflow applies them onto the branch in batches. Real git service
 * (approach 1, local provider), real bare repositories, a fresh database.
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { ErrorType } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import type { Metrics } from '../../lib/metrics.js';
import type { SandboxProvider } from '../../lib/sandbox/index.js';
import type { SimpleGitService } from '../../lib/service/index.js';
import { createGitWorker } from '../../workers/git-worker.js';
import { mergeQueueWorkflowId } from '../../workflows/ids.js';
import { recordHistory } from '../helpers/history.js';
import { git } from '../helpers/git.js';
import { uniqueId, uniqueQueue, workflowBundle } from '../helpers/temporal.js';
import { startGitWorkflowStack, type GitWorkflowStack } from '../helpers/git-workflow.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const log = createLogger({ level: 'silent' });

let env: TestWorkflowEnvironment;
let service: SimpleGitService;
let sandboxRoot: string;
let metrics: Metrics;
let stack: GitWorkflowStack;

beforeAll(async () => {
  // queue for main only: agent branches keep the lock path
  stack = await startGitWorkflowStack('mqueue', {
    log,
    config: { push: { mode: 'lock', rules: [{ branch: 'main', mode: 'queue' }] } },
  });
  ({ env, service, sandboxRoot, metrics } = stack);
});

afterAll(async () => {
  await stack?.close();
});

async function worker(taskQueue: string, provider?: SandboxProvider): Promise<Worker> {
  return createGitWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    service,
    log,
    metrics,
    workflows: { workflowBundle: await workflowBundle() },
    shutdownGraceTime: '1 second',
    queue: { root: join(sandboxRoot, 'queue'), metrics, idleMs: 1_000, ...(provider ? { provider } : {}) },
  });
}

async function createWs(taskQueue: string, agentId: string, repoUrl: string) {
  const res = await (
    await stack.run(taskQueue, {
      op: 'create',
      agentId,
      workspaceId: uniqueId('ws'),
      taskId: `t-${randomBytes(3).toString('hex')}`,
      repoUrl,
    })
  ).result();
  assert.equal(res.op, 'create');
  return res.workspace;
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

/** a settled result's failure, with its cause, for assertion messages */
function why(r: PromiseSettledResult<unknown>): string {
  if (r.status === 'fulfilled') return '';
  const e = r.reason as { message?: string; cause?: { message?: string; type?: string; cause?: { message?: string } } };
  return `${e.message} <- ${e.cause?.type ?? ''} ${e.cause?.message ?? ''} <- ${e.cause?.cause?.message ?? ''}`;
}

function stagedRefs(bare: string): string[] {
  return git(bare, 'for-each-ref', '--format=%(refname)', 'refs/sgc/', 'refs/heads/sgc-queue/')
    .split('\n')
    .filter(Boolean);
}

async function pushAll(
  taskQueue: string,
  workspaces: { id: string }[],
  agentPrefix: string,
  file: (i: number) => [string, string],
) {
  for (const [i, ws] of workspaces.entries()) await service.writeFile(ws.id, ...file(i));
  const handles = await Promise.all(
    workspaces.map((ws, i) =>
      stack.run(taskQueue, {
        op: 'commitPush',
        agentId: `${agentPrefix}-${i}`,
        workspaceId: ws.id,
        message: `${agentPrefix} ${i}`,
        targetBranch: 'main',
      }),
    ),
  );
  return { handles, results: await Promise.allSettled(handles.map((h) => h.result())) };
}

test('N agents pushing one branch in queue mode all land exactly once; no staged ref is left', async () => {
  const taskQueue = uniqueQueue('mq-many');
  const remote = stack.repo();
  const n = 8;
  await (
    await worker(taskQueue)
  ).runUntil(async () => {
    const wss = await Promise.all(Array.from({ length: n }, (_, i) => createWs(taskQueue, `many-${i}`, remote.url)));
    const { handles, results } = await pushAll(taskQueue, wss, 'many', (i) => [`agents/${i}.txt`, `agent ${i}\n`]);
    const trailers = trailersOn(remote.bare, 'main');
    const branchCommits = new Set(git(remote.bare, 'rev-list', 'main').trim().split('\n'));
    for (const [i, r] of results.entries()) {
      assert.equal(r.status, 'fulfilled', `agent ${i}: ${why(r)}`);
      const v = (r as PromiseFulfilledResult<Awaited<ReturnType<(typeof handles)[0]['result']>>>).value;
      assert.equal(v.op, 'commitPush');
      if (v.op !== 'commitPush') continue;
      assert.equal(v.push.branch, 'main');
      assert.ok(branchCommits.has(v.push.commit), `agent ${i}: ${v.push.commit} is on main`);
      assert.equal(trailers.get(handles[i]!.workflowId), 1, `agent ${i}'s trailer once on main`);
      assert.equal('staged' in v.push, false);
    }
    assert.equal(git(remote.bare, 'show', 'main:agents/3.txt'), 'agent 3\n');
    assert.deepEqual(stagedRefs(remote.bare), []);
    await recordHistory('gitOperationWorkflow-push-queued', handles[0]!);
    // idle for idleMs: the queue's run ends (the next commit starts a new one)
    const queue = env.client.workflow.getHandle(mergeQueueWorkflowId(remote.url, 'main'));
    await queue.result();
    await recordHistory('mergeQueueWorkflow-batches', queue);
  });
  const batches = await metrics.registry.getSingleMetricAsString('gitops_queue_batch_size');
  assert.match(batches, /gitops_queue_batch_size_count [1-9]/);
  assert.match(
    await metrics.registry.getSingleMetricAsString('gitops_queue_wait_seconds'),
    /gitops_queue_wait_seconds_count\{outcome="landed"\} [1-9]/,
  );
});

test('a conflicting commit is answered GitConflict with its files; the others in the batch land', async () => {
  const taskQueue = uniqueQueue('mq-conflict');
  const remote = stack.repo({ 'shared.txt': 'one\ntwo\nthree\n' });
  await (
    await worker(taskQueue)
  ).runUntil(async () => {
    const wss = await Promise.all(['a', 'b', 'c'].map((x) => createWs(taskQueue, `conf-${x}`, remote.url)));
    const { results } = await pushAll(taskQueue, wss, 'conf', (i) =>
      i < 2 ? ['shared.txt', `one\nTWO by ${i}\nthree\n`] : ['other.txt', 'other\n'],
    );
    const rejected = results.filter((r) => r.status === 'rejected');
    assert.equal(rejected.length, 1, 'exactly one of the two edits of the same line conflicts');
    const err = (rejected[0] as PromiseRejectedResult).reason as unknown;
    assert.ok(err instanceof WorkflowFailedError);
    assert.ok(err.cause instanceof ApplicationFailure);
    assert.equal(err.cause.type, ErrorType.Conflict);
    assert.deepEqual((err.cause.details?.[0] as { files: string[] }).files, ['shared.txt']);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 2);
    assert.equal(git(remote.bare, 'show', 'main:other.txt'), 'other\n');
    assert.match(git(remote.bare, 'show', 'main:shared.txt'), /TWO by [01]/);
    assert.deepEqual(stagedRefs(remote.bare), []);
  });
});

test('an outside push between batches: the next batch lands on top of it', async () => {
  const taskQueue = uniqueQueue('mq-outside');
  const remote = stack.repo();
  await (
    await worker(taskQueue)
  ).runUntil(async () => {
    const [a, b] = await Promise.all(['a', 'b'].map((x) => createWs(taskQueue, `out-${x}`, remote.url)));
    const first = await pushAll(taskQueue, [a!], 'out-first', () => ['first.txt', 'first\n']);
    assert.equal(first.results[0]!.status, 'fulfilled');
    // someone pushes to main outside the queue
    const outside = mkdtempSync(join(tmpdir(), 'sgc-outside-'));
    try {
      git(outside, 'clone', '--quiet', remote.url, 'c');
      const c = join(outside, 'c');
      writeFileSync(join(c, 'outside.txt'), 'outside\n');
      git(c, 'add', '-A');
      git(c, '-c', 'user.name=o', '-c', 'user.email=o@x', 'commit', '-q', '-m', 'outside');
      git(c, 'push', '-q', 'origin', 'main');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
    const second = await pushAll(taskQueue, [b!], 'out-second', () => ['second.txt', 'second\n']);
    assert.equal(second.results[0]!.status, 'fulfilled', why(second.results[0]!));
    for (const f of ['first.txt', 'outside.txt', 'second.txt'])
      assert.ok(git(remote.bare, 'show', `main:${f}`).length > 0, f);
    assert.equal(trailersOn(remote.bare, 'main').get(second.handles[0]!.workflowId), 1);
  });
});

test('a remote refusing custom refs: staged on refs/heads/sgc-queue/<id> instead, landed, the staged branch deleted', async () => {
  const taskQueue = uniqueQueue('mq-fallback');
  const remote = stack.repo();
  const hook = join(remote.bare, 'hooks', 'pre-receive');
  writeFileSync(
    hook,
    '#!/bin/sh\nwhile read old new ref; do case "$ref" in refs/sgc/*) echo "custom refs are not allowed" >&2; exit 1;; esac; done\nexit 0\n',
  );
  chmodSync(hook, 0o755);
  await (
    await worker(taskQueue)
  ).runUntil(async () => {
    const ws = await createWs(taskQueue, 'fallback', remote.url);
    const { handles, results } = await pushAll(taskQueue, [ws], 'fallback', () => ['fb.txt', 'fb\n']);
    assert.equal(results[0]!.status, 'fulfilled', why(results[0]!));
    assert.equal(trailersOn(remote.bare, 'main').get(handles[0]!.workflowId), 1);
    assert.deepEqual(stagedRefs(remote.bare), []);
  });
});
