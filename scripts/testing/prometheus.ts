/**
 * Throwaway real Prometheus servers for tests: backfilled from OpenMetrics with promtool, or
 * scraping live targets. Binaries come from SGC_PROMETHEUS_BIN / SGC_PROMTOOL_BIN (set by
 * `npm test`), else PATH. Each server gets its own temp dir and free port; `stop()` kills it and
 * removes the dir.
 *
 * Backfill rules (FACTS.md): timestamps in seconds; keep the most recent ~3 h out of the file
 * (use `backfillWindow`); retention must cover the data or Prometheus deletes the blocks on start.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { freePort } from '../stack.js';
import { tmpdir } from 'node:os';
import { join, delimiter } from 'node:path';

export interface PrometheusHandle {
  /** http://127.0.0.1:<port> */
  url: string;
  /** the temp dir holding data, config and log */
  dir: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export interface ScrapeTarget {
  job?: string;
  /** host:port list */
  targets: string[];
  metricsPath?: string;
  /** e.g. "1s" */
  interval?: string;
}

export interface StartPrometheusOptions {
  /** OpenMetrics text to backfill (written to a file in the temp dir) */
  openMetrics?: string;
  /** or a path to an OpenMetrics file to backfill */
  openMetricsFile?: string;
  /** promtool --max-block-duration (default 24h; use 168h for weeks of data to keep few blocks) */
  maxBlockDuration?: string;
  /** --storage.tsdb.retention.time; default 3650d, which covers any test window */
  retention?: string;
  /** live scrape targets */
  scrape?: ScrapeTarget[];
  /** global scrape interval (default 15s) */
  scrapeInterval?: string;
  /** extra prometheus flags */
  extraArgs?: string[];
  /** readiness timeout (default 60 s) */
  readyTimeoutMs?: number;
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}

/** The prometheus and promtool binaries this machine has, or a clear error. */
export function prometheusBinaries(): { prometheus: string; promtool: string } {
  const prometheus = process.env.SGC_PROMETHEUS_BIN || which('prometheus');
  const promtool = process.env.SGC_PROMTOOL_BIN || which('promtool');
  if (!prometheus || !promtool) {
    throw new Error(
      'prometheus/promtool not found: set SGC_PROMETHEUS_BIN and SGC_PROMTOOL_BIN or put them on PATH (npm run provision installs them)',
    );
  }
  return { prometheus, promtool };
}

/** A port nobody listens on right now: the provisioning helper npm test and npm start use. */
export { freePort };

/**
 * A window that is safe to backfill: `hours` long, ending on a whole hour at least `marginHours`
 * (default 4) before `now`, so no sample falls in the head block's range.
 */
export function backfillWindow(hours: number, now = Date.now(), marginHours = 4): { start: number; end: number } {
  const end = Math.floor(now / 1000 / 3600) * 3600 - marginHours * 3600;
  return { start: end - hours * 3600, end };
}

/** Writes an OpenMetrics file into TSDB blocks in `dataDir` with promtool. */
export function backfill(openMetricsFile: string, dataDir: string, maxBlockDuration = '24h'): void {
  const { promtool } = prometheusBinaries();
  const r = spawnSync(
    promtool,
    [
      'tsdb',
      'create-blocks-from',
      'openmetrics',
      `--max-block-duration=${maxBlockDuration}`,
      '--quiet',
      openMetricsFile,
      dataDir,
    ],
    {
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  if (r.status !== 0)
    throw new Error(`promtool backfill failed (exit ${r.status}): ${(r.stderr || r.stdout).slice(0, 2000)}`);
}

function configYaml(o: StartPrometheusOptions): string {
  const lines = [
    'global:',
    `  scrape_interval: ${o.scrapeInterval ?? '15s'}`,
    `  evaluation_interval: ${o.scrapeInterval ?? '15s'}`,
  ];
  if (!o.scrape || o.scrape.length === 0) {
    lines.push('scrape_configs: []');
  } else {
    lines.push('scrape_configs:');
    o.scrape.forEach((s, i) => {
      lines.push(`  - job_name: ${JSON.stringify(s.job ?? `job${i}`)}`);
      if (s.interval) lines.push(`    scrape_interval: ${s.interval}`);
      if (s.metricsPath) lines.push(`    metrics_path: ${JSON.stringify(s.metricsPath)}`);
      lines.push('    static_configs:', `      - targets: ${JSON.stringify(s.targets)}`);
    });
  }
  return lines.join('\n') + '\n';
}

/** Starts a real Prometheus (optionally backfilled, optionally scraping) and waits for /-/ready. */
export async function startPrometheus(o: StartPrometheusOptions = {}): Promise<PrometheusHandle> {
  const { prometheus } = prometheusBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'sgc-prom-'));
  const dataDir = join(dir, 'data');
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    let omFile = o.openMetricsFile;
    if (o.openMetrics !== undefined) {
      omFile = join(dir, 'backfill.om');
      writeFileSync(omFile, o.openMetrics);
    }
    if (omFile) backfill(omFile, dataDir, o.maxBlockDuration);
  } catch (e) {
    cleanup();
    throw e;
  }
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, configYaml(o));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${dataDir}`,
    `--storage.tsdb.retention.time=${o.retention ?? '3650d'}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
    ...(o.extraArgs ?? []),
  ];
  const child = spawn(prometheus, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    cleanup();
  };

  const deadline = Date.now() + (o.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited with code ${child.exitCode} before it was ready: ${stderr}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready after ${o.readyTimeoutMs ?? 60_000} ms: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, dir, child, stop };
}
