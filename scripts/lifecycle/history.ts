/**
 * The generated metric history the lifecycle's backtest runs over (issue 11 item 1): weeks of a
 * service whose peak concurrency grows past the seed-000 trigger, written as OpenMetrics
 * (lib/prom/openmetrics.ts) and turned into TSDB blocks with promtool, then placed in the data
 * directory of the Prometheus `npm start` runs — before that Prometheus starts, so it loads them
 * at once and nothing is moved under a running server.
 *
 * The blocks carry only gitops_* series in a window that ends 4 hours before the first start
 * (FACTS.md: never backfill the most recent ~3 h); the live workload's series live in the head
 * block, far from that window. `.data/demo/history.json` remembers the window and the blocks: a
 * later start reuses them for a week, then replaces them (old blocks removed first, so two
 * generated histories never overlap).
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeOpenMetricsFile, type HourContext, type ProfilePoint } from '../../lib/prom/openmetrics.js';

export interface DemoHistory {
  /** unix seconds, the backtest window */
  start: number;
  end: number;
  weeks: number;
  stepSeconds: number;
  /** block directories (ULIDs) placed in the Prometheus data dir */
  blocks: string[];
  createdAt: string;
}

/** A reused history may be at most this old (its window stays well inside the retention). */
const REUSE_FOR_MS = 7 * 86_400_000;

/** The retention the stack's Prometheus needs to keep a history of `weeks` for a week of reuse. */
export function historyRetention(weeks: number): string {
  return `${weeks * 7 + 14}d`;
}

/**
 * A healthy service on working hours whose traffic and peak concurrency grow week by week: the
 * concurrency trigger (10) is crossed in the busy hours of week 4 and stays crossed, so the
 * seed's "2+ weeks sustained" rule has something to decide on. Errors, latency and cost stay
 * well inside their triggers.
 */
export function demoHistoryProfile(h: HourContext): ProfilePoint {
  const busy = h.hourOfDay >= 9 && h.hourOfDay < 18;
  const weekday = Math.floor(h.t / 86_400 + 4) % 7 < 5; // 1970-01-01 was a Thursday
  const load = busy && weekday ? 1 : busy ? 0.4 : 0.15;
  return {
    opsPerMin: 4 * load * (1 + h.day * 0.02),
    errorRate: 0.008,
    errorMix: { network: 0.6, timeout: 0.4 },
    p95Seconds: busy ? 1.1 : 0.7,
    concurrency: Math.max(1, (5 + h.day * 0.2) * load),
    costPerOp: 0.004,
    operationMix: { clone: 0.1, pull: 0.4, push: 0.3, status: 0.2 },
  };
}

function markerPath(dataDir: string): string {
  return join(dataDir, 'demo', 'history.json');
}

function readMarker(dataDir: string): DemoHistory | null {
  try {
    return JSON.parse(readFileSync(markerPath(dataDir), 'utf8')) as DemoHistory;
  } catch {
    return null;
  }
}

/**
 * The history for this start: the one already in `promDataDir` when it matches and is recent,
 * else a new one (the old blocks removed). Call it before the stack's Prometheus starts.
 */
export function prepareDemoHistory(o: {
  dataDir: string;
  promDataDir: string;
  promtool: string;
  weeks: number;
  stepSeconds: number;
  say: (msg: string) => void;
  now?: number;
}): DemoHistory {
  const now = o.now ?? Date.now();
  const old = readMarker(o.dataDir);
  if (
    old &&
    old.weeks === o.weeks &&
    old.stepSeconds === o.stepSeconds &&
    now - Date.parse(old.createdAt) < REUSE_FOR_MS &&
    old.blocks.every((b) => existsSync(join(o.promDataDir, b)))
  ) {
    o.say(`history: reusing ${o.weeks} weeks of generated metrics (${old.blocks.length} blocks)`);
    return old;
  }
  for (const b of old?.blocks ?? []) rmSync(join(o.promDataDir, b), { recursive: true, force: true });

  const t0 = Date.now();
  // a window of whole hours ending 4 h before now (lib/prom backfill rules)
  const end = Math.floor(now / 3_600_000) * 3600 - 4 * 3600;
  const start = end - o.weeks * 7 * 86_400;
  const work = mkdtempSync(join(tmpdir(), 'sgc-history-'));
  try {
    const file = join(work, 'history.om');
    const stats = writeOpenMetricsFile(file, {
      start,
      end,
      profile: demoHistoryProfile,
      stepSeconds: o.stepSeconds,
    });
    const out = join(work, 'blocks');
    mkdirSync(out);
    const r = spawnSync(
      o.promtool,
      ['tsdb', 'create-blocks-from', 'openmetrics', '--max-block-duration=168h', '--quiet', file, out],
      { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
    );
    if (r.status !== 0)
      throw new Error(`history: promtool failed (exit ${r.status}): ${(r.stderr || r.stdout).slice(0, 2000)}`);
    mkdirSync(o.promDataDir, { recursive: true });
    const blocks = readdirSync(out).filter((d) => /^[0-9A-Z]{26}$/.test(d));
    for (const b of blocks) renameSync(join(out, b), join(o.promDataDir, b));
    const history: DemoHistory = {
      start,
      end,
      weeks: o.weeks,
      stepSeconds: o.stepSeconds,
      blocks,
      createdAt: new Date(now).toISOString(),
    };
    mkdirSync(join(o.dataDir, 'demo'), { recursive: true });
    writeFileSync(markerPath(o.dataDir), `${JSON.stringify(history, null, 2)}\n`);
    o.say(
      `history: ${o.weeks} weeks of generated metrics (${stats.series} series, ${stats.samples} samples, ${blocks.length} blocks) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    return history;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
