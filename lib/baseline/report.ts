/**
 * Baseline artifacts besides the CSV (seed 003): the production report (markdown + chart specs
 * for lib/reports/html.ts), the completion / partial summary, and metadata.json.
 *
 * Pure builders: no imports of Node built-ins and no clock, so they can run anywhere; the caller
 * (an activity) passes times, host name and git sha in. `configDigest` uses WebCrypto.
 */
import type { ChartSpec } from '../reports/types.js';
import { formatTimestamp, profileName, type BaselineSample, type CsvProfile } from './csv.js';
import type { BreakerDecision } from './breaker.js';
import { renderCriteriaMarkdown, fmtMb, fmtMs, fmtPct, type CriteriaResult } from './criteria.js';
import type { SloRecommendation } from './slo.js';

/** What report pages are made of (html.ts renders it). */
export interface ReportContent {
  title: string;
  markdown: string;
  charts: ChartSpec[];
  data: Record<string, unknown>;
}

/** One phase of a baseline run (day 1 baseline, day 2 extended, fallback scenario). */
export interface PhaseResult {
  name: string;
  samples: readonly BaselineSample[];
  criteria: CriteriaResult;
  breaker?: BreakerDecision | null;
  /** load parameters of the phase */
  rps?: number;
  connections?: number;
  intervalSeconds?: number;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

function seriesOf(samples: readonly BaselineSample[], column: string, scale = 1): [number, number | null][] {
  return samples.map((s) => {
    const v = s.values[column];
    return [s.timestamp, typeof v === 'number' && Number.isFinite(v) ? Number((v * scale).toPrecision(10)) : null];
  });
}

export interface ChartThresholds {
  p95MaxMs?: number;
  p99MaxMs?: number;
  rssAvgMaxMb?: number;
  cacheHitMin?: number;
  errorRateMax?: number;
  breakerErrorRateMax?: number;
}

/** The report's charts: latency, errors and fallback, memory, cache, throughput and CPU. */
export function baselineCharts(samples: readonly BaselineSample[], t: ChartThresholds = {}): ChartSpec[] {
  const charts: ChartSpec[] = [
    {
      title: 'Latency percentiles',
      unit: 'ms',
      series: [
        { name: 'P50', points: seriesOf(samples, 'p50_latency') },
        { name: 'P95', points: seriesOf(samples, 'p95_latency') },
        { name: 'P99', points: seriesOf(samples, 'p99_latency') },
      ],
      ...(t.p95MaxMs !== undefined ? { threshold: { value: t.p95MaxMs, label: `P95 target ${t.p95MaxMs} ms` } } : {}),
    },
    {
      title: 'Error rate and effective fallback',
      unit: '%',
      series: [
        { name: 'error rate', points: seriesOf(samples, 'error_rate', 100) },
        { name: '4xx', points: seriesOf(samples, 'error_rate_4xx', 100) },
        { name: '5xx', points: seriesOf(samples, 'error_rate_5xx', 100) },
        { name: 'effective fallback', points: seriesOf(samples, 'effective_fallback_ratio', 100) },
      ],
      ...(t.breakerErrorRateMax !== undefined
        ? { threshold: { value: t.breakerErrorRateMax * 100, label: `breaker ${t.breakerErrorRateMax * 100}%` } }
        : {}),
    },
    {
      title: 'RSS memory',
      unit: 'MB',
      series: [{ name: 'RSS', points: seriesOf(samples, 'rss_mb') }],
      ...(t.rssAvgMaxMb !== undefined
        ? { threshold: { value: t.rssAvgMaxMb, label: `limit ${t.rssAvgMaxMb} MB avg` } }
        : {}),
    },
    {
      title: 'Cache (pool reuse) hit rate',
      unit: '%',
      series: [{ name: 'hit rate', points: seriesOf(samples, 'cache_hit_rate', 100) }],
      ...(t.cacheHitMin !== undefined
        ? { threshold: { value: t.cacheHitMin * 100, label: `target ${t.cacheHitMin * 100}%` } }
        : {}),
    },
    {
      title: 'Request rate',
      unit: 'req/s',
      series: [{ name: 'operations/s', points: seriesOf(samples, 'request_rate') }],
    },
    { title: 'CPU', unit: '%', series: [{ name: 'CPU', points: seriesOf(samples, 'cpu_percent') }] },
  ];
  return charts;
}

function fmt(v: number | null | undefined, digits: number): string {
  return v === null || v === undefined || !Number.isFinite(v) ? 'NA' : v.toFixed(digits);
}

/** A compact per-sample table for the report (a subset of the CSV). */
function sampleTable(samples: readonly BaselineSample[]): string {
  const cols: [string, string, (v: number | null | undefined) => string][] = [
    ['success', 'http_success_rate', (v) => (v == null ? 'NA' : fmtPct(v))],
    ['P50 ms', 'p50_latency', (v) => fmt(v, 1)],
    ['P95 ms', 'p95_latency', (v) => fmt(v, 1)],
    ['P99 ms', 'p99_latency', (v) => fmt(v, 1)],
    ['errors', 'error_rate', (v) => (v == null ? 'NA' : fmtPct(v))],
    ['eff. fallback', 'effective_fallback_ratio', (v) => (v == null ? 'NA' : fmtPct(v))],
    ['cache hit', 'cache_hit_rate', (v) => (v == null ? 'NA' : fmtPct(v))],
    ['RSS MB', 'rss_mb', (v) => fmt(v, 1)],
    ['CPU %', 'cpu_percent', (v) => fmt(v, 1)],
    ['req/s', 'request_rate', (v) => fmt(v, 1)],
  ];
  return [
    `| # | time | ${cols.map((c) => c[0]).join(' | ')} |`,
    `|---|---|${cols.map(() => '---').join('|')}|`,
    ...samples.map(
      (s) =>
        `| ${s.sampleNum} | ${formatTimestamp(s.timestamp)} | ${cols.map(([, col, f]) => f(s.values[col] ?? null)).join(' | ')} |`,
    ),
  ].join('\n');
}

export interface ProductionReportInput {
  runId: string;
  profile: CsvProfile;
  phase: PhaseResult;
  /** thresholds for chart lines */
  thresholds?: ChartThresholds;
  metadata?: BaselineMetadata;
  slo?: SloRecommendation | null;
  title?: string;
}

/** Unmeasured time between two consecutive windows of a phase. */
export interface WindowGap {
  /** the window after which the next one started late */
  afterSample: number;
  /** seconds from that window's end to the next window's start */
  seconds: number;
}

/** A pause between windows this much longer than the phase's usual one is reported as a gap. */
export const WINDOW_GAP_SLACK_SECONDS = 5;

/**
 * The gaps between a phase's windows (issue 12: a phase resumed after a worker crash leaves no
 * gap it does not report). Window i starts `windowSeconds` (the sample's own, else the phase's
 * interval) before its timestamp; the time from window i-1's end to that start was measured by
 * nobody. Every pause holds the previous sample's queries and the next window's scheduling, so
 * only a pause longer than the phase's median pause by more than {@link WINDOW_GAP_SLACK_SECONDS}
 * is a gap — a worker restart (the window's heartbeat timeout, then the restart) or a backlog.
 */
export function windowGaps(
  samples: readonly (BaselineSample & { windowSeconds?: number })[],
  intervalSeconds?: number,
): WindowGap[] {
  const pauses: WindowGap[] = [];
  for (let i = 1; i < samples.length; i++) {
    const w = samples[i].windowSeconds ?? intervalSeconds;
    if (w === undefined) continue;
    pauses.push({
      afterSample: samples[i - 1].sampleNum,
      seconds: samples[i].timestamp - w - samples[i - 1].timestamp,
    });
  }
  if (pauses.length === 0) return [];
  const sorted = pauses.map((p) => p.seconds).sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  return pauses
    .filter((p) => p.seconds > Math.max(0, median) + WINDOW_GAP_SLACK_SECONDS)
    .map((p) => ({ ...p, seconds: Number(p.seconds.toFixed(1)) }));
}

/** The production report of one phase (seed 003 `production-report.md`). */
export function buildProductionReport(input: ProductionReportInput): ReportContent {
  const { phase } = input;
  const a = phase.criteria.aggregate;
  const title = input.title ?? `Production baseline — ${phase.name} — ${input.runId}`;
  const first = phase.samples[0];
  const last = phase.samples[phase.samples.length - 1];
  const lines: string[] = [`# ${title}`, ''];
  lines.push(
    `- Run: \`${input.runId}\`, phase **${phase.name}**, CSV profile \`${profileName(input.profile)}\``,
    `- Window: ${first ? formatTimestamp(first.timestamp) : 'NA'} → ${last ? formatTimestamp(last.timestamp) : 'NA'}, ${phase.samples.length} samples` +
      (phase.intervalSeconds ? ` × ${phase.intervalSeconds} s` : ''),
  );
  if (phase.rps !== undefined)
    lines.push(`- Load: ${phase.rps} req/s over ${phase.connections ?? '?'} connections (open loop)`);
  const gaps = windowGaps(phase.samples, phase.intervalSeconds);
  if (gaps.length > 0)
    lines.push(
      `- **Gaps between windows** (not measured): ${gaps.map((g) => `${g.seconds} s after sample ${g.afterSample}`).join(', ')} — the next window started late (a worker restart or a backlog); every window itself is complete`,
    );
  if (input.metadata) {
    const env = input.metadata.environment;
    lines.push(
      `- Environment: node ${env.nodeVersion} on ${cell(env.hostname)}${input.metadata.gitSha ? `, git ${input.metadata.gitSha.slice(0, 12)}` : ''}, config ${input.metadata.configDigest.slice(0, 12)}`,
    );
  }
  if (phase.breaker?.tripped)
    lines.push(`- **Circuit breaker tripped**: ${cell(phase.breaker.reason)} — load stopped, results are partial`);
  lines.push(
    '',
    '## Summary',
    '',
    '| Metric | Value |',
    '|---|---|',
    `| HTTP success rate | ${fmtPct(a.successRate)} |`,
    `| Latency P50 / P90 / P95 / P99 | ${fmtMs(a.p50Ms)} / ${fmtMs(a.p90Ms)} / ${fmtMs(a.p95Ms)} / ${fmtMs(a.p99Ms)} |`,
    `| Worst window P95 / P99 | ${fmtMs(a.p95MaxMs)} / ${fmtMs(a.p99MaxMs)} |`,
    `| Error rate (4xx / 5xx) | ${fmtPct(a.errorRate)} (${fmtPct(a.errorRate4xx)} / ${fmtPct(a.errorRate5xx)}) |`,
    `| Raw / effective fallback | ${fmtPct(a.rawFallbackRatio)} / ${fmtPct(a.effectiveFallbackRatio)} |`,
    `| Cache (pool reuse) hit rate | ${fmtPct(a.cacheHitRate)} |`,
    `| RSS average / max | ${fmtMb(a.rssAvgMb)} / ${fmtMb(a.rssMaxMb)} |`,
    `| CPU average | ${a.cpuAvgPercent === null ? 'NA' : `${a.cpuAvgPercent.toFixed(1)}%`} |`,
    `| Request rate average | ${a.requestRateAvg === null ? 'NA' : `${a.requestRateAvg.toFixed(1)} ops/s`} |`,
    ...Object.entries(a.operationSuccess).map(([k, v]) => `| ${k.replace(/_/g, ' ')} | ${fmtPct(v)} |`),
    '',
    '## Success criteria',
    '',
    renderCriteriaMarkdown(phase.criteria),
    '',
    '## Samples',
    '',
    phase.samples.length > 0 ? sampleTable(phase.samples) : '_no samples_',
  );
  if (input.slo) {
    lines.push(
      '',
      '## SLO draft',
      '',
      ...input.slo.targets.map(
        (t) => `- ${t.name}: ${t.objective}%${t.thresholdMs !== undefined ? ` under ${t.thresholdMs} ms` : ''}`,
      ),
    );
  }
  lines.push(
    '',
    'NA: no traffic in the interval, or the series is absent. NA is neutral for the breaker; Go/No-Go needs the mandatory columns non-NA.',
    '',
  );
  return {
    title,
    markdown: lines.join('\n'),
    charts: baselineCharts(phase.samples, input.thresholds),
    data: {
      runId: input.runId,
      phase: phase.name,
      profile: profileName(input.profile),
      samples: phase.samples.length,
      aggregate: a,
      criteria: phase.criteria.rows,
      goNoGo: phase.criteria.goNoGo,
      breaker: phase.breaker ?? null,
      gaps,
    },
  };
}

export type RunOutcome = 'completed' | 'tripped' | 'cancelled' | 'failed';

export interface CompletionSummaryInput {
  runId: string;
  outcome: RunOutcome;
  /** unix seconds */
  startedAt: number;
  finishedAt: number;
  phases: PhaseResult[];
  slo?: SloRecommendation | null;
  /** artifact file names written for the run */
  artifacts?: string[];
  /** why the run ended early, when it did */
  reason?: string;
}

/**
 * The completion summary (seed 003 `PHASE5_COMPLETION_REPORT.md` section), or the partial
 * summary when the breaker tripped or the run was cancelled: the seed's headline numbers per
 * phase, the decision, and what was collected.
 */
export function buildCompletionSummary(input: CompletionSummaryInput): ReportContent {
  const partial = input.outcome !== 'completed';
  const title = `${partial ? 'Partial summary' : 'Completion summary'} — production baseline ${input.runId}`;
  const lines = [
    `# ${title}`,
    '',
    `- Outcome: **${input.outcome}**${input.reason ? ` — ${cell(input.reason)}` : ''}`,
    `- Started ${formatTimestamp(input.startedAt)}, finished ${formatTimestamp(input.finishedAt)} (${((input.finishedAt - input.startedAt) / 3600).toFixed(2)} h)`,
    '',
    '## Results',
    '',
    '| Phase | Samples | P95 | P99 | Memory avg | Effective fallback | Cache hit | Error rate | Go/No-Go |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const p of input.phases) {
    const a = p.criteria.aggregate;
    lines.push(
      `| ${cell(p.name)} | ${p.samples.length} | ${fmtMs(a.p95Ms)} | ${fmtMs(a.p99Ms)} | ${fmtMb(a.rssAvgMb)} | ${fmtPct(a.effectiveFallbackRatio)} | ${fmtPct(a.cacheHitRate)} | ${fmtPct(a.errorRate)} | ${p.criteria.goNoGo.decision.toUpperCase()}${p.breaker?.tripped ? ' (breaker tripped)' : ''} |`,
    );
  }
  const tripped = input.phases.find((p) => p.breaker?.tripped);
  if (tripped?.breaker)
    lines.push('', `Circuit breaker tripped in ${cell(tripped.name)}: ${cell(tripped.breaker.reason)}.`);
  const decision =
    !partial && input.phases.length > 0 && input.phases.every((p) => p.criteria.goNoGo.decision === 'go')
      ? 'go'
      : 'no-go';
  lines.push('', `**Overall: ${decision.toUpperCase()}**`);
  const reasons = input.phases.flatMap((p) => p.criteria.goNoGo.reasons.map((r) => `${p.name}: ${r}`));
  if (reasons.length > 0) lines.push('', ...reasons.map((r) => `- ${cell(r)}`));
  if (input.slo && input.slo.targets.length > 0) {
    lines.push(
      '',
      '## SLO draft',
      '',
      ...input.slo.targets.map(
        (t) =>
          `- ${t.name}: ${t.objective}%${t.thresholdMs !== undefined ? ` under ${t.thresholdMs} ms` : ''} (budget ${t.errorBudget.minutesPerPeriod} min / ${t.errorBudget.periodDays} d)`,
      ),
    );
  }
  if (input.artifacts && input.artifacts.length > 0)
    lines.push('', '## Artifacts', '', ...input.artifacts.map((f) => `- \`${f}\``));
  lines.push('');
  return {
    title,
    markdown: lines.join('\n'),
    charts: [],
    data: {
      runId: input.runId,
      outcome: input.outcome,
      decision,
      startedAt: input.startedAt,
      finishedAt: input.finishedAt,
      phases: input.phases.map((p) => ({
        name: p.name,
        samples: p.samples.length,
        aggregate: p.criteria.aggregate,
        goNoGo: p.criteria.goNoGo,
        breaker: p.breaker ?? null,
      })),
      artifacts: input.artifacts ?? [],
    },
  };
}

export interface EnvironmentInfo {
  nodeVersion: string;
  platform: string;
  arch: string;
  hostname: string;
  pid: number | null;
}

/**
 * Environment capture for metadata.json. Reads `process` at call time, so call it in an
 * activity or a script, never in workflow code; the host name comes in (os.hostname()).
 */
export function captureEnvironment(hostname: string): EnvironmentInfo {
  const proc = (globalThis as { process?: { version: string; platform: string; arch: string; pid: number } }).process;
  return {
    nodeVersion: proc?.version ?? 'unknown',
    platform: proc?.platform ?? 'unknown',
    arch: proc?.arch ?? 'unknown',
    hostname,
    pid: proc?.pid ?? null,
  };
}

const SECRET_KEY =
  /token|secret|password|passwd|apikey|api_key|authorization|credential|encryptionkey|private|jwt|cookie|sha256/i;

/** Strips userinfo and query strings from URLs inside a string value. */
function scrubUrls(s: string): string {
  return s
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^/@\s]+@)/gi, '$1')
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s?#]*)\?[^\s#]*/gi, '$1');
}

/**
 * A copy of a config object with secrets removed: keys that name a secret become
 * "[redacted]", URLs lose credentials and query strings. Arrays and nested objects are walked.
 */
export function sanitizeConfig(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sanitizeConfig);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = SECRET_KEY.test(k) ? (v === undefined || v === null ? v : '[redacted]') : sanitizeConfig(v);
    }
    return out;
  }
  return typeof value === 'string' ? scrubUrls(value) : value;
}

/** Canonical JSON: object keys sorted, so equal configs digest equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** SHA-256 (hex) of the sanitised, canonical config. WebCrypto: call outside workflow code. */
export async function configDigest(config: unknown): Promise<string> {
  const bytes = new TextEncoder().encode(canonicalJson(sanitizeConfig(config)));
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

export interface BaselineMetadata {
  schema: 'baseline-metadata/v1';
  runId: string;
  /** ISO 8601 */
  startedAt: string;
  target: string;
  profile: CsvProfile;
  parameters: Record<string, unknown>;
  environment: EnvironmentInfo;
  configDigest: string;
  /** the sanitised config itself */
  config: unknown;
  gitSha: string | null;
}

export interface MetadataInput {
  runId: string;
  /** unix seconds */
  startedAt: number;
  /** base URL of the load target (credentials and query are stripped) */
  target: string;
  profile: CsvProfile;
  /** load and sampling parameters (rates, concurrency, samples, intervals) */
  parameters: Record<string, unknown>;
  environment: EnvironmentInfo;
  config: unknown;
  configDigest: string;
  gitSha?: string | null;
}

/** metadata.json (seed 003 "Execution parameters" + environment capture), free of secrets. */
export function buildMetadata(input: MetadataInput): BaselineMetadata {
  return {
    schema: 'baseline-metadata/v1',
    runId: input.runId,
    startedAt: formatTimestamp(input.startedAt),
    target: scrubUrls(input.target),
    profile: input.profile,
    parameters: sanitizeConfig(input.parameters) as Record<string, unknown>,
    environment: input.environment,
    configDigest: input.configDigest,
    config: sanitizeConfig(input.config),
    gitSha: input.gitSha && /^[0-9a-f]{7,64}$/i.test(input.gitSha) ? input.gitSha : null,
  };
}
