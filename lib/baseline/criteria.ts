/**
 * Success criteria of a baseline run (seed 003) and the Go/No-Go that rests on them.
 *
 * Aggregation over a run's sample windows:
 * - ratios (success, error, fallback) are weighted by each window's request rate, so a quiet
 *   window counts less than a busy one (plain mean when no rate is known);
 * - latency percentiles are the request-weighted mean of the windows' percentiles (the max is
 *   reported beside it); percentiles cannot be merged exactly from a CSV;
 * - RSS is the plain average (seed: "RSS ≤ 500MB average");
 * - cache hit rate is Σhits / Σ(hits + misses) from the raw counters when present (the seed
 *   prefers that to averaging per-sample rates), else the weighted mean of cache_hit_rate;
 * - operation success rates likewise from their success/failure counts when present.
 * NA windows are skipped; a criterion with no value at all is `na`, which is neutral, but the
 * Go/No-Go needs every mandatory column non-NA in every window (seed 003 NA policy).
 *
 * Pure: no I/O, no clock.
 */
import {
  MANDATORY_COLUMNS,
  profileName,
  resolveProfile,
  type BaselineSample,
  type CsvProfile,
  type SampleValue,
} from './csv.js';

export interface CriteriaThresholds {
  p95MaxMs: number;
  p99MaxMs: number;
  rssAvgMaxMb: number;
  cacheHitMin: number;
  errorRateMax: number;
  effectiveFallbackMax: number;
  successRateMin: number;
  /** rate column → minimum success fraction; columns outside the profile are ignored */
  operationSuccessMin: Record<string, number>;
}

export const DEFAULT_CRITERIA_THRESHOLDS: CriteriaThresholds = {
  p95MaxMs: 150,
  p99MaxMs: 250,
  rssAvgMaxMb: 500,
  cacheHitMin: 0.8,
  errorRateMax: 0.01,
  effectiveFallbackMax: 0.05,
  successRateMin: 0.99,
  operationSuccessMin: {
    push_success_rate: 0.95,
    clone_success_rate: 0.99,
    plugin_reload_success_rate: 0.95,
    snapshot_success_rate: 0.99,
  },
};

export type CriterionStatus = 'pass' | 'fail' | 'na';

export interface CriterionRow {
  id: string;
  criterion: string;
  target: string;
  observed: string;
  /** the number compared (fraction, ms, MiB or count), null when NA */
  value: number | null;
  status: CriterionStatus;
  /** a mandatory category (seed 003): NA blocks Go */
  mandatory: boolean;
}

export interface RunAggregate {
  samples: number;
  successRate: number | null;
  errorRate: number | null;
  errorRate4xx: number | null;
  errorRate5xx: number | null;
  rawFallbackRatio: number | null;
  effectiveFallbackRatio: number | null;
  p50Ms: number | null;
  p90Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  p95MaxMs: number | null;
  p99MaxMs: number | null;
  rssAvgMb: number | null;
  rssMaxMb: number | null;
  cpuAvgPercent: number | null;
  requestRateAvg: number | null;
  cacheHitRate: number | null;
  /** rate column → aggregated success fraction */
  operationSuccess: Record<string, number | null>;
}

export interface GoNoGo {
  decision: 'go' | 'no-go';
  reasons: string[];
}

export interface CriteriaResult {
  /** the CSV profile's name */
  profile: string;
  rows: CriterionRow[];
  aggregate: RunAggregate;
  counts: { pass: number; fail: number; na: number };
  /** samples (by sample_num) with an NA mandatory column, and which */
  naMandatory: { sampleNum: number; columns: string[] }[];
  goNoGo: GoNoGo;
}

const num = (v: SampleValue | undefined): number | null =>
  v === null || v === undefined || !Number.isFinite(v) ? null : v;

function series(samples: readonly BaselineSample[], column: string): (number | null)[] {
  return samples.map((s) => num(s.values[column]));
}

export function mean(values: readonly (number | null)[]): number | null {
  const xs = values.filter((v): v is number => v !== null);
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

export function max(values: readonly (number | null)[]): number | null {
  const xs = values.filter((v): v is number => v !== null);
  return xs.length === 0 ? null : Math.max(...xs);
}

/** Mean weighted by request rate; falls back to the plain mean when weights are missing. */
function weightedMean(samples: readonly BaselineSample[], column: string): number | null {
  let sw = 0;
  let swx = 0;
  let weighted = true;
  for (const s of samples) {
    const x = num(s.values[column]);
    if (x === null) continue;
    const w = num(s.values.request_rate);
    if (w === null || w <= 0) {
      weighted = false;
      break;
    }
    sw += w;
    swx += w * x;
  }
  if (weighted && sw > 0) return swx / sw;
  return mean(series(samples, column));
}

/** Σ over columns and windows; null when no window has any of the columns. */
function sumColumns(samples: readonly BaselineSample[], cols: readonly string[]): number | null {
  let total = 0;
  let any = false;
  for (const s of samples)
    for (const c of cols) {
      const v = num(s.values[c]);
      if (v !== null) {
        total += v;
        any = true;
      }
    }
  return any ? total : null;
}

function ratioOfCounts(
  samples: readonly BaselineSample[],
  good: readonly string[],
  bad: readonly string[],
): number | null {
  const g = sumColumns(samples, good);
  const b = sumColumns(samples, bad);
  if (g === null && b === null) return null;
  const total = (g ?? 0) + (b ?? 0);
  return total > 0 ? (g ?? 0) / total : null;
}

/** Percentiles over every request of a phase (merged HDR histograms of its windows). */
export interface MergedLatency {
  p95: number | null;
  p99: number | null;
  /** requests measured */
  count: number;
}

/**
 * Aggregates a phase. With `merged`, P95/P99 are the percentiles of all the phase's requests
 * together (seed 003 criteria); otherwise a request-weighted mean of the windows' percentiles.
 * `p95MaxMs`/`p99MaxMs` are always the worst window's.
 */
export function aggregateRun(
  samples: readonly BaselineSample[],
  profile: CsvProfile = 'default',
  merged?: MergedLatency,
): RunAggregate {
  const operationSuccess: Record<string, number | null> = {};
  for (const op of resolveProfile(profile).operations) {
    operationSuccess[op.rateColumn] =
      ratioOfCounts(samples, op.successColumns, op.failureColumns) ?? weightedMean(samples, op.rateColumn);
  }
  return {
    samples: samples.length,
    successRate: weightedMean(samples, 'http_success_rate'),
    errorRate: weightedMean(samples, 'error_rate'),
    errorRate4xx: weightedMean(samples, 'error_rate_4xx'),
    errorRate5xx: weightedMean(samples, 'error_rate_5xx'),
    rawFallbackRatio: weightedMean(samples, 'raw_fallback_ratio'),
    effectiveFallbackRatio: weightedMean(samples, 'effective_fallback_ratio'),
    p50Ms: weightedMean(samples, 'p50_latency'),
    p90Ms: weightedMean(samples, 'p90_latency'),
    p95Ms: merged && merged.count > 0 ? merged.p95 : weightedMean(samples, 'p95_latency'),
    p99Ms: merged && merged.count > 0 ? merged.p99 : weightedMean(samples, 'p99_latency'),
    p95MaxMs: max(series(samples, 'p95_latency')),
    p99MaxMs: max(series(samples, 'p99_latency')),
    rssAvgMb: mean(series(samples, 'rss_mb')),
    rssMaxMb: max(series(samples, 'rss_mb')),
    cpuAvgPercent: mean(series(samples, 'cpu_percent')),
    requestRateAvg: mean(series(samples, 'request_rate')),
    cacheHitRate:
      ratioOfCounts(samples, ['cache_hits_raw'], ['cache_misses_raw']) ?? weightedMean(samples, 'cache_hit_rate'),
    operationSuccess,
  };
}

/** Rounds away float noise so that 0.1 + 0.2-style sums meet an exact boundary. */
const settle = (v: number): number => Number(v.toPrecision(12));

export const fmtPct = (v: number | null, digits = 2): string => (v === null ? 'NA' : `${(v * 100).toFixed(digits)}%`);
export const fmtMs = (v: number | null): string => (v === null ? 'NA' : `${v.toFixed(1)} ms`);
export const fmtMb = (v: number | null): string => (v === null ? 'NA' : `${v.toFixed(1)} MB`);

function judge(value: number | null, op: '<=' | '>=', bound: number): CriterionStatus {
  if (value === null) return 'na';
  const v = settle(value);
  return (op === '<=' ? v <= bound : v >= bound) ? 'pass' : 'fail';
}

export interface EvaluateOptions {
  profile?: CsvProfile;
  /** planned number of samples; fewer collected fails the "samples collected" criterion */
  expectedSamples?: number;
  /** the phase's merged latency histogram percentiles (judged instead of a mean of window percentiles) */
  mergedLatency?: MergedLatency;
}

/** Evaluates the seed 003 criteria table for one run phase and its Go/No-Go. */
export function evaluateCriteria(
  samples: readonly BaselineSample[],
  thresholds: CriteriaThresholds = DEFAULT_CRITERIA_THRESHOLDS,
  opts: EvaluateOptions = {},
): CriteriaResult {
  const profile = opts.profile ?? 'default';
  const resolved = resolveProfile(profile);
  const a = aggregateRun(samples, profile, opts.mergedLatency);
  const merged = opts.mergedLatency !== undefined && opts.mergedLatency.count > 0;
  const latencyObserved = (v: number | null, worst: number | null): string =>
    v === null
      ? 'NA'
      : merged
        ? `${fmtMs(v)} over all ${opts.mergedLatency!.count} requests (worst window ${fmtMs(worst)})`
        : `${fmtMs(v)} (max ${fmtMs(worst)})`;
  const rows: CriterionRow[] = [];

  if (opts.expectedSamples !== undefined) {
    rows.push({
      id: 'samples',
      criterion: 'Samples collected',
      target: `≥ ${opts.expectedSamples}`,
      observed: String(samples.length),
      value: samples.length,
      status: samples.length >= opts.expectedSamples ? 'pass' : 'fail',
      mandatory: true,
    });
  }
  rows.push(
    {
      id: 'success_rate',
      criterion: 'HTTP success rate',
      target: `≥ ${fmtPct(thresholds.successRateMin)}`,
      observed: fmtPct(a.successRate),
      value: a.successRate,
      status: judge(a.successRate, '>=', thresholds.successRateMin),
      mandatory: true,
    },
    {
      id: 'p95_latency',
      criterion: 'Latency P95',
      target: `≤ ${thresholds.p95MaxMs} ms`,
      observed: latencyObserved(a.p95Ms, a.p95MaxMs),
      value: a.p95Ms,
      status: judge(a.p95Ms, '<=', thresholds.p95MaxMs),
      mandatory: true,
    },
    {
      id: 'p99_latency',
      criterion: 'Latency P99',
      target: `≤ ${thresholds.p99MaxMs} ms`,
      observed: latencyObserved(a.p99Ms, a.p99MaxMs),
      value: a.p99Ms,
      status: judge(a.p99Ms, '<=', thresholds.p99MaxMs),
      mandatory: true,
    },
    {
      id: 'rss_avg',
      criterion: 'RSS memory (average)',
      target: `≤ ${thresholds.rssAvgMaxMb} MB`,
      observed: fmtMb(a.rssAvgMb),
      value: a.rssAvgMb,
      status: judge(a.rssAvgMb, '<=', thresholds.rssAvgMaxMb),
      mandatory: true,
    },
    {
      id: 'cache_hit_rate',
      criterion: 'Cache (pool reuse) hit rate',
      target: `≥ ${fmtPct(thresholds.cacheHitMin)}`,
      observed: fmtPct(a.cacheHitRate),
      value: a.cacheHitRate,
      status: judge(a.cacheHitRate, '>=', thresholds.cacheHitMin),
      mandatory: true,
    },
    {
      id: 'error_rate',
      criterion: 'Error rate (overall)',
      target: `≤ ${fmtPct(thresholds.errorRateMax)}`,
      observed:
        a.errorRate === null
          ? 'NA'
          : `${fmtPct(a.errorRate)} (4xx ${fmtPct(a.errorRate4xx)}, 5xx ${fmtPct(a.errorRate5xx)})`,
      value: a.errorRate,
      status: judge(a.errorRate, '<=', thresholds.errorRateMax),
      mandatory: true,
    },
    {
      id: 'effective_fallback',
      criterion: 'Effective fallback ratio',
      target: `≤ ${fmtPct(thresholds.effectiveFallbackMax)}`,
      observed: fmtPct(a.effectiveFallbackRatio),
      value: a.effectiveFallbackRatio,
      status: judge(a.effectiveFallbackRatio, '<=', thresholds.effectiveFallbackMax),
      mandatory: true,
    },
  );
  for (const op of resolved.operations) {
    const min = thresholds.operationSuccessMin[op.rateColumn];
    if (min === undefined) continue;
    const v = a.operationSuccess[op.rateColumn] ?? null;
    rows.push({
      id: op.rateColumn,
      criterion: `${op.label[0].toUpperCase()}${op.label.slice(1)} success rate`,
      target: `≥ ${fmtPct(min)}`,
      observed: fmtPct(v),
      value: v,
      status: judge(v, '>=', min),
      mandatory: false,
    });
  }

  // a mandatory column the profile does not have is one criterion without data, not an NA in every sample
  const mandatory = MANDATORY_COLUMNS.filter((c) => resolved.columns.some((x) => x.name === c));
  const naMandatory = samples
    .map((s) => ({ sampleNum: s.sampleNum, columns: mandatory.filter((c) => num(s.values[c]) === null) }))
    .filter((x) => x.columns.length > 0);

  const reasons: string[] = [];
  for (const r of rows) {
    if (r.status === 'fail') reasons.push(`${r.criterion}: ${r.observed} misses ${r.target}`);
    else if (r.status === 'na' && r.mandatory) reasons.push(`${r.criterion}: no data (mandatory)`);
  }
  if (samples.length === 0) reasons.push('no samples collected');
  for (const x of naMandatory) reasons.push(`sample ${x.sampleNum}: NA in mandatory ${x.columns.join(', ')}`);

  const counts = { pass: 0, fail: 0, na: 0 };
  for (const r of rows) counts[r.status]++;
  return {
    profile: profileName(profile),
    rows,
    aggregate: a,
    counts,
    naMandatory,
    goNoGo: { decision: reasons.length === 0 ? 'go' : 'no-go', reasons },
  };
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

/** The criteria table as markdown, with the Go/No-Go line. */
export function renderCriteriaMarkdown(result: CriteriaResult): string {
  const icon: Record<CriterionStatus, string> = { pass: '✅ pass', fail: '❌ fail', na: '➖ na' };
  const lines = [
    '| Criterion | Target | Observed | Result |',
    '|---|---|---|---|',
    ...result.rows.map(
      (r) =>
        `| ${cell(r.criterion)}${r.mandatory ? ' \\*' : ''} | ${cell(r.target)} | ${cell(r.observed)} | ${icon[r.status]} |`,
    ),
    '',
    '\\* mandatory: NA blocks Go (seed 003).',
    '',
    `**Go/No-Go: ${result.goNoGo.decision.toUpperCase()}** — ${result.counts.pass} pass, ${result.counts.fail} fail, ${result.counts.na} na`,
  ];
  if (result.goNoGo.reasons.length > 0) lines.push('', ...result.goNoGo.reasons.map((r) => `- ${cell(r)}`));
  return lines.join('\n');
}
