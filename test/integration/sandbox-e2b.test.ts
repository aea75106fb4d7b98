import { test } from '@jest/globals';
import { createE2bProvider } from '../../lib/sandbox/e2b.js';
import { runSandboxContract } from '../contract/sandbox-contract.js';

// E2B is a hosted service: the contract runs against it only with credentials. This is the one
// allowed skip (no network to E2B here); the local provider runs the same contract always.
const apiKey = process.env.E2B_API_KEY;
if (apiKey) {
  runSandboxContract('e2b', () => ({
    provider: createE2bProvider({ apiKey, template: process.env.E2B_TEMPLATE ?? 'code-interpreter-v1', defaultTimeoutMs: 300_000 }),
  }), { ttlMs: 10_000, ttlSlackMs: 10_000 });
} else {
  // reported as skipped, with the reason in its name
  test.skip('sandbox contract: e2b (E2B_API_KEY not set)', () => undefined);
}
