import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { MockActivityEnvironment } from '@temporalio/testing';
import { createGitActivities } from '../../activities/git.js';
import type { WorkspaceSummary } from '../../lib/service/workspace-summary.js';
import { createPoolActivities } from '../../activities/pool.js';
import { DomainError, ErrorType } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import type { CommitPushResult, GitService, Workspace } from '../../lib/service/types.js';
import { boundaryEnv } from '../helpers/activities.js';

const log = createLogger({ level: 'silent' });

/** An activity context behind the workers' activity boundary, as a workflow sees it. */
const mockEnv = (): MockActivityEnvironment => boundaryEnv({ log });

const WS: Workspace = {
  id: 'ws-1',
  agentId: 'agent-1',
  taskId: 't1',
  repoUrl: 'file:///r.git',
  baseBranch: 'main',
  agentBranch: 'agent/agent-1/t1',
  approach: 'simple',
  sandboxId: 'sb-1',
  status: 'ready',
  createdAt: new Date('2025-01-02T03:04:05Z'),
  lastUsedAt: null,
};

function unexpected(): never {
  throw new Error('not used by this test');
}

/** A GitService whose every method fails unless the test supplies it. */
function fakeService(overrides: Partial<GitService>): GitService {
  return {
    approach: 'simple',
    createWorkspace: unexpected,
    getWorkspace: unexpected,
    status: unexpected,
    diff: unexpected,
    writeFile: unexpected,
    readFile: unexpected,
    commitAndPush: unexpected,
    pull: unexpected,
    release: unexpected,
    ...overrides,
  };
}

async function failureOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail('expected the activity to fail');
}

test('a push conflict fails as a non-retryable GitConflict naming the files', async () => {
  const acts = createGitActivities({
    log,
    service: fakeService({
      commitAndPush: async () => {
        throw new DomainError(ErrorType.Conflict, 'rebase conflict', { details: { files: ['src/a.ts', 'b.md'] } });
      },
    }),
  });
  const err = await failureOf(
    mockEnv().run(acts.commitPush, { workspaceId: 'ws-1', message: 'm', operationId: 'op-1' }),
  );
  assert.ok(err instanceof ApplicationFailure);
  assert.equal(err.type, ErrorType.Conflict);
  assert.equal(err.nonRetryable, true);
  assert.deepEqual(err.details, [{ category: 'conflict', files: ['src/a.ts', 'b.md'] }]);
});

test('an escalated conflict keeps its own type so the workflow and API can tell it apart', async () => {
  const acts = createGitActivities({
    log,
    service: fakeService({
      pull: async () => {
        throw new DomainError(ErrorType.ConflictEscalated, 'gave up after 3 attempts', {
          details: { files: ['x'], attempts: 3 },
        });
      },
    }),
  });
  const err = await failureOf(mockEnv().run(acts.pull, { workspaceId: 'ws-1' }));
  assert.ok(err instanceof ApplicationFailure);
  assert.equal(err.type, ErrorType.ConflictEscalated);
  assert.equal(err.nonRetryable, true);
});

test('a network error fails as a retryable NetworkError', async () => {
  const acts = createGitActivities({
    log,
    service: fakeService({
      pull: async () => {
        throw new DomainError(ErrorType.Network, 'could not resolve host');
      },
    }),
  });
  const err = await failureOf(mockEnv().run(acts.pull, { workspaceId: 'ws-1' }));
  assert.ok(err instanceof ApplicationFailure);
  assert.equal(err.type, ErrorType.Network);
  assert.equal(err.nonRetryable, false);
  assert.deepEqual(err.details, [{ category: 'network' }]);
});

test('a lock timeout is retryable (Temporal backs off and tries again)', async () => {
  const acts = createGitActivities({
    log,
    service: fakeService({
      commitAndPush: async () => {
        throw new DomainError(ErrorType.LockTimeout, 'push lock busy');
      },
    }),
  });
  const err = await failureOf(mockEnv().run(acts.commitPush, { workspaceId: 'ws-1', message: 'm', operationId: 'op' }));
  assert.ok(err instanceof ApplicationFailure);
  assert.equal(err.type, ErrorType.LockTimeout);
  assert.equal(err.nonRetryable, false);
});

test('an unexpected error is passed through untouched for the SDK to report as retryable', async () => {
  const boom = new RangeError('bug');
  const acts = createGitActivities({
    log,
    service: fakeService({
      pull: async () => {
        throw boom;
      },
    }),
  });
  const err = await failureOf(mockEnv().run(acts.pull, { workspaceId: 'ws-1' }));
  assert.equal(err, boom);
});

test('createWorkspace heartbeats the service progress and returns a JSON-safe workspace', async () => {
  const acts = createGitActivities({
    log,
    service: fakeService({
      createWorkspace: async (input, progress) => {
        progress?.({ step: 'sandbox' });
        progress?.({ step: 'clone' });
        return { ...WS, id: input.workspaceId ?? 'x' };
      },
    }),
  });
  const env = mockEnv();
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  const ws = (await env.run(acts.createWorkspace, {
    workspaceId: 'ws-9',
    agentId: 'agent-1',
    taskId: 't1',
    repoUrl: 'file:///r.git',
  })) as WorkspaceSummary;
  assert.equal(ws.id, 'ws-9');
  assert.equal(ws.createdAt, '2025-01-02T03:04:05.000Z');
  assert.equal(ws.lastUsedAt, null);
  assert.deepEqual(beats, [{ step: 'start' }, { step: 'sandbox' }, { step: 'clone' }]);
});

test('commitPush hands the operation id and target branch to the service', async () => {
  const seen: unknown[] = [];
  const acts = createGitActivities({
    log,
    service: fakeService({
      commitAndPush: async (id, input) => {
        seen.push({ id, ...input });
        return { commit: 'abc', branch: input.targetBranch ?? 'agent/a/t', attempts: 1, alreadyLanded: false };
      },
    }),
  });
  const res = (await mockEnv().run(acts.commitPush, {
    workspaceId: 'ws-1',
    message: 'msg',
    targetBranch: 'shared',
    operationId: 'wf-1',
  })) as CommitPushResult;
  // allowQueue is the caller's (gitOperationWorkflow's) say; absent here, it reaches the service as undefined
  assert.deepEqual(seen, [
    { id: 'ws-1', message: 'msg', targetBranch: 'shared', operationId: 'wf-1', allowQueue: undefined },
  ]);
  assert.equal(res.branch, 'shared');
});

test('release run twice succeeds: a workspace already gone counts as released', async () => {
  let released = 0;
  const acts = createGitActivities({
    log,
    service: fakeService({
      release: async () => {
        released += 1;
        if (released > 1) throw new DomainError(ErrorType.NotFound, 'no such workspace');
      },
    }),
  });
  const env = mockEnv();
  await env.run(acts.release, { workspaceId: 'ws-1' });
  await env.run(acts.release, { workspaceId: 'ws-1' });
  assert.equal(released, 2);
});

test('release still fails on errors other than NotFound', async () => {
  const acts = createGitActivities({
    log,
    service: fakeService({
      release: async () => {
        throw new DomainError(ErrorType.Unavailable, 'db down');
      },
    }),
  });
  const err = await failureOf(mockEnv().run(acts.release, { workspaceId: 'ws-1' }));
  assert.ok(err instanceof ApplicationFailure);
  assert.equal(err.type, ErrorType.Unavailable);
});

test('a cancelled attempt stops waiting for a hung service call', async () => {
  const acts = createGitActivities({ log, service: fakeService({ pull: () => new Promise(() => undefined) }) });
  const env = mockEnv();
  const run = env.run(acts.pull, { workspaceId: 'ws-1' });
  setTimeout(() => env.cancel('WORKER_SHUTDOWN'), 20);
  const err = await failureOf(run);
  assert.ok(err instanceof CancelledFailure, `got ${String(err)}`);
});

test('pool activities report the numeric counts of the pool chores', async () => {
  const calls: string[] = [];
  const acts = createPoolActivities({
    log,
    pool: {
      healthCheck: async () => {
        calls.push('health');
        return { checked: 3, replaced: 1, ids: ['a'] };
      },
      cleanupExpired: async () => {
        calls.push('cleanup');
        return { terminated: 2 };
      },
    },
  });
  const env = mockEnv();
  assert.deepEqual(await env.run(acts.checkPoolHealth), { checked: 3, replaced: 1 });
  assert.deepEqual(await env.run(acts.cleanupExpiredSandboxes), { terminated: 2 });
  assert.deepEqual(calls, ['health', 'cleanup']);
});
