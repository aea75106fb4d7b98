import assert from 'node:assert/strict';

/** What `p` rejects with; the test fails if it resolves. */
export async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => assert.fail('expected a failure'),
    (e: unknown) => e,
  );
}
