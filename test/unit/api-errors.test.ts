import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { ApplicationFailure, NamespaceNotFoundError, WorkflowFailedError } from '@temporalio/client';
import { isDependencyUnavailable, mapError } from '../../api/errors.js';
import { DomainError, ErrorType } from '../../lib/errors.js';

test('a conflict maps to 409 with the files; an escalated one says so', () => {
  const c = mapError(new DomainError(ErrorType.Conflict, 'x', { details: { files: ['a.txt'] } }));
  assert.equal(c.status, 409);
  assert.deepEqual(c.body.files, ['a.txt']);
  assert.equal(c.body.escalated, undefined);
  const e = mapError(new DomainError(ErrorType.ConflictEscalated, 'x', { details: { files: ['a.txt'] } }));
  assert.equal(e.status, 409);
  assert.equal(e.body.escalated, true);
});

test('a validation error maps to 400 naming the field', () => {
  const m = mapError(
    new DomainError(ErrorType.Validation, 'path: must not contain ".." components', { details: { field: 'path' } }),
  );
  assert.deepEqual({ status: m.status, field: m.body.field }, { status: 400, field: 'path' });
});

test('busy or unreachable dependencies map to 503 with Retry-After', () => {
  for (const type of [ErrorType.LockTimeout, ErrorType.PoolExhausted, ErrorType.Unavailable]) {
    const m = mapError(new DomainError(type, 'x'));
    assert.equal(m.status, 503, type);
    assert.equal(m.retryAfter, true, type);
  }
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  assert.equal(mapError(refused).status, 503);
  assert.equal(mapError(new Error('wrapped', { cause: refused })).status, 503);
});

test('a failed gitOperationWorkflow maps by the ApplicationFailure type it carries', () => {
  const failure = ApplicationFailure.create({
    type: ErrorType.Conflict,
    message: 'conflict',
    details: [{ category: 'conflict', files: ['f'] }],
    nonRetryable: true,
  });
  const m = mapError(new WorkflowFailedError('Workflow execution failed', failure, 'NON_RETRYABLE_FAILURE'));
  assert.equal(m.status, 409);
  assert.deepEqual(m.body.files, ['f']);
  assert.equal(m.body.category, undefined);
});

test('unknown errors are 500 without their message (it may quote a remote or a secret)', () => {
  const m = mapError(new Error('fatal: could not read from https://user:secret@host/repo'));
  assert.equal(m.status, 500);
  assert.doesNotMatch(JSON.stringify(m.body), /secret|host/);
});

test('plain application errors are not mistaken for a dependency outage', () => {
  assert.equal(isDependencyUnavailable(new Error('boom')), false);
  assert.equal(isDependencyUnavailable(Object.assign(new Error('dup'), { code: '23505' })), false);
});

test('Temporal not serving the namespace (a frontend starting or overloaded) is 503 + Retry-After, not 500', () => {
  // issue 12, found by the chaos suite: under an overloaded dev server every start answered
  // NamespaceNotFoundError for minutes; the API said 500 "internal error", the client took the
  // push for failed, and the run its first attempt had started landed it
  const m = mapError(new NamespaceNotFoundError('default'));
  assert.equal(m.status, 503);
  assert.equal(m.retryAfter, true);
  const exhausted = Object.assign(new Error('8 RESOURCE_EXHAUSTED: namespace rate limit exceeded'), {
    code: 8,
    metadata: {},
  });
  assert.equal(mapError(exhausted).status, 503);
});
