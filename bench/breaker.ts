/**
 * Benchmark `breaker`: how fast the live circuit breaker stops load once a target starts failing
 * (seed 003: "stop immediately if error rate > 2%"). A real HTTP server on loopback answers 200
 * for `BENCH_HEALTHY_S` seconds, then 500; the production baseline's guarded load
 * (lib/baseline/guarded-load.ts, the code the baseline activity runs) drives it at a fixed rate
 * with the default breaker (2 % over a 60 s sliding window). trip_latency_s is measured from the
 * first failing response the server sent to the moment the load had stopped. Repeated
 * `BENCH_RUNS` times; the median is printed. Goal: < 10.
 *
 * Env: BENCH_RPS (default 50), BENCH_HEALTHY_S (10), BENCH_RUNS (3).
 * Prints one final line: BENCH breaker trip_latency_s=<n>
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_BREAKER_THRESHOLDS, DEFAULT_SLIDING_BREAKER } from '../lib/baseline/breaker.js';
import { startGuardedLoad } from '../lib/baseline/guarded-load.js';

const rps = Number(process.env.BENCH_RPS ?? 50);
const healthyS = Number(process.env.BENCH_HEALTHY_S ?? 10);
const runs = Number(process.env.BENCH_RUNS ?? 3);

async function once(): Promise<{ latencyS: number; sent: number; reason: string }> {
  const started = Date.now();
  let firstFailureAt: number | null = null;
  const server = createServer((_req, res) => {
    const failing = Date.now() - started >= healthyS * 1000;
    if (failing && firstFailureAt === null) firstFailureAt = Date.now();
    res.writeHead(failing ? 500 : 200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as AddressInfo;
    const { done } = startGuardedLoad({
      load: {
        target: `http://127.0.0.1:${port}`,
        rps,
        connections: 4,
        durationMs: (healthyS + 120) * 1000,
        mix: [{ name: 'get', weight: 1, request: { method: 'GET', path: '/' } }],
        requestTimeoutMs: 5_000,
      },
      breaker: { ...DEFAULT_BREAKER_THRESHOLDS, ...DEFAULT_SLIDING_BREAKER },
    });
    const r = await done;
    const stopped = Date.now();
    if (!r.trip || firstFailureAt === null) throw new Error(`the breaker did not trip (sent ${r.result.sent})`);
    return { latencyS: (stopped - firstFailureAt) / 1000, sent: r.result.sent, reason: r.trip.reason };
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

async function main(): Promise<void> {
  const lat: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await once();
    lat.push(r.latencyS);
    process.stderr.write(
      `run ${i + 1}: stopped ${r.latencyS.toFixed(2)} s after the first failure (${r.sent} requests sent): ${r.reason}\n`,
    );
  }
  lat.sort((a, b) => a - b);
  console.log(`BENCH breaker trip_latency_s=${lat[Math.floor(lat.length / 2)].toFixed(2)}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`breaker bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
