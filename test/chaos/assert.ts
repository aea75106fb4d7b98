/**
 * The invariants every chaos test asserts after its fault (issue 12, "What must hold after
 * each"), on the verdict read from the records (scripts/testing/chaos/check.ts).
 */
import assert from 'node:assert/strict';
import { describeResponse, describeVerdict } from '../../scripts/testing/chaos/check.js';
import type { FaultResult } from '../../scripts/testing/chaos/faults.js';

export function assertSurvived(r: FaultResult, o: { maxRecoveryS?: number } = {}): void {
  const v = r.verdict;
  process.stderr.write(
    `[chaos] ${r.name}: fault ${r.faultS.toFixed(1)} s, recovery ${r.recoveryS.toFixed(1)} s, ${describeVerdict(v)} notes ${JSON.stringify(r.notes)}\n`,
  );
  const why = `${r.name}: ${describeVerdict(v)}`;
  assert.ok(v.acknowledged > 0, `${why}: nothing was acknowledged`);
  // a client left without a definite answer after its whole retry budget was not served again
  assert.equal(v.unknown, 0, `${why}: pushes without a definite answer within the clients' retry budget`);
  assert.deepEqual(v.lost, [], `${why}: acknowledged pushes missing from the remote`);
  assert.deepEqual(v.duplicated, [], `${why}: pushes on the remote more than once`);
  assert.deepEqual(v.failedButLanded, [], `${why}: pushes the client was told failed are on the remote`);
  assert.deepEqual(v.doubleHeld, [], `${why}: a sandbox held by two workspaces`);
  assert.deepEqual(v.leakedLocks, [], `${why}: locks held while nothing runs`);
  assert.deepEqual(v.stuck, [], `${why}: workspaces stuck in a transitional status`);
  assert.deepEqual(v.bad5xx.map(describeResponse), [], `${why}: 5xx answers other than 503 + Retry-After`);
  assert.ok(r.recoveryS < (o.maxRecoveryS ?? 60), `${why}: recovery took ${r.recoveryS.toFixed(1)} s`);
}
