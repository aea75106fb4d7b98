/**
 * `npm run bench -- <name>` runs one benchmark (bench/<name>.ts); `npm run bench` runs all.
 * Each ends by printing one line `BENCH <name> key=value …` (DESIGN.md lists names and goals).
 * Benchmarks that need the real stack get it from scripts/stack.ts's provisioning.
 * BENCH_NODE_ARGS passes extra node flags to the benchmark's process, e.g. a CPU profile:
 * `BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench -- status-overhead`.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  ROOT,
  ensureTemporal,
  ensurePrometheus,
  ensurePostgres,
  startTemporalDev,
  freePort,
  DATA_DIR,
} from '../scripts/stack.js';

const names = readdirSync(join(ROOT, 'bench'))
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();

async function main(): Promise<number> {
  const wanted = process.argv.slice(2);
  for (const w of wanted)
    if (!names.includes(w)) throw new Error(`unknown benchmark "${w}"; known: ${names.join(', ')}`);
  const run = wanted.length ? wanted : names;
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' };
  const prom = ensurePrometheus();
  env.SGC_PROMETHEUS_BIN = prom.prometheus;
  env.SGC_PROMTOOL_BIN = prom.promtool;
  const temporalBin = ensureTemporal();
  env.SGC_TEMPORAL_BIN = temporalBin;
  const pgh = await ensurePostgres();
  env.SGC_TEST_PG_ADMIN_URL = pgh.adminUrl;
  const temporal = await startTemporalDev(temporalBin, {
    port: await freePort(),
    logFile: join(DATA_DIR, 'bench-temporal.log'),
  });
  env.SGC_TEST_TEMPORAL_ADDRESS = temporal.address;
  let worst = 0;
  try {
    for (const name of run) {
      process.stderr.write(`[bench] ${name}\n`);
      const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
      const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(ROOT, 'bench', `${name}.ts`)], {
        stdio: 'inherit',
        env,
        cwd: ROOT,
      });
      const code = await new Promise<number>((res) => child.on('exit', (c) => res(c ?? 1)));
      if (code !== 0) worst = code;
    }
  } finally {
    await temporal.stop();
    await pgh.stop();
  }
  return worst;
}

main().then(
  (c) => process.exit(c),
  (e: unknown) => {
    process.stderr.write(`[bench] ${(e as Error).message}\n`);
    process.exit(1);
  },
);
