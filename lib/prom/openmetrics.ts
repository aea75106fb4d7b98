/**
 * Synthetic metric histories as OpenMetrics text for
 * `promtool tsdb create-blocks-from openmetrics FILE DIR` (tests and benchmarks build metric
 * histories with it; nothing in production reads this).
 *
 * Format rules promtool relies on: timestamps in SECONDS, a family's samples contiguous, the
 * samples of one series in time order, the file ending with `# EOF`.
 *
 * The generator turns a per-hour profile (operations/min, error rate, P95, concurrency,
 * cost/op, …) into the DESIGN.md series so the default validation queries give the profile
 * back: counters and histogram buckets are written at every step (default 5 min) and grow by
 * exactly the hour's rate, so `increase(...[1h])` at the end of an hour returns that hour's
 * volume; histogram buckets follow a log-normal shape whose median is solved so that
 * `histogram_quantile(0.95, …)` — linear interpolation inside buckets — lands on the P95 asked for.
 */
import { openSync, writeSync, closeSync } from 'node:fs';
import type { ErrorCategory } from '../errors.js';

export type FailureCategory = Exclude<ErrorCategory, 'none'>;

/** Upper bounds (s) of `gitops_operation_duration_seconds` buckets in generated data. */
export const DEFAULT_DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 15, 30, 60, 120];
/** Upper bounds (s) of `gitops_recovery_seconds` buckets in generated data. */
export const DEFAULT_RECOVERY_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300];
export const DEFAULT_OPERATION_MIX: Record<string, number> = { clone: 0.1, pull: 0.4, push: 0.3, status: 0.2 };
export const DEFAULT_ERROR_MIX: Partial<Record<FailureCategory, number>> = {
  network: 0.4,
  timeout: 0.3,
  conflict: 0.2,
  auth: 0.1,
};

/** What the profile function is told about the hour it describes. */
export interface HourContext {
  /** unix seconds, start of the hour */
  t: number;
  /** hours since the start of the window (0-based) */
  hourIndex: number;
  /** UTC hour of day, 0–23 */
  hourOfDay: number;
  /** days since the start of the window (0-based) */
  day: number;
}

/** The service's behaviour during one hour. */
export interface ProfilePoint {
  opsPerMin: number;
  /** failed share of operations, 0..1 (default 0) */
  errorRate?: number;
  /** how failures split over categories (normalised; default network 40, timeout 30, conflict 20, auth 10) */
  errorMix?: Partial<Record<FailureCategory, number>>;
  /** P95 of operation duration, seconds (default 0.8) */
  p95Seconds?: number;
  /** operations in flight (gauge; default 0) */
  concurrency?: number;
  /** USD per operation (default 0.01) */
  costPerOp?: number;
  /** share per operation name (normalised; default clone 10, pull 40, push 30, status 20) */
  operationMix?: Record<string, number>;
  /** reused / all pool acquisitions; absent = no pool series at all (approach 1) */
  poolHitRatio?: number;
  /** running sandboxes gauge (default = concurrency) */
  sandboxesRunning?: number;
  /** plan limit gauge (default 100, E2B Pro) */
  sandboxLimit?: number;
  /** time to recover from a transient failure (network, timeout, rate_limit), seconds; absent = no recovery series */
  recoverySeconds?: number;
}

/** `null` = no samples at all for the hour (a gap: Prometheus was down or the service absent). */
export type HourlyProfile = (hour: HourContext) => ProfilePoint | null;

export interface SyntheticOptions {
  /** unix seconds; rounded down to a whole hour */
  start: number;
  /** unix seconds (exclusive of the hour starting at `end`) */
  end: number;
  profile: HourlyProfile;
  /** sample spacing, seconds; must divide 3600 (default 300) */
  stepSeconds?: number;
  approach?: string;
  provider?: string;
  durationBuckets?: number[];
  recoveryBuckets?: number[];
  /** log-normal shape of operation durations (default 0.6) */
  latencySigma?: number;
}

export interface WriteStats {
  series: number;
  samples: number;
}

// ---- histogram math -------------------------------------------------------------------------

/** erf, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). */
function erf(x: number): number {
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

function lognormalCdf(x: number, mu: number, sigma: number): number {
  if (x <= 0) return 0;
  return 0.5 * (1 + erf((Math.log(x) - mu) / (sigma * Math.SQRT2)));
}

/**
 * Prometheus' `histogram_quantile` on cumulative fractions at `bounds` (the +Inf bucket is 1):
 * linear interpolation inside the bucket holding the rank; the first bucket starts at 0; a rank
 * in the +Inf bucket returns the largest finite bound.
 */
export function histogramQuantile(q: number, bounds: readonly number[], cumulative: readonly number[]): number {
  const total = 1;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (let i = 0; i < bounds.length; i++) {
    const c = cumulative[i];
    if (c >= rank) {
      if (c === prevCount) return bounds[i];
      return prevBound + (bounds[i] - prevBound) * ((rank - prevCount) / (c - prevCount));
    }
    prevBound = bounds[i];
    prevCount = c;
  }
  return bounds[bounds.length - 1];
}

/**
 * Cumulative bucket fractions of a log-normal (shape `sigma`) whose `histogram_quantile(q)`
 * equals `target` exactly (bisection on the median). A target above the largest bound cannot be
 * represented: the result then puts the quantile in the +Inf bucket.
 */
export function bucketFractionsForQuantile(
  target: number,
  q: number,
  bounds: readonly number[],
  sigma: number,
): number[] {
  const cdf = (mu: number): number[] => bounds.map((b) => lognormalCdf(b, mu, sigma));
  let lo = Math.log(1e-6);
  let hi = Math.log(bounds[bounds.length - 1] * 100);
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (histogramQuantile(q, bounds, cdf(mid)) < target) lo = mid;
    else hi = mid;
  }
  return cdf((lo + hi) / 2);
}

// ---- text format ----------------------------------------------------------------------------

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** `{a="1",b="2"}` in the given order; empty labels give an empty string. */
export function formatLabels(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function fmt(v: number): string {
  if (Number.isInteger(v)) return String(v);
  // 12 significant digits keep counters exact enough and lines short
  return String(Number(v.toPrecision(12)));
}

function normalise<K extends string>(mix: Partial<Record<K, number>>): [K, number][] {
  const entries = Object.entries(mix).filter(([, v]) => typeof v === 'number' && (v as number) > 0) as [K, number][];
  const sum = entries.reduce((s, [, v]) => s + v, 0);
  return sum > 0 ? entries.map(([k, v]) => [k, v / sum]) : [];
}

/** Buffered line writer; flushes in chunks so large histories stream without huge strings. */
class Lines {
  private buf: string[] = [];
  samples = 0;
  constructor(private readonly write: (chunk: string) => void) {}
  line(s: string): void {
    this.buf.push(s);
    if (this.buf.length >= 5000) this.flush();
  }
  /** `prefix` is the series' name and labels, formatted once per series */
  sample(prefix: string, value: number, t: number): void {
    this.samples++;
    this.line(`${prefix} ${fmt(value)} ${t}`);
  }
  flush(): void {
    if (this.buf.length > 0) this.write(this.buf.join('\n') + '\n');
    this.buf = [];
  }
}

interface Step {
  /** sample time (end of the step) */
  t: number;
  /** the hour's profile, or null for a gap */
  p: ProfilePoint | null;
  /**
   * time of an extra sample before this step's, or null: the hour's start at the window start,
   * one second after the hour's start after a gap (a sample exactly at the boundary would give
   * the gap hour two equal samples, i.e. a rate of 0 instead of no data)
   */
  anchor: number | null;
  /** operations completed during the step */
  ops: number;
}

/**
 * Streams synthetic OpenMetrics for the window through `write`. Families: gitops_operations
 * (counter), gitops_operation_duration_seconds (histogram), gitops_sandbox_cost_dollars
 * (counter), gitops_operations_in_flight (gauge), gitops_pool_acquisitions (counter, only when
 * a profile sets poolHitRatio), gitops_sandboxes_running and gitops_sandbox_limit (gauges),
 * gitops_recovery_seconds (histogram, only when a profile sets recoverySeconds).
 *
 * Sampling: the hour [H, H+1h) is described by `profile(H)`; samples are written at H+step …
 * H+1h. Counters also get an anchor sample at the window's start, so `increase(x[1h])` at H+1h
 * is exactly the hour's volume; after a gap the anchor is at H+1s, so the gap hour stays "no
 * data" and the hour after it reads 3600/3599 of its rate (0.03 % high). Gauges get no anchor, so
 * a gap hour has no gauge data of its own (though, as in real Prometheus, the last sample
 * before a gap stays visible for the 5-minute lookback).
 */
export function writeOpenMetrics(o: SyntheticOptions, write: (chunk: string) => void): WriteStats {
  const step = o.stepSeconds ?? 300;
  if (!(step > 0) || 3600 % step !== 0) throw new RangeError('stepSeconds must divide 3600');
  const start = Math.floor(o.start / 3600) * 3600;
  const approach = o.approach ?? 'simple';
  const provider = o.provider ?? 'e2b';
  const durationBounds = o.durationBuckets ?? DEFAULT_DURATION_BUCKETS;
  const recoveryBounds = o.recoveryBuckets ?? DEFAULT_RECOVERY_BUCKETS;
  const sigma = o.latencySigma ?? 0.6;

  // Evaluate the profile once per hour, then lay out the steps.
  const steps: Step[] = [];
  const hours: (ProfilePoint | null)[] = [];
  for (let h = 0, t = start; t < o.end; h++, t += 3600) {
    const p = o.profile({
      t,
      hourIndex: h,
      hourOfDay: Math.floor((t % 86_400) / 3600),
      day: Math.floor((t - start) / 86_400),
    });
    hours.push(p);
    for (let s = step; s <= 3600; s += step) {
      const anchor = p === null || s !== step ? null : h === 0 ? t : hours[h - 1] === null ? t + 1 : null;
      steps.push({ t: t + s, p, anchor, ops: p ? (p.opsPerMin * step) / 60 : 0 });
    }
  }

  const live = hours.filter((p): p is ProfilePoint => p !== null);
  const operations = [
    ...new Set(live.flatMap((p) => normalise(p.operationMix ?? DEFAULT_OPERATION_MIX).map(([k]) => k))),
  ];
  const categories = [
    ...new Set(
      live
        .filter((p) => (p.errorRate ?? 0) > 0)
        .flatMap((p) => normalise(p.errorMix ?? DEFAULT_ERROR_MIX).map(([k]) => k)),
    ),
  ];
  const hasPool = live.some((p) => p.poolHitRatio !== undefined);
  const hasRecovery = live.some((p) => p.recoverySeconds !== undefined);

  // shares are looked up per step and series: normalise each hour's mixes once
  const mixCache = new WeakMap<ProfilePoint, { ops: Map<string, number>; cats: Map<string, number> }>();
  const mixes = (p: ProfilePoint): { ops: Map<string, number>; cats: Map<string, number> } => {
    let m = mixCache.get(p);
    if (!m) {
      m = {
        ops: new Map(normalise(p.operationMix ?? DEFAULT_OPERATION_MIX)),
        cats: new Map(normalise(p.errorMix ?? DEFAULT_ERROR_MIX)),
      };
      mixCache.set(p, m);
    }
    return m;
  };
  const opShare = (p: ProfilePoint, op: string): number => mixes(p).ops.get(op) ?? 0;
  const catShare = (p: ProfilePoint, c: string): number => mixes(p).cats.get(c) ?? 0;
  const bucketCache = new Map<number, number[]>();
  const fractions = (p95: number): number[] => {
    let f = bucketCache.get(p95);
    if (!f) {
      f = bucketFractionsForQuantile(p95, 0.95, durationBounds, sigma);
      bucketCache.set(p95, f);
    }
    return f;
  };
  const meanLatency = (p95: number): number => {
    // the log-normal's mean, with the median implied by the fitted P95
    const mu = Math.log(p95) - 1.6448536 * sigma;
    return Math.exp(mu + (sigma * sigma) / 2);
  };

  const out = new Lines(write);
  let series = 0;

  /** Writes one cumulative series: `inc(step)` is what the step adds. */
  const counterSeries = (name: string, labels: Record<string, string>, inc: (s: Step) => number): void => {
    series++;
    const prefix = name + formatLabels(labels);
    let v = 0;
    for (const s of steps) {
      if (!s.p) continue;
      if (s.anchor !== null) out.sample(prefix, v, s.anchor);
      v += inc(s);
      out.sample(prefix, v, s.t);
    }
  };
  const gaugeSeries = (name: string, labels: Record<string, string>, val: (p: ProfilePoint) => number): void => {
    series++;
    const prefix = name + formatLabels(labels);
    for (const s of steps) if (s.p) out.sample(prefix, val(s.p), s.t);
  };
  /** A histogram family's series for one label set: buckets, _count, _sum per timestamp (one MetricPoint each). */
  const histogramSeries = (
    name: string,
    labels: Record<string, string>,
    bounds: readonly number[],
    count: (s: Step) => number,
    cumFractions: (p: ProfilePoint) => number[],
    mean: (p: ProfilePoint) => number,
  ): void => {
    series += bounds.length + 3;
    const cum = new Array<number>(bounds.length).fill(0);
    let total = 0;
    let sum = 0;
    const bucketPrefixes = bounds.map((b) => `${name}_bucket${formatLabels({ ...labels, le: String(b) })}`);
    const infPrefix = `${name}_bucket${formatLabels({ ...labels, le: '+Inf' })}`;
    const countPrefix = `${name}_count${formatLabels(labels)}`;
    const sumPrefix = `${name}_sum${formatLabels(labels)}`;
    const emit = (t: number): void => {
      for (let i = 0; i < bounds.length; i++) out.sample(bucketPrefixes[i], cum[i], t);
      out.sample(infPrefix, total, t);
      out.sample(countPrefix, total, t);
      out.sample(sumPrefix, sum, t);
    };
    for (const s of steps) {
      if (!s.p) continue;
      if (s.anchor !== null) emit(s.anchor);
      const n = count(s);
      if (n > 0) {
        const f = cumFractions(s.p);
        for (let i = 0; i < bounds.length; i++) cum[i] += n * f[i];
        total += n;
        sum += n * mean(s.p);
      }
      emit(s.t);
    }
  };

  out.line('# HELP gitops_operations Git operations by outcome and error category.');
  out.line('# TYPE gitops_operations counter');
  for (const op of operations) {
    counterSeries(
      'gitops_operations_total',
      { operation: op, approach, outcome: 'success', error_category: 'none' },
      (s) => s.ops * opShare(s.p as ProfilePoint, op) * (1 - (s.p?.errorRate ?? 0)),
    );
    for (const c of categories) {
      counterSeries(
        'gitops_operations_total',
        { operation: op, approach, outcome: 'error', error_category: c },
        (s) => s.ops * opShare(s.p as ProfilePoint, op) * (s.p?.errorRate ?? 0) * catShare(s.p as ProfilePoint, c),
      );
    }
  }

  out.line('# HELP gitops_operation_duration_seconds Git operation duration.');
  out.line('# TYPE gitops_operation_duration_seconds histogram');
  for (const op of operations) {
    for (const outcome of ['success', 'error'] as const) {
      if (outcome === 'error' && categories.length === 0) continue;
      histogramSeries(
        'gitops_operation_duration_seconds',
        { operation: op, approach, outcome },
        durationBounds,
        (s) => {
          const err = s.p?.errorRate ?? 0;
          return s.ops * opShare(s.p as ProfilePoint, op) * (outcome === 'success' ? 1 - err : err);
        },
        (p) => fractions(p.p95Seconds ?? 0.8),
        (p) => meanLatency(p.p95Seconds ?? 0.8),
      );
    }
  }

  out.line('# HELP gitops_sandbox_cost_dollars Sandbox spend in USD.');
  out.line('# TYPE gitops_sandbox_cost_dollars counter');
  counterSeries('gitops_sandbox_cost_dollars_total', { approach }, (s) => s.ops * (s.p?.costPerOp ?? 0.01));

  out.line('# HELP gitops_operations_in_flight Operations running now.');
  out.line('# TYPE gitops_operations_in_flight gauge');
  gaugeSeries('gitops_operations_in_flight', { approach }, (p) => p.concurrency ?? 0);

  if (hasPool) {
    out.line('# HELP gitops_pool_acquisitions Sandbox pool acquisitions.');
    out.line('# TYPE gitops_pool_acquisitions counter');
    counterSeries('gitops_pool_acquisitions_total', { result: 'reused' }, (s) => s.ops * (s.p?.poolHitRatio ?? 0));
    counterSeries(
      'gitops_pool_acquisitions_total',
      { result: 'created' },
      (s) => s.ops * (1 - (s.p?.poolHitRatio ?? 0)),
    );
  }

  out.line('# HELP gitops_sandboxes_running Sandboxes running at the provider.');
  out.line('# TYPE gitops_sandboxes_running gauge');
  gaugeSeries('gitops_sandboxes_running', { provider }, (p) => p.sandboxesRunning ?? p.concurrency ?? 0);
  out.line('# HELP gitops_sandbox_limit Concurrent sandbox limit of the provider plan.');
  out.line('# TYPE gitops_sandbox_limit gauge');
  gaugeSeries('gitops_sandbox_limit', { provider }, (p) => p.sandboxLimit ?? 100);

  if (hasRecovery) {
    const transient = new Set<string>(['network', 'timeout', 'rate_limit']);
    out.line('# HELP gitops_recovery_seconds Time from a first transient failure to success.');
    out.line('# TYPE gitops_recovery_seconds histogram');
    for (const op of operations) {
      histogramSeries(
        'gitops_recovery_seconds',
        { operation: op },
        recoveryBounds,
        (s) => {
          if (!s.p || s.p.recoverySeconds === undefined) return 0;
          const share = categories
            .filter((c) => transient.has(c))
            .reduce((a, c) => a + catShare(s.p as ProfilePoint, c), 0);
          return s.ops * opShare(s.p, op) * (s.p.errorRate ?? 0) * share;
        },
        (p) => recoveryBounds.map((b) => ((p.recoverySeconds ?? 0) <= b ? 1 : 0)),
        (p) => p.recoverySeconds ?? 0,
      );
    }
  }

  out.line('# EOF');
  out.flush();
  return { series, samples: out.samples };
}

/** The whole OpenMetrics text in memory (small windows, tests). */
export function openMetricsText(o: SyntheticOptions): string {
  const chunks: string[] = [];
  writeOpenMetrics(o, (c) => chunks.push(c));
  return chunks.join('');
}

/** Streams the OpenMetrics text to a file chunk by chunk (large windows, benchmarks). */
export function writeOpenMetricsFile(path: string, o: SyntheticOptions): WriteStats {
  const fd = openSync(path, 'w');
  try {
    return writeOpenMetrics(o, (c) => {
      writeSync(fd, c);
    });
  } finally {
    closeSync(fd);
  }
}
