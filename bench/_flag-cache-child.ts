/**
 * A separate process holding a FlagCache, as an API or worker process would (used by
 * bench/kill-switch.ts). Reports over IPC when it is ready and every change it applies, stamped
 * with this machine's high-resolution wall clock (performance.timeOrigin + now), which the parent
 * shares. Exits when the parent disconnects.
 */
import { performance } from 'node:perf_hooks';
import { FlagCache } from '../lib/flags/cache.js';

const url = process.env.SGC_BENCH_DB_URL;
if (!url || !process.send) throw new Error('run by bench/kill-switch.ts (SGC_BENCH_DB_URL and an IPC channel)');
const send = process.send.bind(process);

const cache = await FlagCache.start({
  connectionString: url,
  processId: `bench-child-${process.pid}`,
  heartbeatMs: 1_000,
});
cache.onChange((e) => {
  send({
    type: 'change',
    at: performance.timeOrigin + performance.now(),
    version: e.version,
    percentSum: cache.all().reduce((n, f) => n + f.percent, 0),
  });
});
send({ type: 'ready', processId: cache.processId });
process.on('disconnect', () => {
  void cache.close().finally(() => process.exit(0));
});
