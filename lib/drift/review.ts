/**
 * A drift review of every reviewed process at once (seed 001): per process the seven criteria of
 * verdict.ts ("N/7 criteria met") and the seed's resource table — T0, T+N and Delta for every
 * resource a Node process exports through prom-client (RSS, heap, CPU, open fds, active handles,
 * event-loop lag) plus uptime, restarts and the error-log counter; overall, the review passes only
 * when every process meets 7/7, and a failing review names the processes that failed.
 *
 * Provisional or full (seed 001: "Provisionally Complete (Short Soak)" vs the full 48 h review):
 * a review is `full` only when it was planned at least `fullMinSeconds` long AND its samples
 * really span that long (less the uptime tolerance); anything shorter is `provisional`, so a
 * short soak is never reported as a full review.
 *
 * Pure: no I/O, no clock.
 */
import {
  DEFAULT_DRIFT_THRESHOLDS,
  counterIncrease,
  evaluateDrift,
  growsContinuously,
  hours,
  mb,
  mdCell,
  renderCriteriaTable,
  type DriftCriterionId,
  type DriftSample,
  type DriftThresholds,
  type DriftVerdict,
} from './verdict.js';

export type DriftMode = 'provisional' | 'full';

/** A reviewed process: its name in the review, Prometheus scrape job and instance regex. */
export interface DriftTargetRef {
  /** absent in reviews stored before reviews covered several processes (then: the job) */
  name?: string;
  job: string;
  instance: string;
}

/** A process's values in one sample (a DriftSample without its instant). */
export type DriftValues = Omit<DriftSample, 'at'>;

/** One sample instant of every reviewed process, by process name. */
export interface DriftSampleSet {
  at: number;
  targets: Record<string, DriftValues>;
}

/** A stored sample row: a sample set, or one process's values (reviews of one process, stored before). */
export type DriftStoredSample = DriftSampleSet | DriftSample;

/** The process name of a target. */
export const targetName = (t: DriftTargetRef): string => t.name ?? t.job;

/** Normalises a stored row to a sample set; a row of the older one-process shape belongs to `legacyName`. */
export function toSampleSet(s: DriftStoredSample, legacyName: string): DriftSampleSet {
  if ('targets' in s && s.targets !== null && typeof s.targets === 'object') return { at: s.at, targets: s.targets };
  const { at, ...values } = s as DriftSample;
  return { at, targets: { [legacyName]: values } };
}

/** One process's series out of sample sets (a process absent from a set has all-NA values there). */
export function seriesOf(sets: readonly DriftSampleSet[], name: string): DriftSample[] {
  return sets.map((s) => ({ at: s.at, ...(s.targets[name] ?? {}) }));
}

/** seed 001: the full review is 48 h */
export const DEFAULT_FULL_REVIEW_SECONDS = 172_800;

/** One reviewed process and its series. */
export interface DriftProcessInput {
  /** the process's name in the review (`api`, `worker`) */
  name: string;
  /** its Prometheus scrape job and instance regex */
  job: string;
  instance: string;
  t0: DriftSample;
  /** periodic samples after T0, the last one at T+duration */
  samples: readonly DriftSample[];
}

export interface DriftReviewInput {
  processes: readonly DriftProcessInput[];
  /** planned soak duration, seconds */
  durationSeconds: number;
  thresholds?: Partial<DriftThresholds>;
  /** shortest review reported as `full` (default 48 h) */
  fullMinSeconds?: number;
}

export type ResourceStatus = 'pass' | 'fail' | 'na' | 'info';

/** One line of the T0 / T+N / Delta table. */
export interface DriftResourceRow {
  id:
    | 'uptime'
    | 'rss'
    | 'heap'
    | 'cpu'
    | 'open_fds'
    | 'active_handles'
    | 'eventloop_lag_p99'
    | 'restarts'
    | 'critical_errors';
  resource: string;
  t0: number | null;
  tN: number | null;
  delta: number | null;
  /** delta relative to T0, for quantities where a ratio means something (memory) */
  deltaRatio: number | null;
  /** the criterion that judges this resource; null when it is shown only */
  criterion: DriftCriterionId | null;
  /** the criterion's result for this resource; `info` when no criterion judges it */
  status: ResourceStatus;
  /** formatted cells */
  cells: { t0: string; tN: string; delta: string };
}

export interface DriftProcessVerdict {
  name: string;
  job: string;
  instance: string;
  passed: boolean;
  met: number;
  /** "N/7 criteria met" */
  summary: string;
  failed: DriftCriterionId[];
  missing: DriftCriterionId[];
  verdict: DriftVerdict;
  resources: DriftResourceRow[];
}

export interface DriftReviewVerdict {
  mode: DriftMode;
  passed: boolean;
  /** "FAIL (provisional) — worker: 6/7 criteria met (failed: memory_growth); api: 7/7 criteria met" */
  summary: string;
  /** criteria met by the weakest process */
  met: number;
  processes: DriftProcessVerdict[];
  /** names of the processes that did not meet 7/7 */
  failedProcesses: string[];
  /** `process:criterion` that failed / had no data */
  failed: string[];
  missing: string[];
  durationSeconds: number;
  /** T0 to the last sample, seconds */
  spanSeconds: number;
  fullMinSeconds: number;
}

const num = (v: number | boolean | null | undefined): number | null =>
  typeof v === 'number' && Number.isFinite(v) ? v : null;

/** A signed delta; one that rounds to zero in its unit is ± (no −0.00%). */
const signed = (v: number, text: string): string => {
  const zero = Number(text.replace(/[^\d.]/g, '')) === 0;
  return `${zero ? '±' : v > 0 ? '+' : '−'}${text}`;
};
const count = (v: number | null): string => (v === null ? 'NA' : String(Math.round(v)));
const pct = (v: number | null): string => (v === null ? 'NA' : `${v.toFixed(2)}%`);
const ms = (seconds: number | null): string => (seconds === null ? 'NA' : `${(seconds * 1000).toFixed(1)} ms`);

/** Whether a review of this plan and observed span is `full` or `provisional`. */
export function reviewMode(
  durationSeconds: number,
  spanSeconds: number,
  fullMinSeconds: number,
  uptimeTolerance: number,
): DriftMode {
  return durationSeconds >= fullMinSeconds && spanSeconds >= fullMinSeconds * (1 - uptimeTolerance)
    ? 'full'
    : 'provisional';
}

/**
 * The T0 / T+N / Delta table of one process. T+N is the last sample, except CPU, which is the
 * average over the soak (seed 001's "CPU (avg)"); restarts and critical errors count what
 * happened between T0 and T+N.
 */
export function resourceTable(
  p: Pick<DriftProcessInput, 't0' | 'samples'>,
  v: DriftVerdict,
  thresholds: DriftThresholds,
): DriftResourceRow[] {
  const all = [p.t0, ...p.samples];
  const last = p.samples.length > 0 ? p.samples[p.samples.length - 1] : null;
  const status = (id: DriftCriterionId): ResourceStatus => v.rows.find((r) => r.id === id)?.status ?? 'na';
  const rows: DriftResourceRow[] = [];
  const push = (
    id: DriftResourceRow['id'],
    resource: string,
    t0: number | null,
    tN: number | null,
    fmt: (x: number | null) => string,
    criterion: DriftCriterionId | null,
    st: ResourceStatus,
    opts: { ratio?: boolean; delta?: number | null } = {},
  ): void => {
    const delta = opts.delta !== undefined ? opts.delta : t0 !== null && tN !== null ? tN - t0 : null;
    const deltaRatio = opts.ratio && delta !== null && t0 !== null && t0 > 0 ? delta / t0 : null;
    const deltaText =
      delta === null
        ? 'NA'
        : `${signed(delta, fmt(Math.abs(delta)))}${deltaRatio !== null ? ` (${deltaRatio >= 0 ? '+' : '−'}${Math.abs(deltaRatio * 100).toFixed(1)}%)` : ''}`;
    rows.push({
      id,
      resource,
      t0,
      tN,
      delta,
      deltaRatio,
      criterion,
      status: st,
      cells: { t0: fmt(t0), tN: fmt(tN), delta: deltaText },
    });
  };
  const at = <K extends keyof DriftSample>(s: DriftSample | null, k: K): number | null =>
    s ? num(s[k] as number | null | undefined) : null;

  push(
    'uptime',
    'Uptime',
    at(p.t0, 'uptimeSeconds'),
    at(last, 'uptimeSeconds'),
    (x) => (x === null ? 'NA' : hours(x)),
    'uptime',
    status('uptime'),
  );
  push(
    'rss',
    'Memory (RSS)',
    at(p.t0, 'rssBytes'),
    at(last, 'rssBytes'),
    (x) => (x === null ? 'NA' : mb(x)),
    'memory_growth',
    status('memory_growth'),
    { ratio: true },
  );
  push(
    'heap',
    'Heap used',
    at(p.t0, 'heapUsedBytes'),
    at(last, 'heapUsedBytes'),
    (x) => (x === null ? 'NA' : mb(x)),
    null,
    'info',
    { ratio: true },
  );
  push('cpu', 'CPU (avg)', at(p.t0, 'cpuPercent'), v.metrics.cpuAvgPercent, pct, 'cpu', status('cpu'));
  for (const [id, resource, key] of [
    ['open_fds', 'Open fds', 'openFds'],
    ['active_handles', 'Active handles', 'activeHandles'],
  ] as const) {
    const series = all.map((s) => num(s[key])).filter((x): x is number => x !== null);
    const g = growsContinuously(series, thresholds.handleTrendMax);
    push(id, resource, at(p.t0, key), at(last, key), count, 'handles', g === null ? 'na' : g.growing ? 'fail' : 'pass');
  }
  push(
    'eventloop_lag_p99',
    'Event-loop lag p99',
    at(p.t0, 'eventLoopLagP99Seconds'),
    at(last, 'eventLoopLagP99Seconds'),
    ms,
    null,
    'info',
  );
  const restarts = v.metrics.restarts;
  push('restarts', 'Restarts', restarts === null ? null : 0, restarts, count, 'restarts', status('restarts'));
  const errors = p.samples.length === 0 ? null : counterIncrease(all.map((s) => s.criticalErrorsTotal));
  push(
    'critical_errors',
    'Critical errors',
    at(p.t0, 'criticalErrorsTotal'),
    at(last, 'criticalErrorsTotal'),
    count,
    'critical_errors',
    status('critical_errors'),
    { delta: errors },
  );
  return rows;
}

/** Evaluates every process and the review as a whole. */
export function evaluateDriftReview(input: DriftReviewInput): DriftReviewVerdict {
  const th: DriftThresholds = { ...DEFAULT_DRIFT_THRESHOLDS, ...input.thresholds };
  const fullMinSeconds = input.fullMinSeconds ?? DEFAULT_FULL_REVIEW_SECONDS;
  const processes: DriftProcessVerdict[] = input.processes.map((p) => {
    const verdict = evaluateDrift({
      t0: p.t0,
      samples: p.samples,
      durationSeconds: input.durationSeconds,
      thresholds: th,
    });
    return {
      name: p.name,
      job: p.job,
      instance: p.instance,
      passed: verdict.passed,
      met: verdict.met,
      summary: verdict.summary,
      failed: verdict.failed,
      missing: verdict.missing,
      verdict,
      resources: resourceTable(p, verdict, th),
    };
  });
  const spanSeconds = Math.max(0, ...processes.map((p) => p.verdict.metrics.spanSeconds));
  const mode = reviewMode(input.durationSeconds, spanSeconds, fullMinSeconds, th.uptimeTolerance);
  const passed = processes.length > 0 && processes.every((p) => p.passed);
  const failedProcesses = processes.filter((p) => !p.passed).map((p) => p.name);
  // failing processes first, so the verdict line names them before anything else
  const ordered = [...processes.filter((p) => !p.passed), ...processes.filter((p) => p.passed)];
  const describe = (p: DriftProcessVerdict): string => {
    const why = [
      p.failed.length ? `failed: ${p.failed.join(', ')}` : '',
      p.missing.length ? `no data: ${p.missing.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join('; ');
    return `${p.name}: ${p.summary}${why ? ` (${why})` : ''}`;
  };
  const summary = `${passed ? 'PASS' : 'FAIL'} (${mode}) — ${processes.length === 0 ? 'no process reviewed' : ordered.map(describe).join('; ')}`;
  return {
    mode,
    passed,
    summary,
    met: processes.length === 0 ? 0 : Math.min(...processes.map((p) => p.met)),
    processes,
    failedProcesses,
    failed: processes.flatMap((p) => p.failed.map((c) => `${p.name}:${c}`)),
    missing: processes.flatMap((p) => p.missing.map((c) => `${p.name}:${c}`)),
    durationSeconds: input.durationSeconds,
    spanSeconds,
    fullMinSeconds,
  };
}

const RESOURCE_ICON: Record<ResourceStatus, string> = { pass: '✅ Pass', fail: '❌ Fail', na: '➖ NA', info: '—' };

/** The T0 / T+N / Delta table as markdown lines. */
export function renderResourceTable(rows: readonly DriftResourceRow[], spanSeconds: number): string[] {
  return [
    `| Resource | T0 | T+${hours(spanSeconds)} | Delta | Status |`,
    '|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${mdCell(r.resource)} | ${mdCell(r.cells.t0)} | ${mdCell(r.cells.tN)} | ${mdCell(r.cells.delta)} | ${RESOURCE_ICON[r.status]} |`,
    ),
  ];
}

/** The whole review as markdown: the overall verdict, then per process its resource table and criteria table. */
export function renderDriftReviewMarkdown(v: DriftReviewVerdict, title = 'Drift review'): string {
  const modeLine =
    v.mode === 'full'
      ? `Full review: ${hours(v.spanSeconds)} observed (a full review is at least ${hours(v.fullMinSeconds)}).`
      : `Provisional: a short soak of ${hours(v.spanSeconds)} observed (${hours(v.durationSeconds)} planned); a full review is at least ${hours(v.fullMinSeconds)}.`;
  const out = [
    `# ${title}`,
    '',
    `**Overall: ${v.passed ? '✅ PASS' : '❌ FAIL'} (${v.mode})** — ${v.passed ? `${v.processes.length}/${v.processes.length} processes meet 7/7` : `failed: ${v.failedProcesses.join(', ')}`}`,
    '',
    modeLine,
    '',
    '| Process | Job | Result |',
    '|---|---|---|',
    ...v.processes.map((p) => `| ${mdCell(p.name)} | ${mdCell(p.job)} | ${p.passed ? '✅' : '❌'} ${p.summary} |`),
  ];
  for (const p of v.processes) {
    out.push(
      '',
      `## ${p.name} — job \`${p.job}\`, instance \`${p.instance}\`: ${p.passed ? '✅' : '❌'} ${p.summary.toUpperCase()}`,
      '',
      '### Resources',
      '',
      ...renderResourceTable(p.resources, v.spanSeconds),
      '',
      '### Criteria',
      '',
      ...renderCriteriaTable(p.verdict),
    );
    if (!p.passed)
      out.push('', `Failed: ${p.failed.join(', ') || 'none'}; no data: ${p.missing.join(', ') || 'none'}.`);
  }
  out.push('');
  return out.join('\n');
}
