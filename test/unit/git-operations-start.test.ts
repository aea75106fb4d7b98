/**
 * clients/git-operations.ts starting an operation on a frontend that misses the start deadline
 * (issue 13: ~1,000 operations started at once, 49 lost to DEADLINE_EXCEEDED): the start is tried
 * again under the same workflow id, a bounded number of times; anything else is not retried.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { ServiceError, type Client } from '@temporalio/client';
import { executeGitOperation, isStartTimeout } from '../../clients/git-operations.js';

/** a gRPC error as @grpc/grpc-js raises it, wrapped as the client wraps a failed start */
function grpcFailure(code: number, details: string): ServiceError {
  const cause = Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
  return new ServiceError('Failed to start Workflow', { cause });
}

function fakeClient(failures: Error[]) {
  const starts: { workflowId: string; conflict: string }[] = [];
  const client = {
    connection: { withDeadline: <T>(_deadline: number, fn: () => Promise<T>): Promise<T> => fn() },
    workflow: {
      start: async (_wf: unknown, o: { workflowId: string; workflowIdConflictPolicy: string }) => {
        starts.push({ workflowId: o.workflowId, conflict: o.workflowIdConflictPolicy });
        const f = failures.shift();
        if (f) throw f;
        return { result: async () => ({ op: 'release' }) };
      },
      getHandle: () => assert.fail('no earlier run'),
    },
  } as unknown as Client;
  return { client, starts };
}

const input = { op: 'release', agentId: 'a', workspaceId: 'ws-1' } as const;

test('a start that missed its deadline (or found the frontend unavailable) is tried again under the same workflow id', async () => {
  const { client, starts } = fakeClient([grpcFailure(4, 'Deadline exceeded'), grpcFailure(14, 'No connection')]);
  const res = await executeGitOperation({ client, taskQueue: 'q' }, input, 'req-1');
  assert.deepEqual(res, { op: 'release' });
  assert.equal(starts.length, 3);
  assert.equal(new Set(starts.map((s) => s.workflowId)).size, 1, 'one workflow id');
  assert.ok(
    starts.every((s) => s.conflict === 'USE_EXISTING'),
    'a start the server took is attached to',
  );
});

test('the start gives up after three attempts, and does not retry other failures', async () => {
  const timeouts = fakeClient([1, 2, 3, 4].map(() => grpcFailure(4, 'Deadline exceeded')));
  await assert.rejects(executeGitOperation({ client: timeouts.client, taskQueue: 'q' }, input, 'req-2'), ServiceError);
  assert.equal(timeouts.starts.length, 3);
  const denied = fakeClient([grpcFailure(7, 'Permission denied')]);
  await assert.rejects(executeGitOperation({ client: denied.client, taskQueue: 'q' }, input, 'req-3'), ServiceError);
  assert.equal(denied.starts.length, 1);
  assert.equal(isStartTimeout(new Error('4 DEADLINE_EXCEEDED')), false, 'a message alone is not a gRPC status');
});
