import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { newWorkspaceId } from '../../clients/git-operations.js';
import { SEARCH_ATTRIBUTES } from '../../lib/search-attributes.js';
import { gitOperationWorkflowId, scheduleId } from '../../workflows/ids.js';
import * as keys from '../../workflows/search-attributes.js';

test('workflow and schedule ids are deterministic and readable', () => {
  assert.equal(gitOperationWorkflowId('ws1', 'commitPush', 'r1'), 'gitop-ws1-commitPush-r1');
  assert.equal(gitOperationWorkflowId('ws1', 'commitPush', 'r1'), gitOperationWorkflowId('ws1', 'commitPush', 'r1'));
  assert.notEqual(gitOperationWorkflowId('ws1', 'pull', 'r1'), gitOperationWorkflowId('ws1', 'commitPush', 'r1'));
  assert.equal(scheduleId('pool-cleanup'), 'sgc-pool-cleanup');
});

test('a create retried with the same idempotency key names the same workspace; other agents get another', () => {
  const a = newWorkspaceId('agent-1', 'key-1');
  assert.equal(a, newWorkspaceId('agent-1', 'key-1'));
  assert.notEqual(a, newWorkspaceId('agent-2', 'key-1'));
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(newWorkspaceId('agent-1'), newWorkspaceId('agent-1'));
});

test('typed search attribute keys match the names and types provisioning registers', () => {
  const types: Record<string, string> = { Keyword: 'KEYWORD', Int: 'INT' };
  const defined = Object.values(keys).map((k) => [k.name, k.type]);
  assert.deepEqual(
    defined.sort(),
    Object.entries(SEARCH_ATTRIBUTES)
      .map(([name, type]) => [name, types[type]])
      .sort(),
  );
});
