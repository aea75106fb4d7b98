import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createAuthenticator, hasRole } from '../../api/auth.js';

const AGENT_TOKEN = 'agent-token-0123456789';
const ADMIN_TOKEN = 'admin-token-0123456789';

const authenticate = createAuthenticator([
  { name: 'agent-a', role: 'agent', agentId: 'a1', token: AGENT_TOKEN },
  { name: 'admin', role: 'admin', sha256: createHash('sha256').update(ADMIN_TOKEN).digest('hex') },
]);

test('a plaintext token from the environment authenticates as its principal, bound to its agent', () => {
  assert.deepEqual(authenticate(`Bearer ${AGENT_TOKEN}`), { name: 'agent-a', role: 'agent', agentId: 'a1' });
});

test('a token configured by its SHA-256 authenticates', () => {
  assert.deepEqual(authenticate(`bearer ${ADMIN_TOKEN}`), { name: 'admin', role: 'admin' });
});

test('missing, malformed and unknown tokens are rejected', () => {
  assert.equal(authenticate(undefined), null);
  assert.equal(authenticate(AGENT_TOKEN), null);
  assert.equal(authenticate(`Basic ${AGENT_TOKEN}`), null);
  assert.equal(authenticate(`Bearer ${AGENT_TOKEN}x`), null);
  assert.equal(authenticate('Bearer '), null);
});

test('roles are ordered agent < operator < admin', () => {
  assert.equal(hasRole('admin', 'operator'), true);
  assert.equal(hasRole('operator', 'operator'), true);
  assert.equal(hasRole('agent', 'operator'), false);
  assert.equal(hasRole('operator', 'admin'), false);
});
