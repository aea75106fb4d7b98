/**
 * The hot-backup warmth probe (issue 10 item 2, "approach 1 kept ready during the hot backup"):
 * during cutover, can approach 1 serve an operation now? lib/service/hot-backup.ts asks approach
 * 1's sandbox provider for a sandbox, runs git in it and kills it; the canary's activity answers
 * cold (never fails) when it cannot. On the real local provider.
 */
import { afterAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createCanaryActivities } from '../../activities/canary.js';
import type { Db } from '../../lib/db/index.js';
import type { FlagStore } from '../../lib/flags/store.js';
import type { Logger } from '../../lib/log.js';
import { createLocalProvider } from '../../lib/sandbox/local.js';
import type { SandboxProvider } from '../../lib/sandbox/types.js';
import { probeApproach1 } from '../../lib/service/hot-backup.js';

const root = mkdtempSync(join(tmpdir(), 'sgc-hot-backup-'));
const provider = createLocalProvider({ root, defaultTimeoutMs: 60_000, reapIntervalMs: 200 });

afterAll(() => {
  provider.close();
  rmSync(root, { recursive: true, force: true });
});

test('a working approach 1 is warm: a sandbox served git, and the probe leaves no sandbox behind', async () => {
  const before = await provider.running();
  const r = await probeApproach1(provider);
  assert.equal(r.warm, true, r.detail);
  assert.match(r.detail, /^approach 1 \(local\) served a sandbox: git version \d/);
  assert.ok(r.ms >= 0 && r.ms < 20_000);
  assert.equal(await provider.running(), before, 'the probe sandbox is killed');
});

test('a provider that cannot create a sandbox is cold, with the reason', async () => {
  provider.setFaults({ failRate: 1 });
  try {
    const r = await probeApproach1(provider);
    assert.equal(r.warm, false);
    assert.match(r.detail, /^approach 1 \(local\) is cold: /);
  } finally {
    provider.setFaults({});
  }
});

test('a provider that does not answer is cold within the time limit, and a late sandbox is killed', async () => {
  let late: { killed: boolean } | null = null;
  const slow: Pick<SandboxProvider, 'create' | 'name'> = {
    name: 'local',
    create: async () => {
      await new Promise((r) => setTimeout(r, 600));
      const sb = { killed: false };
      late = sb;
      return {
        id: 'late',
        run: async () => ({ exitCode: 0, stdout: 'git version 2', stderr: '' }),
        kill: async () => {
          sb.killed = true;
        },
      } as never;
    },
  };
  const t0 = Date.now();
  const r = await probeApproach1(slow, { timeoutMs: 200 });
  assert.equal(r.warm, false);
  assert.match(r.detail, /no answer within 200 ms/);
  assert.ok(Date.now() - t0 < 550, 'answered at the time limit, not when the provider did');
  await new Promise((r) => setTimeout(r, 700));
  assert.equal((late as { killed: boolean } | null)?.killed, true);
});

test('the canary activity answers cold instead of failing: no probe in this worker, or a probe that throws', async () => {
  const deps = {
    flags: {} as FlagStore,
    prom: { queryScalar: async () => ({ kind: 'nodata', reason: 'empty' }) as const },
    queries: {},
    db: {} as Db,
    log: pino({ level: 'silent' }) as unknown as Logger,
  };
  const none = await createCanaryActivities(deps).probeHotBackup();
  assert.equal(none.warm, false);
  assert.match(none.detail, /cannot probe approach 1/);
  const throwing = await createCanaryActivities({
    ...deps,
    probeHotBackup: () => Promise.reject(new Error('provider API down')),
  }).probeHotBackup();
  assert.deepEqual([throwing.warm, throwing.detail], [false, 'probe failed: provider API down']);
  const warm = await createCanaryActivities({
    ...deps,
    probeHotBackup: () => probeApproach1(provider),
  }).probeHotBackup();
  assert.equal(warm.warm, true, warm.detail);
});
