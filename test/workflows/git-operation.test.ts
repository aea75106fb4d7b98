/**
 * gitOperationWorkflow on the real dev server with the real git service (approach 1, local
 * provider), a real bare repository and a fresh database.
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { ErrorType } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import type { GitService, SimpleGitService } from '../../lib/service/index.js';
import { createGitWorker } from '../../workers/git-worker.js';
import { gitOperationWorkflowId } from '../../workflows/ids.js';
import { sgcAgentIdKey, sgcOperationKey, sgcPhaseKey } from '../../workflows/search-attributes.js';
import { cloneAndRead } from '../helpers/git.js';
import { uniqueId, uniqueQueue, workflowBundle } from '../helpers/temporal.js';
import { startGitWorkflowStack, type GitWorkflowStack } from '../helpers/git-workflow.js';
import { recordHistory } from '../helpers/history.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const log = createLogger({ level: 'silent' });

let env: TestWorkflowEnvironment;
let service: SimpleGitService;
let stack: GitWorkflowStack;

beforeAll(async () => {
  stack = await startGitWorkflowStack('gitop', { log });
  ({ env, service } = stack);
});

afterAll(async () => {
  await stack?.close();
});

async function worker(taskQueue: string, svc: GitService = service, shutdownGraceTime = '1 second'): Promise<Worker> {
  return createGitWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    service: svc,
    log,
    metrics: createMetrics({ defaultMetrics: false }),
    workflows: { workflowBundle: await workflowBundle() },
    shutdownGraceTime,
  });
}

async function create(
  taskQueue: string,
  agentId: string,
  repoUrl: string,
  taskId = `t-${randomBytes(3).toString('hex')}`,
) {
  const handle = await stack.run(taskQueue, { op: 'create', agentId, workspaceId: uniqueId('ws'), taskId, repoUrl });
  const res = await handle.result();
  assert.equal(res.op, 'create');
  return { handle, workspace: res.workspace };
}

test('create, commit + push and pull run through the workflow; the commit lands on the agent branch', async () => {
  const taskQueue = uniqueQueue('gitop');
  const remote = stack.repo();
  await (
    await worker(taskQueue)
  ).runUntil(async () => {
    const { handle, workspace } = await create(taskQueue, 'agent-1', remote.url, 'task-1');
    assert.equal(workspace.agentBranch, 'agent/agent-1/task-1');
    assert.equal(workspace.approach, 'simple');
    assert.equal(typeof workspace.createdAt, 'string');
    const attrs = (await handle.describe()).typedSearchAttributes;
    assert.deepEqual(
      [attrs.get(sgcPhaseKey), attrs.get(sgcAgentIdKey), attrs.get(sgcOperationKey)],
      ['gitop', 'agent-1', 'create'],
    );

    await recordHistory('gitOperationWorkflow-create', handle);

    await service.writeFile(workspace.id, 'src/hello.txt', 'hello\n');
    const pushHandle = await stack.run(taskQueue, {
      op: 'commitPush',
      agentId: 'agent-1',
      workspaceId: workspace.id,
      message: 'add hello',
    });
    const pushed = await pushHandle.result();
    await recordHistory('gitOperationWorkflow-commit-push', pushHandle);
    assert.equal(pushed.op, 'commitPush');
    assert.equal(pushed.push.branch, 'agent/agent-1/task-1');
    assert.equal(pushed.push.alreadyLanded, false);
    const landed = cloneAndRead(remote.url, 'agent/agent-1/task-1');
    assert.equal(landed.subjects[0], 'add hello');
    assert.equal(landed.read('src/hello.txt'), 'hello\n');

    const pulled = await (
      await stack.run(taskQueue, { op: 'pull', agentId: 'agent-1', workspaceId: workspace.id })
    ).result();
    assert.equal(pulled.op, 'pull');
    assert.equal(pulled.pull.updated, false);

    await (await stack.run(taskQueue, { op: 'release', agentId: 'agent-1', workspaceId: workspace.id })).result();
    assert.equal((await service.getWorkspace(workspace.id))?.status, 'terminated');
  });
});

test('a conflict fails the workflow as a non-retryable GitConflict naming the files, after one attempt', async () => {
  const taskQueue = uniqueQueue('gitop-conflict');
  const remote = stack.repo({ 'shared.txt': 'one\ntwo\nthree\n' });
  await (
    await worker(taskQueue)
  ).runUntil(async () => {
    const a = (await create(taskQueue, 'agent-a', remote.url)).workspace;
    const b = (await create(taskQueue, 'agent-b', remote.url)).workspace;
    await service.writeFile(a.id, 'shared.txt', 'one\nTWO by a\nthree\n');
    await service.writeFile(b.id, 'shared.txt', 'one\nTWO by b\nthree\n');
    await (
      await stack.run(taskQueue, {
        op: 'commitPush',
        agentId: 'agent-a',
        workspaceId: a.id,
        message: 'a edits',
        targetBranch: 'main',
      })
    ).result();

    const handle = await stack.run(taskQueue, {
      op: 'commitPush',
      agentId: 'agent-b',
      workspaceId: b.id,
      message: 'b edits',
      targetBranch: 'main',
    });
    const err = await handle.result().then(
      () => assert.fail('expected a conflict'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError);
    assert.ok(err.cause instanceof ApplicationFailure);
    assert.equal(err.cause.type, ErrorType.Conflict);
    assert.equal(err.cause.nonRetryable, true);
    assert.deepEqual((err.cause.details?.[0] as { files: string[] }).files, ['shared.txt']);

    // non-retryable: Temporal never scheduled a second attempt
    const history = await handle.fetchHistory();
    const attempts = history.events
      ?.filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes?.attempt);
    assert.deepEqual(attempts, [1]);
    assert.equal(cloneAndRead(remote.url, 'main').read('shared.txt'), 'one\nTWO by a\nthree\n');
    await recordHistory('gitOperationWorkflow-conflict-failed', handle);
  });
});

test('a worker killed during a push: the workflow completes on a new worker and the commit lands once', async () => {
  const taskQueue = uniqueQueue('gitop-crash');
  const remote = stack.repo();
  let ws!: { id: string; agentBranch: string };
  await (
    await worker(taskQueue)
  ).runUntil(async () => {
    ws = (await create(taskQueue, 'agent-c', remote.url)).workspace;
  });
  await service.writeFile(ws.id, 'crash.txt', 'survives\n');

  // The first worker's push reaches the remote, then its process "dies" before reporting:
  // the attempt never returns and the worker is shut down under it.
  let pushedByFirst!: () => void;
  const firstPushLanded = new Promise<void>((r) => {
    pushedByFirst = r;
  });
  const dying: GitService = Object.create(service, {
    commitAndPush: {
      value: async (...args: Parameters<GitService['commitAndPush']>) => {
        await service.commitAndPush(...args);
        pushedByFirst();
        return new Promise<never>(() => undefined);
      },
    },
  });
  const first = await worker(taskQueue, dying);
  const firstRun = first.run();
  const workflowId = gitOperationWorkflowId(ws.id, 'commitPush', randomBytes(4).toString('hex'));
  const handle = await stack.run(
    taskQueue,
    { op: 'commitPush', agentId: 'agent-c', workspaceId: ws.id, message: 'crash-safe commit' },
    workflowId,
  );
  await firstPushLanded;
  first.shutdown();
  await firstRun;

  const second = await worker(taskQueue);
  const result = await second.runUntil(handle.result());
  assert.equal(result.op, 'commitPush');
  assert.equal(result.push.alreadyLanded, true);
  const landed = cloneAndRead(remote.url, ws.agentBranch);
  assert.equal(landed.subjects.filter((s) => s === 'crash-safe commit').length, 1);
  assert.equal(landed.read('crash.txt'), 'survives\n');
  const attempts = (await handle.fetchHistory()).events
    ?.filter((e) => e.activityTaskStartedEventAttributes)
    .map((e) => e.activityTaskStartedEventAttributes?.attempt);
  assert.ok((attempts?.at(-1) ?? 0) >= 2, `expected a retried attempt, got ${JSON.stringify(attempts)}`);
  await recordHistory('gitOperationWorkflow-push-retried-after-crash', handle);
});

test('a long push heartbeats the server every few seconds, not every 0.8 × its 10 s heartbeat timeout', async () => {
  // With the SDK's default throttle a push's heartbeats reached the server 8 s apart: a server or
  // worker stalled for 2 s (seen under the chaos faults) timed out a healthy push.
  const taskQueue = uniqueQueue('gitop-hb');
  const remote = stack.repo();
  let ws!: { id: string; agentBranch: string };
  await (
    await worker(taskQueue)
  ).runUntil(async () => {
    ws = (await create(taskQueue, 'agent-hb', remote.url)).workspace;
  });
  await service.writeFile(ws.id, 'slow.txt', 'slow\n');
  const slow: GitService = Object.create(service, {
    commitAndPush: {
      value: async (...args: Parameters<GitService['commitAndPush']>) => {
        await new Promise((r) => setTimeout(r, 7_000));
        return service.commitAndPush(...args);
      },
    },
  });
  const handle = await stack.run(taskQueue, {
    op: 'commitPush',
    agentId: 'agent-hb',
    workspaceId: ws.id,
    message: 'slow commit',
  });
  const seen = new Set<string>();
  const result = await (
    await worker(taskQueue, slow)
  ).runUntil(async () => {
    const done = handle.result();
    let finished = false;
    void done.finally(() => {
      finished = true;
    });
    while (!finished) {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      const at = pending[0]?.lastHeartbeatTime;
      if (at) seen.add(`${String(at.seconds)}.${String(at.nanos)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return done;
  });
  assert.equal(result.op, 'commitPush');
  // 7 s of push: heartbeats at 0 s and 8 s before, at 0, 2, 4, 6 s now
  assert.ok(seen.size >= 3, `the server recorded ${seen.size} distinct heartbeats during a 7 s push`);
});
