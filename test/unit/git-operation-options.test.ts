/**
 * gitOperationWorkflow's pull and commit + push retry long enough to outlast what a Postgres
 * restart leaves behind: the restart itself (the chaos suite's takes ~13 s) and the workspace
 * operation lease an attempt cut off from Postgres could not release (it expires after
 * OP_LEASE_TTL_MS). Until then every attempt fails at once (Unavailable, then WorkspaceBusy).
 */
import { expect, test } from '@jest/globals';
import { msToNumber } from '@temporalio/common/lib/time.js';
import { OP_LEASE_TTL_MS } from '../../lib/service/ownership.js';
import { PUSH_PULL_OPTIONS } from '../../workflows/git-operation/options.js';

const POSTGRES_RESTART_MS = 15_000;

test('commit + push and pull keep retrying past a Postgres restart plus a workspace lease it left held', () => {
  const r = PUSH_PULL_OPTIONS.retry!;
  const initial = msToNumber(r.initialInterval!);
  const max = msToNumber(r.maximumInterval!);
  let backoffs = 0;
  for (let n = 1; n < r.maximumAttempts!; n++) backoffs += Math.min(max, initial * r.backoffCoefficient! ** (n - 1));
  expect(backoffs).toBeGreaterThanOrEqual(OP_LEASE_TTL_MS + POSTGRES_RESTART_MS);
});
