/**
 * Drift review verdict (seed 001): from the T0 capture and the periodic samples up to
 * T+duration, seven criteria — uptime, memory growth, CPU, handle growth, restarts, critical
 * errors, background tasks — each pass / fail / na; "N/7 criteria met"; the review passes only
 * at 7/7. A criterion without data is `na`, which is never met, so missing data cannot pass.
 *
 * Definitions (seed 001 method, made exact):
 * - uptime: at the last sample the process has been up ≥ the soak duration (less a small
 *   tolerance for scrape timing) and the samples span the duration.
 * - memory growth: (RSS at the end − RSS at T0) / RSS at T0 < 20%.
 * - CPU: the mean of the periodic samples < 5%, and no sustained spike: never `cpuSustainedSamples`
 *   (3) consecutive samples above `cpuSpikePercent` (20%).
 * - handles (open fds and active handles, each when present): not growing continuously — over
 *   the second half of the series (startup growth that levels off is expected, seed 001: 17 → 28
 *   stable) the Kendall trend is below `handleTrendMax` or there is no net rise.
 * - restarts: process_start_time_seconds changes (or uptime drops) between consecutive samples.
 * - critical errors: the increase of the error-log counter since T0 (counter resets handled).
 * - background tasks: every sample reports healthy.
 *
 * Pure: no I/O, no clock — sample times come in.
 */

export interface DriftSample {
  /** unix seconds when the sample was taken */
  at: number;
  uptimeSeconds?: number | null;
  startTimeSeconds?: number | null;
  rssBytes?: number | null;
  /** V8 heap in use (nodejs_heap_size_used_bytes): shown in the resource table, not a criterion */
  heapUsedBytes?: number | null;
  cpuPercent?: number | null;
  openFds?: number | null;
  activeHandles?: number | null;
  /** event-loop lag p99 (nodejs_eventloop_lag_p99_seconds): shown in the resource table, not a criterion */
  eventLoopLagP99Seconds?: number | null;
  /** cumulative error-log counter (level error|fatal) */
  criticalErrorsTotal?: number | null;
  /** 1/true when background tasks are healthy, 0/false when not */
  backgroundTasksHealthy?: number | boolean | null;
}

export interface DriftThresholds {
  memoryGrowthMax: number;
  cpuAvgMaxPercent: number;
  cpuSpikePercent: number;
  cpuSustainedSamples: number;
  handleTrendMax: number;
  restartsMax: number;
  criticalErrorsMax: number;
  uptimeTolerance: number;
}

export const DEFAULT_DRIFT_THRESHOLDS: DriftThresholds = {
  memoryGrowthMax: 0.2,
  cpuAvgMaxPercent: 5,
  cpuSpikePercent: 20,
  cpuSustainedSamples: 3,
  handleTrendMax: 0.8,
  restartsMax: 0,
  criticalErrorsMax: 0,
  uptimeTolerance: 0.01,
};

export type DriftCriterionId =
  'uptime' | 'memory_growth' | 'cpu' | 'handles' | 'restarts' | 'critical_errors' | 'background_tasks';

export interface DriftCriterionRow {
  id: DriftCriterionId;
  criterion: string;
  target: string;
  observed: string;
  status: 'pass' | 'fail' | 'na';
}

export interface DriftVerdict {
  passed: boolean;
  met: number;
  total: 7;
  /** "N/7 criteria met" */
  summary: string;
  rows: DriftCriterionRow[];
  /** criteria that failed or had no data, by name */
  failed: DriftCriterionId[];
  missing: DriftCriterionId[];
  metrics: {
    durationSeconds: number;
    spanSeconds: number;
    uptimeSeconds: number | null;
    memoryGrowth: number | null;
    rssT0Bytes: number | null;
    rssEndBytes: number | null;
    cpuAvgPercent: number | null;
    longestCpuSpikeRun: number;
    restarts: number | null;
    criticalErrors: number | null;
  };
}

export interface DriftInput {
  t0: DriftSample;
  /** periodic samples after T0, the last one at T+duration */
  samples: readonly DriftSample[];
  /** planned soak duration, seconds */
  durationSeconds: number;
  thresholds?: Partial<DriftThresholds>;
}

const val = (v: number | null | undefined): number | null =>
  v === null || v === undefined || !Number.isFinite(v) ? null : v;

function present(xs: readonly (number | null | undefined)[]): number[] {
  return xs.map(val).filter((v): v is number => v !== null);
}

export const hours = (s: number): string => (s >= 3600 ? `${(s / 3600).toFixed(2)} h` : `${Math.round(s)} s`);
export const mb = (b: number): string => `${(b / 1048576).toFixed(1)} MB`;

/**
 * Kendall trend of a series: (concordant − discordant) / all pairs, in [-1, 1]. 1 is strictly
 * increasing throughout, 0 no trend; ties count as neither.
 */
export function kendallTrend(xs: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  let s = 0;
  for (let i = 0; i < n - 1; i++) for (let j = i + 1; j < n; j++) s += Math.sign(xs[j] - xs[i]);
  return s / ((n * (n - 1)) / 2);
}

/** Whether a handle series keeps growing (see the module comment); null when too short to tell. */
export function growsContinuously(
  series: readonly number[],
  trendMax: number,
): { growing: boolean; trend: number } | null {
  if (series.length < 4) return null;
  const half = series.slice(Math.floor(series.length / 2));
  const trend = kendallTrend(half);
  return { growing: trend >= trendMax && half[half.length - 1] > half[0], trend };
}

/** Restarts seen across consecutive samples: a later start time, or uptime going down. */
export function countRestarts(all: readonly DriftSample[]): number | null {
  let restarts = 0;
  let known = false;
  for (let i = 1; i < all.length; i++) {
    const a = all[i - 1];
    const b = all[i];
    const sa = val(a.startTimeSeconds);
    const sb = val(b.startTimeSeconds);
    const ua = val(a.uptimeSeconds);
    const ub = val(b.uptimeSeconds);
    if (sa !== null && sb !== null) {
      known = true;
      // start times are floats in seconds; a second of jitter is not a restart
      if (sb - sa > 1) {
        restarts++;
        continue;
      }
    }
    if (ua !== null && ub !== null) {
      known = true;
      if (ub + 1 < ua) restarts++;
    }
  }
  return known ? restarts : null;
}

/** Increase of a cumulative counter across samples; a drop is a reset (the new value counts). */
export function counterIncrease(values: readonly (number | null | undefined)[]): number | null {
  const xs = present(values);
  if (xs.length < 2) return null;
  let inc = 0;
  for (let i = 1; i < xs.length; i++) inc += xs[i] >= xs[i - 1] ? xs[i] - xs[i - 1] : xs[i];
  return inc;
}

export function evaluateDrift(input: DriftInput): DriftVerdict {
  const th: DriftThresholds = { ...DEFAULT_DRIFT_THRESHOLDS, ...input.thresholds };
  const all = [input.t0, ...input.samples];
  const periodic = input.samples;
  const last = all[all.length - 1];
  const rows: DriftCriterionRow[] = [];
  const span = last.at - input.t0.at;
  const required = input.durationSeconds * (1 - th.uptimeTolerance);

  // 1. uptime
  const uptime = val(last.uptimeSeconds);
  {
    let status: DriftCriterionRow['status'];
    let observed: string;
    if (uptime === null || periodic.length === 0) {
      status = 'na';
      observed = 'NA';
    } else {
      status = uptime >= required && span >= required ? 'pass' : 'fail';
      observed = `${hours(uptime)} up, observed ${hours(span)}`;
    }
    rows.push({
      id: 'uptime',
      criterion: 'Continuous uptime',
      target: `≥ ${hours(input.durationSeconds)}`,
      observed,
      status,
    });
  }

  // 2. memory growth
  const rss0 = val(input.t0.rssBytes);
  const rssEnd = periodic.length > 0 ? val(last.rssBytes) : null;
  const growth = rss0 !== null && rssEnd !== null && rss0 > 0 ? (rssEnd - rss0) / rss0 : null;
  rows.push({
    id: 'memory_growth',
    criterion: 'Memory growth',
    target: `< ${(th.memoryGrowthMax * 100).toFixed(0)}% over the soak`,
    observed:
      growth === null ? 'NA' : `${mb(rss0!)} → ${mb(rssEnd!)} (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%)`,
    status: growth === null ? 'na' : growth < th.memoryGrowthMax ? 'pass' : 'fail',
  });

  // 3. CPU: average and sustained spikes, over the periodic samples
  const cpu = present(periodic.map((s) => s.cpuPercent));
  const cpuAvg = cpu.length === 0 ? null : cpu.reduce((a, b) => a + b, 0) / cpu.length;
  let run = 0;
  let longest = 0;
  for (const s of periodic) {
    const c = val(s.cpuPercent);
    run = c !== null && c > th.cpuSpikePercent ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  const sustained = longest >= th.cpuSustainedSamples;
  rows.push({
    id: 'cpu',
    criterion: 'CPU stability',
    target: `< ${th.cpuAvgMaxPercent}% avg, no ${th.cpuSustainedSamples}+ samples > ${th.cpuSpikePercent}%`,
    observed:
      cpuAvg === null
        ? 'NA'
        : `${cpuAvg.toFixed(2)}% avg${sustained ? `, sustained spike of ${longest} samples` : longest > 0 ? `, brief spike (${longest} sample${longest > 1 ? 's' : ''})` : ''}`,
    status: cpuAvg === null ? 'na' : cpuAvg < th.cpuAvgMaxPercent && !sustained ? 'pass' : 'fail',
  });

  // 4. handles
  {
    const parts: string[] = [];
    let anyGrowing = false;
    let anyKnown = false;
    for (const [label, key] of [
      ['fds', 'openFds'],
      ['handles', 'activeHandles'],
    ] as const) {
      const xs = present(all.map((s) => s[key]));
      const g = growsContinuously(xs, th.handleTrendMax);
      if (g === null) continue;
      anyKnown = true;
      anyGrowing ||= g.growing;
      parts.push(
        `${label} ${xs[0]}→${xs[xs.length - 1]} (${g.growing ? 'growing' : 'stable'}, trend ${g.trend.toFixed(2)})`,
      );
    }
    rows.push({
      id: 'handles',
      criterion: 'Handle count stable',
      target: 'no continuous growth',
      observed: anyKnown ? parts.join('; ') : 'NA',
      status: !anyKnown ? 'na' : anyGrowing ? 'fail' : 'pass',
    });
  }

  // 5. restarts
  const restarts = countRestarts(all);
  rows.push({
    id: 'restarts',
    criterion: 'Restarts',
    target: `${th.restartsMax}`,
    observed: restarts === null ? 'NA' : String(restarts),
    status: restarts === null ? 'na' : restarts <= th.restartsMax ? 'pass' : 'fail',
  });

  // 6. critical errors
  const errors = periodic.length === 0 ? null : counterIncrease(all.map((s) => s.criticalErrorsTotal));
  rows.push({
    id: 'critical_errors',
    criterion: 'Critical errors',
    target: `${th.criticalErrorsMax}`,
    observed: errors === null ? 'NA' : String(Math.round(errors)),
    status: errors === null ? 'na' : Math.round(errors) <= th.criticalErrorsMax ? 'pass' : 'fail',
  });

  // 7. background tasks
  {
    const flags = all
      .map((s) => s.backgroundTasksHealthy)
      .filter(
        (v): v is number | boolean => v !== null && v !== undefined && (typeof v === 'boolean' || Number.isFinite(v)),
      );
    const unhealthy = flags.filter((v) => (typeof v === 'boolean' ? !v : v < 1)).length;
    rows.push({
      id: 'background_tasks',
      criterion: 'Background tasks',
      target: 'healthy in every sample',
      observed:
        flags.length === 0
          ? 'NA'
          : unhealthy === 0
            ? `healthy (${flags.length} samples)`
            : `unhealthy in ${unhealthy} of ${flags.length} samples`,
      status: flags.length === 0 || periodic.length === 0 ? 'na' : unhealthy === 0 ? 'pass' : 'fail',
    });
  }

  const met = rows.filter((r) => r.status === 'pass').length;
  return {
    passed: met === 7,
    met,
    total: 7,
    summary: `${met}/7 criteria met`,
    rows,
    failed: rows.filter((r) => r.status === 'fail').map((r) => r.id),
    missing: rows.filter((r) => r.status === 'na').map((r) => r.id),
    metrics: {
      durationSeconds: input.durationSeconds,
      spanSeconds: span,
      uptimeSeconds: uptime,
      memoryGrowth: growth,
      rssT0Bytes: rss0,
      rssEndBytes: rssEnd,
      cpuAvgPercent: cpuAvg,
      longestCpuSpikeRun: longest,
      restarts,
      criticalErrors: errors,
    },
  };
}

const CRITERION_ICON = { pass: '✅ Pass', fail: '❌ Fail', na: '➖ NA' } as const;

/** Escapes a markdown table cell. */
export const mdCell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

/** The seven criteria as a markdown table (seed 001's "Success Criteria" table). */
export function renderCriteriaTable(v: DriftVerdict): string[] {
  return [
    '| Criterion | Target | Actual | Pass/Fail |',
    '|---|---|---|---|',
    ...v.rows.map(
      (r) => `| ${mdCell(r.criterion)} | ${mdCell(r.target)} | ${mdCell(r.observed)} | ${CRITERION_ICON[r.status]} |`,
    ),
  ];
}

/** The verdict table as markdown, seed 001 style. */
export function renderDriftMarkdown(v: DriftVerdict, title = 'Drift review'): string {
  return [
    `# ${title}`,
    '',
    ...renderCriteriaTable(v),
    '',
    `**Overall Result: ${v.passed ? '✅' : '❌'} ${v.summary.toUpperCase()}**${v.passed ? '' : ` — failed: ${v.failed.join(', ') || 'none'}; no data: ${v.missing.join(', ') || 'none'}`}`,
    '',
  ].join('\n');
}
