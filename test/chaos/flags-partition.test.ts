/**
 * Issue 12 fault 5, the flags' invariant: "no process serves a percent older than the newest for
 * more than 30 s". The partition fault of faults.test.ts (a silent partition between one API
 * process and Postgres while an admin changes a flag through the other API), on a stack whose
 * API processes route by the flags (`service.approach: routed`, as `npm start` runs; faults.test.ts
 * runs `pooled`, where no process holds flags), with what each API process serves sampled all
 * along (`GET /v1/flags/cache`, scripts/testing/chaos/flags.ts) and held against the changes as
 * Postgres committed them; after the heal the flag changes once more. No agent workload: what the
 * partition does to pushes is faults.test.ts's business (and it made this test minutes slower on
 * a busy machine); this one reads the flags only. Under `npm run chaos`.
 */
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { partition, until, type FaultNotes } from '../../scripts/testing/chaos/faults.js';
import { flagChanges, flagStaleness, flagTimeline, watchFlagCaches } from '../../scripts/testing/chaos/flags.js';
import { startChaosStack, type ChaosStack } from '../../scripts/testing/chaos/stack.js';
import { startWorkload } from '../../scripts/testing/chaos/workload.js';
import { stackEnv } from '../../scripts/testing/stack.js';

const say = (m: string): void => void process.stderr.write(`[chaos] ${m}\n`);
const OPERATION = 'git.status';
/** the bound of issue 12 */
const MAX_STALE_S = 30;
let stack: ChaosStack;

beforeAll(async () => {
  stack = await startChaosStack({
    workers: 1,
    apis: 2,
    agents: 2,
    branches: 2,
    temporalBin: stackEnv('SGC_TEMPORAL_BIN'),
    prometheusBin: stackEnv('SGC_PROMETHEUS_BIN'),
    say,
    // every flag starts at 0 %: the agents are on approach 1; the fault moves git.status only
    env: { SERVICE_APPROACH: 'routed' },
  });
}, 300_000);

afterAll(async () => {
  await stack?.close();
});

describe('chaos: flags across a partition, two routed API processes', () => {
  test('no API process serves a git.status percent older than the newest for more than 30 s: the cut-off one fails safe to 0 %, and both serve the newest within 30 s of a change or the heal', async () => {
    const watch = watchFlagCaches(stack, OPERATION, 250);
    let notes: FaultNotes;
    let lastVersion: number;
    // the fault without agents (partition() changes the flags through the other API and heals)
    const idle = startWorkload({ apiUrls: [], agents: [], branches: [], repoUrl: stack.remote.url });
    try {
      // before the fault, both processes hold the flags (the cut-off one reaches Postgres through the proxy)
      await until(
        'both API processes serve the stored flags',
        () =>
          stack.service.apis.every((a) => {
            const last = watch.samples.filter((x) => x.api === a.name && x.ok).at(-1);
            return last !== undefined && !last.failSafe && last.version !== undefined;
          }),
        120_000,
      );
      notes = await partition(12_000).run({ stack, load: idle, say });
      // after the heal the flag changes once more: every process must serve it
      const admin = stack.service.apis.find((a) => a !== stack.partitionedApi)!;
      const res = await fetch(`${admin.url}/v1/flags/${OPERATION}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${stack.admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ percent: 30, reason: 'chaos: a change after the heal' }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      lastVersion = ((await res.json()) as { version: number }).version;
      await until(
        'every API process serves the change made after the heal',
        () =>
          stack.service.apis.every((a) => {
            const last = watch.samples.filter((s) => s.api === a.name && s.ok).at(-1);
            return last !== undefined && !last.failSafe && (last.version ?? 0) >= lastVersion;
          }),
        MAX_STALE_S * 1000,
      );
    } finally {
      await watch.stop();
    }
    const changes = await flagChanges(stack, OPERATION);
    const healedAt = Number(notes!.healedAt);
    const st = flagStaleness(watch.samples, changes, healedAt);
    const after = flagStaleness(watch.samples, changes, changes.find((c) => c.version >= lastVersion)!.at);
    say(`flags-partition: ${changes.length} changes of ${OPERATION}; per process ${JSON.stringify(st)}`);
    say(
      `flags-partition: changes (s after the heal) ${JSON.stringify(changes.map((c) => [c.version, c.percent, ((c.at - healedAt) / 1000).toFixed(1)]))}; ` +
        `served ${JSON.stringify(flagTimeline(watch.samples, healedAt))}`,
    );
    say(
      `flags-partition: caught up with the change after the heal ${JSON.stringify(after.map((p) => [p.api, p.caughtUpS]))}`,
    );
    assert.ok(Number(notes!.flagChanges) >= 3, 'flags changed during the partition');
    assert.deepEqual(
      st.map((p) => p.api),
      stack.service.apis.map((a) => a.name).sort(),
    );
    for (const p of st) {
      assert.ok(p.samples > 20, `${p.api}: sampled all along`);
      // from memory: it answers while cut off (a busy machine may miss a few 5 s deadlines)
      assert.ok(p.unanswered <= p.samples * 0.05, `${p.api}: ${p.unanswered} of ${p.samples} samples unanswered`);
      assert.ok(p.worstStaleS < MAX_STALE_S, `${p.api}: served a percent ${p.worstStaleS} s older than the newest`);
      assert.ok(
        p.caughtUpS !== null && p.caughtUpS < MAX_STALE_S,
        `${p.api}: served the newest ${p.caughtUpS} s after the heal`,
      );
    }
    for (const p of after)
      assert.ok(p.caughtUpS !== null && p.caughtUpS < MAX_STALE_S, `${p.api}: ${p.caughtUpS} s after the last change`);
    // the cut-off process failed closed (every flag at 0 %) while it could not hear Postgres
    const cut = st.find((p) => p.api === stack.partitionedApi.name)!;
    assert.ok(cut.failSafeS > 0, `${cut.api} failed safe during the 12 s partition`);
  });
});
