/**
 * Issue 12, more faults (under `npm run chaos`, like faults.test.ts): the Temporal
 * dev server restarted on its state file mid-load, and Prometheus stopped for two analysis
 * intervals, and the sandboxes' disk full (a tmpfs, filled) during clones and pushes. Same stack, workload and checks as test/chaos/faults.test.ts.
 */
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import { diskFull, prometheusStop, runFault, temporalRestart } from '../../scripts/testing/chaos/faults.js';
import { startChaosStack, type ChaosStack } from '../../scripts/testing/chaos/stack.js';
import { stackEnv } from '../../scripts/testing/stack.js';
import { assertSurvived } from './assert.js';

const say = (m: string): void => void process.stderr.write(`[chaos] ${m}\n`);
let stack: ChaosStack;

beforeAll(async () => {
  stack = await startChaosStack({
    workers: 2,
    apis: 2,
    agents: 20,
    branches: 4,
    temporalBin: stackEnv('SGC_TEMPORAL_BIN'),
    prometheusBin: stackEnv('SGC_PROMETHEUS_BIN'),
    say,
    // the disk-full fault fills this tmpfs (mounting needs root)
    sandboxTmpfsBytes: 128 << 20,
  });
}, 300_000);

afterAll(async () => {
  await stack?.close();
});

describe('chaos (long): faults under an agent workload, two workers and two APIs', () => {
  test('the Temporal dev server restarted on its state file mid-load: operations resume, nothing lost or twice', async () => {
    assertSurvived(await runFault(stack, temporalRestart, { say }));
  });

  test('Prometheus stopped for two analysis intervals: agent git operations are unaffected', async () => {
    assertSurvived(await runFault(stack, prometheusStop(20_000), { say }));
  });

  test("the sandboxes' disk full during clones and pushes: refused pushes do not land, service recovers once space is freed", async () => {
    assertSurvived(await runFault(stack, diskFull(15_000), { say }));
  });
});
