/**
 * Benchmark `partition` (issue 9 item 6): how long a process keeps serving the flags it cached
 * after Postgres silently disappears (packets dropped, no RST). A FlagCache with the production
 * defaults connects through a TCP proxy (scripts/testing/tcp-proxy.ts) to a fresh database with
 * git.push at 100%; the proxy then black-holes the path and the clock runs until the cache
 * answers 0% (approach 1). Then the path comes back and the recovery is timed too (stderr).
 *
 * Goal < 30 s (the seed's rollback bound), aim < 10 s.
 * Prints: BENCH partition failsafe_s=<n>
 */
import { performance } from 'node:perf_hooks';
import { FlagCache } from '../lib/flags/cache.js';
import { FlagStore } from '../lib/flags/store.js';
import { freshDb } from '../scripts/testing/db.js';
import { startTcpProxy, viaProxy } from '../scripts/testing/tcp-proxy.js';

const LIMIT_S = 120;

async function until(pred: () => boolean): Promise<number> {
  const t0 = performance.now();
  while (!pred()) {
    if (performance.now() - t0 > LIMIT_S * 1000) throw new Error(`not within ${LIMIT_S} s`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  const t = await freshDb('bench_partition');
  const u = new URL(t.url);
  const proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
  let cache: FlagCache | undefined;
  try {
    const store = new FlagStore(t.db);
    await store.set('git.push', { percent: 100, shadow: true }, { actor: 'bench', reason: 'cutover' });
    cache = await FlagCache.start({ connectionString: viaProxy(t.url, proxy), processId: 'bench-partitioned' });
    // a process in its steady state: connected for a while, heartbeats going
    await new Promise((r) => setTimeout(r, 3_000));
    if (cache.get('git.push')?.percent !== 100) throw new Error('the cache did not load the flags');
    proxy.drop();
    const c = cache;
    const failsafe = await until(() => c.get('git.push')?.percent === 0);
    proxy.forward();
    const recovered = await until(() => c.get('git.push')?.percent === 100);
    process.stderr.write(
      `partition → approach 1 after ${failsafe.toFixed(2)} s; Postgres back → flags re-read after ${recovered.toFixed(2)} s\n`,
    );
    console.log(`BENCH partition failsafe_s=${failsafe.toFixed(2)}`);
  } finally {
    await cache?.close();
    await proxy.close();
    await t.drop();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`[bench partition] ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
