/**
 * Repositories wrap driver errors with the operation's name, and keep what callers classify by:
 * an unreachable Postgres still maps to 503 in the API, a constraint violation keeps its SQLSTATE,
 * and a DomainError a repository raises on purpose passes unchanged.
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mapError } from '../../api/errors.js';
import { createDb } from '../../lib/db/index.js';
import { DomainError, ErrorType } from '../../lib/errors.js';
import { StoreError } from '../../lib/store/repository.js';
import { createSandboxRepository } from '../../lib/store/sandboxes.js';
import { createWorkspaceRepository } from '../../lib/store/workspaces.js';
import { freePort } from '../../scripts/stack.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { failure } from '../helpers/failure.js';

let t: TestDb;
beforeAll(async () => {
  t = await freshDb('storeerr');
});
afterAll(async () => {
  await t?.drop();
});

test('an unreachable database: the error names workspaces.findById and the API answers 503', async () => {
  const down = createDb(`postgres://nobody@127.0.0.1:${await freePort()}/none`, { max: 1 });
  try {
    const err = await failure(createWorkspaceRepository(down).findById('simple', 'ws-1'));
    assert.ok(err instanceof StoreError);
    assert.match(err.message, /^workspaces\.findById: /);
    assert.equal(err.operation, 'workspaces.findById');
    assert.equal(err.code, 'ECONNREFUSED');
    assert.equal(mapError(err).status, 503);
  } finally {
    await down.end();
  }
});

test('a driver error inside a statement keeps its SQLSTATE; a repository DomainError passes unchanged', async () => {
  const sandboxes = createSandboxRepository(t.db);
  // a status the table's CHECK constraint refuses: 23514 check_violation
  const err = await failure(
    sandboxes.insert({ sandboxId: 'sb-x', provider: 'local', isPooled: false, status: 'bogus' as never }),
  );
  assert.ok(err instanceof StoreError);
  assert.match(err.message, /^git_sandboxes\.insert: /);
  assert.equal(err.code, '23514');
  assert.ok((err.cause as { code?: string }).code === '23514', 'the driver error is the cause');

  const notFound = await failure(sandboxes.transition('no-such-sandbox', 'terminated'));
  assert.ok(notFound instanceof DomainError && notFound.type === ErrorType.NotFound);
});
