/**
 * `npm test`: provisions the real stack (Temporal CLI dev server, PostgreSQL, Prometheus
 * binaries), starts one Temporal dev server for the whole run, and runs node's test runner over
 * test/unit, test/workflows and test/integration (or the suites / files given as arguments).
 *
 *   npm test                      # everything
 *   npm test -- unit              # one suite
 *   npm test -- test/integration/api-flow.test.ts
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ensureTemporal, ensurePrometheus, ensurePostgres, startTemporalDev, freePort, ROOT, DATA_DIR } from './stack.js';

const SUITES = ['unit', 'workflows', 'integration'];

function testFiles(dir: string): string[] {
  let out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(testFiles(p));
    else if (e.endsWith('.test.ts')) out.push(relative(ROOT, p));
  }
  return out.sort();
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const selected = args.length === 0 ? SUITES : args;
  const files = selected.flatMap((a) => (SUITES.includes(a) ? testFiles(join(ROOT, 'test', a)) : [a]));
  if (files.length === 0) {
    process.stderr.write('no test files found\n');
    return 1;
  }
  const needsStack = files.some((f) => !f.includes('test/unit/'));
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'test', LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' };
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  process.once('SIGTERM', () => void cleanup().then(() => process.exit(143)));

  try {
    const prom = ensurePrometheus();
    env.SGC_PROMETHEUS_BIN = prom.prometheus;
    env.SGC_PROMTOOL_BIN = prom.promtool;
    if (needsStack) {
      const temporalBin = ensureTemporal();
      env.SGC_TEMPORAL_BIN = temporalBin;
      const pgh = await ensurePostgres();
      cleanups.push(() => pgh.stop());
      env.SGC_TEST_PG_ADMIN_URL = pgh.adminUrl;
      mkdirSync(DATA_DIR, { recursive: true });
      const temporal = await startTemporalDev(temporalBin, { port: await freePort(), logFile: join(DATA_DIR, 'test-temporal.log') });
      cleanups.push(() => temporal.stop());
      env.SGC_TEST_TEMPORAL_ADDRESS = temporal.address;
      process.stderr.write(`[test] temporal dev server on ${temporal.address}; postgres ${pgh.source}\n`);
    }
    const concurrency = process.env.TEST_CONCURRENCY ?? '2';
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files], {
      stdio: 'inherit',
      env,
      cwd: ROOT,
    });
    const code = await new Promise<number>((res) => child.on('exit', (c, s) => res(c ?? (s ? 1 : 0))));
    return code;
  } finally {
    await cleanup();
  }
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`[test] ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
