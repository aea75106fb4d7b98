/**
 * Issue 9 item 6: a cut-off process notices. Every process caches the flags and hears changes
 * (the kill switch) over one Postgres connection; under a silent network partition — packets
 * dropped, no RST — that connection looks open for as long as the OS's keepalive allows (2 h).
 * The cache must notice on its own (client-side heartbeat timeout, TCP keepalive) and serve
 * approach 1 (every percent treated as 0) within 30 s of losing Postgres, and come back to the
 * real flags once Postgres is reachable again — without a restart.
 *
 * The partition is made with a TCP proxy this test controls (scripts/testing/tcp-proxy.ts)
 * between the cache and the real Postgres.
 */
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { FlagCache } from '../../lib/flags/cache.js';
import { FlagStore } from '../../lib/flags/store.js';
import { startTcpProxy, viaProxy, type TcpProxy } from '../../scripts/testing/tcp-proxy.js';
import { freshDb, type TestDb } from '../helpers/db.js';

let t: TestDb;
let proxy: TcpProxy;
let cache: FlagCache | undefined;

beforeAll(async () => {
  t = await freshDb('partition');
  const u = new URL(t.url);
  proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
});

afterAll(async () => {
  await cache?.close();
  await proxy?.close();
  await t?.drop();
});

async function until(what: string, pred: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  while (!pred()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return (performance.now() - t0) / 1000;
}

describe('partition fail-safe', () => {
  test('a silent partition moves the process to approach 1 in < 30 s, and it recovers when Postgres is back', async () => {
    const store = new FlagStore(t.db);
    await store.set('git.push', { percent: 100, shadow: true }, { actor: 'test', reason: 'cutover' });
    // the process's defaults: no test-only tuning of the heartbeat or the fail-safe
    cache = await FlagCache.start({ connectionString: viaProxy(t.url, proxy), processId: 'partitioned-process' });
    assert.equal(cache.get('git.push')?.percent, 100);

    proxy.drop();
    const failsafeS = await until(
      'approach 1 after the partition',
      () => cache!.get('git.push')?.percent === 0,
      30_000,
    );
    process.stderr.write(`[partition] fail-safe after ${failsafeS.toFixed(1)} s\n`);
    assert.equal(cache.get('git.push')?.shadow, false);
    assert.ok(cache.all().every((f) => f.percent === 0 && !f.shadow));

    // a change made during the partition reaches the process once Postgres is reachable again
    await store.set('git.push', { percent: 50 }, { actor: 'test', reason: 'during the partition' });
    proxy.forward();
    const recoveredS = await until(
      'the real flags after the partition',
      () => cache!.get('git.push')?.percent === 50,
      30_000,
    );
    process.stderr.write(`[partition] recovered ${recoveredS.toFixed(1)} s after Postgres was reachable\n`);
    assert.equal(cache.connected, true);
  });
});
