/**
 * Benchmark `load-engine`: holds 80 req/s over 20 connections for 60 s against a local target
 * (a node:http server answering after 5 ms, in a child process so that the RSS reported is the
 * engine's own). Goal: achieved rate within ±2% of the target.
 *
 * Env: BENCH_DURATION_S (default 60), BENCH_RPS (80), BENCH_CONNS (20).
 * Prints one final line: BENCH load-engine target_rps=80 achieved_rps=<n> conns=20 rss_mb=<n>
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { runLoad } from '../lib/load/engine.js';

const durationS = Number(process.env.BENCH_DURATION_S ?? 60);
const rps = Number(process.env.BENCH_RPS ?? 80);
const conns = Number(process.env.BENCH_CONNS ?? 20);

const TARGET_SRC = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => setTimeout(() => { res.setHeader('content-type', 'application/json'); res.end('{"ok":true}'); }, 5));
});
server.keepAliveTimeout = 65000;
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
process.on('disconnect', () => process.exit(0));
`;

async function startTarget(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, ['-e', TARGET_SRC], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(String(chunk).trim());
  if (!Number.isInteger(port)) throw new Error('target did not report its port');
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () => {
      child.kill('SIGTERM');
    },
  };
}

async function main(): Promise<void> {
  const target = await startTarget();
  let rssPeak = process.memoryUsage().rss;
  try {
    const result = await runLoad({
      target: target.url,
      rps,
      connections: conns,
      durationMs: durationS * 1000,
      mix: [
        { name: 'status', weight: 3, request: { method: 'GET', path: '/v1/workspaces/bench/status' } },
        {
          name: 'write',
          weight: 1,
          request: {
            method: 'PUT',
            path: '/v1/workspaces/bench/files/a.txt',
            headers: { 'content-type': 'application/json' },
            body: '{"content":"x"}',
          },
        },
      ],
      headers: { authorization: 'Bearer bench-token-not-secret' },
      onProgress: () => {
        rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      },
    });
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    process.stderr.write(
      `sent=${result.sent} 2xx=${result.status['2xx']} errors=${result.status.errors} dropped=${result.dropped} ` +
        `p50_ms=${result.latencyMs.p50} p99_ms=${result.latencyMs.p99} max_ms=${result.latencyMs.max}\n`,
    );
    console.log(
      `BENCH load-engine target_rps=${rps} achieved_rps=${result.achievedRps.toFixed(2)} conns=${conns} rss_mb=${(rssPeak / 1048576).toFixed(1)}`,
    );
  } finally {
    target.stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`load-engine bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
