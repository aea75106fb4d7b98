/**
 * Weekly checkpoint and final readiness reports of the validation period (seed 000). Pure
 * rendering (no I/O, no clock: times come from the data); activities turn the result into a
 * ReportDoc with `renderHtmlPage`. Every free-text string (run id, notes, override reasons) goes
 * through `sanitizeText`, and `data` through `sanitizeData`, so no token or credentialed URL
 * reaches a report. Not re-exported from lib/validation/index.ts (it pulls the logger's URL
 * sanitiser, which workflows do not need).
 */
import type { ValidationConfig } from '../config/validation.js';
import type { ChartSpec } from '../reports/types.js';
import type { ChartBand, ChartSpecWithBands } from '../reports/svg.js';
import type { RenderedReport } from '../reports/html.js';
import { mdTable, sanitizeData, sanitizeText } from '../reports/markdown.js';
import { decide, fmtThreshold, type DecisionResult, type TriggersTable } from './decide.js';
import {
  predictBusiestDay,
  predictRate,
  usableFit,
  type Band,
  type CrossingLikelihood,
  type Forecast,
  type ForecastSeriesName,
} from './forecast.js';
import { MIN_HISTORY_DAYS, type Prediction, type SeriesFit } from './trend.js';
import { evaluateWeekGoals, goalsChecklist, type GoalResult } from './goals.js';
import type { StabilityResult } from './stability.js';
import type { WeekSummary } from './types.js';

export interface ReportContext {
  /** workflow id of the run */
  runId?: string;
  config: ValidationConfig;
  /** every weekly summary so far, in any order */
  weeks: readonly WeekSummary[];
  forecast?: Forecast | null;
  /** set when the run is a backtest over a past window (unix seconds) */
  backtest?: { start: number; end: number };
  /** free text to show (extension reasons, operator notes); sanitised */
  notes?: readonly string[];
}

export interface WeeklyReportInput extends ReportContext {
  /** the week the checkpoint is for */
  week: number;
  /** the checkpoint's decision; computed with `decide` when absent */
  decision?: DecisionResult;
}

export interface FinalReportInput extends ReportContext {
  decision: DecisionResult;
  /** an operator override of the decision (audited elsewhere) */
  override?: { decision: string; reason: string; by?: string };
}

// ---- formatting -----------------------------------------------------------------------------

const dash = '—';
const usd = (v: number | null): string => (v === null ? dash : `$${Math.abs(v) < 1 ? v.toFixed(4) : v.toFixed(2)}`);
const secs = (v: number | null): string =>
  v === null ? dash : v >= 1e300 ? '> largest bucket' : `${v.toFixed(v < 10 ? 3 : 1)} s`;
const pct = (v: number | null, d = 2): string => (v === null ? dash : `${(v * 100).toFixed(d)}%`);
const num = (v: number | null, d = 1): string => (v === null ? dash : Number.isInteger(v) ? String(v) : v.toFixed(d));
const date = (t: number): string => new Date(t * 1000).toISOString().slice(0, 10);
const dateTime = (t: number): string => new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' ');

function fmtUnit(v: number | null, unit: string): string {
  if (v === null) return dash;
  switch (unit) {
    case '$':
      return usd(v);
    case '%':
      return pct(v);
    case 's':
      return secs(v);
    case 'ops/min':
      return `${num(v)} ops/min`;
    default:
      return num(v);
  }
}

function sortedWeeks(weeks: readonly WeekSummary[]): WeekSummary[] {
  return [...weeks].sort((a, b) => a.week - b.week);
}

function triggersTableMd(table: TriggersTable): string {
  const headers = ['Trigger', 'Threshold', ...table.weeks.map((w) => `Week ${w}`), 'Sustained'];
  const rows = table.rows.map((r) => [
    r.label,
    `> ${fmtThreshold(r.threshold, r.unit)}`,
    ...r.cells.map((c) =>
      c.status === 'exceeded'
        ? `EXCEEDED ${c.breachHours} h (max ${fmtUnit(c.max, r.unit)})`
        : c.status === 'ok'
          ? `ok (max ${fmtUnit(c.max, r.unit)})`
          : `no data${c.max !== null ? ` (max ${fmtUnit(c.max, r.unit)})` : ''}`,
    ),
    r.sustainedWeeks ? `yes, weeks ${r.sustainedWeeks.join(', ')}` : 'no',
  ]);
  return mdTable(headers, rows);
}

function stabilityMd(s: StabilityResult | null): string {
  if (!s) return '*Not measured: fewer than two consecutive weeks.*';
  const label: Record<string, string> = {
    costPerOp: 'Cost per operation',
    p95Latency: 'P95 latency',
    errorRate: 'Error rate',
    peakConcurrency: 'Peak concurrency',
  };
  const value = (m: string, v: number | null): string =>
    m === 'costPerOp' ? usd(v) : m === 'p95Latency' ? secs(v) : m === 'errorRate' ? pct(v) : num(v);
  const change = (m: string, raw: number | null): string => {
    const c = raw !== null && Math.abs(raw) < 1e-9 ? 0 : raw;
    return c === null
      ? dash
      : !Number.isFinite(c)
        ? 'from 0'
        : m === 'errorRate'
          ? `${c >= 0 ? '+' : ''}${(c * 100).toFixed(2)} pts`
          : `${c >= 0 ? '+' : ''}${(c * 100).toFixed(2)}%`;
  };
  return mdTable(
    ['Metric', `Week ${s.previousWeek}`, `Week ${s.currentWeek}`, 'Change', 'Band', 'Status'],
    s.checks.map((c) => [
      label[c.metric],
      value(c.metric, c.previous),
      value(c.metric, c.current),
      change(c.metric, c.change),
      c.band,
      c.status.replace('_', ' '),
    ]),
    ['l', 'r', 'r', 'r', 'l', 'l'],
  );
}

function goalMd(g: GoalResult): string {
  const mark = (s: string): string => (s === 'met' ? '[x]' : s === 'not_met' ? '[ ]' : '[?]');
  const status = g.met === true ? 'met' : g.met === false ? 'not met' : 'inconclusive (missing data)';
  return [
    `### ${g.title} — ${status}`,
    '',
    ...g.checks.map(
      (c) => `- ${mark(c.status)} **${c.label}**: ${c.detail}${c.status === 'no_data' ? ' *(no data)*' : ''}`,
    ),
  ].join('\n');
}

function dailyTableMd(weeks: readonly WeekSummary[]): string {
  const rows = sortedWeeks(weeks).flatMap((w) =>
    w.expectedDays.map((d) => {
      const s = w.days.find((x) => x.day === d);
      if (!s) return [String(d), dash, dash, dash, dash, dash, dash, '0%', 'missing'];
      return [
        String(d),
        date(s.start),
        num(s.operations, 0),
        usd(s.costPerOp),
        secs(s.p95Seconds),
        pct(s.errorRate),
        num(s.peakConcurrency),
        pct(s.coverage, 0),
        s.complete ? 'yes' : 'missing data',
      ];
    }),
  );
  return mdTable(
    [
      'Day',
      'Date (UTC)',
      'Operations',
      'Cost/op',
      'P95',
      'Error rate',
      'Peak concurrency',
      'Hourly coverage',
      'Complete',
    ],
    rows,
    ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
  );
}

function weekOverviewMd(weeks: readonly WeekSummary[]): string {
  return mdTable(
    [
      'Week',
      'Operations',
      'Cost/op',
      'P50',
      'P95',
      'P99',
      'Error rate',
      'Peak concurrency',
      'Throughput',
      'Monthly cost (projected)',
      'Missing days',
    ],
    sortedWeeks(weeks).map((w) => [
      String(w.week),
      num(w.operations, 0),
      usd(w.costPerOp),
      secs(w.p50Seconds),
      secs(w.p95Seconds),
      secs(w.p99Seconds),
      pct(w.errorRate),
      num(w.peakConcurrency),
      w.throughputOpsPerMin === null ? dash : `${num(w.throughputOpsPerMin)} ops/min`,
      usd(w.monthlyCostProjected),
      w.missingDays.length ? w.missingDays.join(', ') : 'none',
    ]),
    ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
  );
}

const money = (v: number): string => (v < 100 ? `$${v.toFixed(2)}` : `$${Math.round(v).toLocaleString('en-US')}`);
const whole = (v: number): string => (v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US'));
const bandOf = (b: Band | null, lo: 'lo80' | 'lo95', hi: 'hi80' | 'hi95', fmt: (v: number) => string): string =>
  b === null ? dash : `${fmt(b[lo])} – ${fmt(b[hi])}`;

const SERIES_WORDS: Record<ForecastSeriesName, { label: string; per: string; fmt: (v: number) => string }> = {
  cost: { label: 'daily cost', per: 'a day', fmt: money },
  operations: { label: 'daily operations', per: 'a day', fmt: whole },
  concurrency: { label: 'daily peak concurrency', per: '', fmt: whole },
};

/** What the method did with one series, in words. */
function seriesStory(name: ForecastSeriesName, fit: SeriesFit | null): string {
  const w = SERIES_WORDS[name];
  if (fit === null) return `${w.label}: fewer than 2 days of data`;
  const unit = (v: number): string => `${w.fmt(v)}${w.per ? ` ${w.per}` : ''}`;
  const jumps = fit.changes.map((c) => `day ${c.day} (${unit(c.before)} → ${unit(c.after)})`);
  const since = jumps.length
    ? `lasting change on ${jumps.join(' and on ')}; the ${fit.days} days since day ${fit.fromDay} are used`
    : `no lasting change; all ${fit.days} days are used`;
  if (!usableFit(fit)) return `${w.label}: ${since} — not enough history (${fit.minDays} days needed), no projection`;
  const trend =
    fit.slope !== 0
      ? `${fit.slope > 0 ? 'up' : 'down'} ${w.fmt(Math.abs(fit.slope))} each day${fit.slopeClear ? '' : ' (a weak trend, partly flattened)'}${fit.sharedPace ? ' (the pace of the days before the jump too, at the new level)' : ''}`
      : fit.fittedSlope !== 0
        ? 'flat (the days do not clearly rise or fall)'
        : 'flat';
  const extras = [
    fit.weekly ? 'a weekday pattern was found and taken out' : '',
    fit.outliers.length
      ? `one-off day${fit.outliers.length > 1 ? 's' : ''} ${fit.outliers.join(', ')} left out of the trend`
      : '',
  ].filter((x) => x !== '');
  return `${w.label}: ${since}; trend: ${trend}${extras.length ? `; ${extras.join('; ')}` : ''}`;
}

/** The method and its inputs in one paragraph a non-statistician can read. */
function forecastMethodMd(f: Forecast, c: ValidationConfig): string {
  const perMonth = c.forecast.daysPerMonth;
  return [
    `**How this forecast is made.** Each daily series — cost, operations and the day's peak concurrency, complete days only — is read on its own. `,
    `First we look for lasting jumps such as a price change or a new team starting, and keep only the days since the last one, so a one-time jump counts as a new level, not as growth. `,
    `Through those days we draw a trend line that is not pulled by odd one-off days (the middle value of the slopes between every pair of days) and flatten it as far as the days do not clearly rise or fall. `,
    `When the days before a jump grew at the same pace, only shifted up or down, their pace counts too; when the pace itself changed, only the days since the jump do. `,
    `Monthly cost is the trend's daily cost × ${perMonth}; peak concurrency is the trend's daily peak${f.concurrency?.weekly ? ' on the busiest weekday' : ''}. `,
    `The shaded band holds the real value 8 times in 10 (80 %) and 19 times in 20 (95 %) if the service goes on as it has since its last jump; it widens further ahead because a small error in the slope grows with time. `,
    `It cannot foresee a new jump. With fewer than ${MIN_HISTORY_DAYS} days since the last jump the forecast says "not enough history" instead of guessing.`,
  ].join('');
}

function forecastMd(f: Forecast | null | undefined, c: ValidationConfig): string {
  if (!f || (f.cost === null && f.concurrency === null && f.operations === null))
    return '*No forecast: fewer than two complete days of data.*';
  const t = c.thresholds;
  const costOk = usableFit(f.cost);
  const concOk = usableFit(f.concurrency);
  const none = 'not enough history';
  const likely = (l: CrossingLikelihood | null, exceeds: boolean | null): string =>
    l === null ? dash : l === 'very unlikely' ? 'no' : `${exceeds ? 'yes' : 'no'} (${l})`;
  const lines = [
    forecastMethodMd(f, c),
    '',
    'Inputs: ' + (['cost', 'operations', 'concurrency'] as const).map((k) => seriesStory(k, f[k])).join('. ') + '.',
    '',
    mdTable(
      [
        'Horizon',
        'Day',
        'Monthly cost',
        '80 % band',
        '95 % band',
        `Above $${t.monthlyCost}?`,
        'Peak concurrency',
        '80 % band',
        '95 % band',
        `Above ${t.concurrency}?`,
        'Operations / month (80 % band)',
      ],
      [
        [
          'now (trend)',
          f.lastDay === null ? dash : String(f.lastDay),
          costOk ? usd(f.currentMonthlyCost) : none,
          dash,
          dash,
          f.currentMonthlyCost === null ? dash : f.currentMonthlyCost > t.monthlyCost ? 'yes' : 'no',
          concOk ? num(f.currentPeakConcurrency) : none,
          dash,
          dash,
          f.currentPeakConcurrency === null ? dash : f.currentPeakConcurrency > t.concurrency ? 'yes' : 'no',
          dash,
        ],
        ...f.points.map((p) => [
          `+${p.monthsAhead} month${p.monthsAhead > 1 ? 's' : ''}`,
          String(p.day),
          costOk ? usd(p.monthlyCost) : none,
          bandOf(p.monthlyCostBand, 'lo80', 'hi80', money),
          bandOf(p.monthlyCostBand, 'lo95', 'hi95', money),
          likely(p.monthlyCostLikelihood, p.monthlyCostExceeds),
          concOk ? num(p.peakConcurrency) : none,
          bandOf(p.peakConcurrencyBand, 'lo80', 'hi80', whole),
          bandOf(p.peakConcurrencyBand, 'lo95', 'hi95', whole),
          likely(p.concurrencyLikelihood, p.concurrencyExceeds),
          p.monthlyOperations === null
            ? usableFit(f.operations)
              ? dash
              : none
            : `${whole(p.monthlyOperations)} (${bandOf(p.monthlyOperationsBand, 'lo80', 'hi80', whole)})`,
        ]),
      ],
      ['l', 'r', 'r', 'r', 'r', 'l', 'r', 'r', 'r', 'l', 'r'],
    ),
    '',
    '"Above?" is yes when the central forecast is above the trigger, with how likely that is: very likely (the whole 80 % band is above), likely (the central forecast is), possible (only the top of the 80 % band is), unlikely (only the top of the 95 % band is); a plain "no" means not even that.',
    '',
    f.crossings.length > 0
      ? `**Trigger crossings:** ${f.crossings.join('; ')}.`
      : 'No trigger is crossed within the forecast horizon, not even at the top of the 80 % band.',
    ...(f.notes.length ? ['', ...f.notes.map((n) => `- ${n}`)] : []),
  ];
  return lines.join('\n');
}

function incompleteNotice(weeks: readonly WeekSummary[], decision: DecisionResult | undefined): string {
  const gaps = sortedWeeks(weeks)
    .filter((w) => w.missingDays.length > 0)
    .map((w) => `week ${w.week}: day${w.missingDays.length > 1 ? 's' : ''} ${w.missingDays.join(', ')}`);
  if (gaps.length === 0 && !decision?.incomplete) return '';
  return [
    `> **Data incomplete.** ${gaps.length ? `No usable data for ${gaps.join('; ')}.` : ''} Missing data is never counted as a pass${decision?.forced ? '; the decision was taken with the data available' : ''}.`,
    '',
  ].join('\n');
}

function contextMd(ctx: ReportContext): string {
  const all = sortedWeeks(ctx.weeks).flatMap((w) => w.days);
  const first = all.length ? Math.min(...all.map((d) => d.start)) : null;
  const lastDay = all.length ? Math.max(...all.map((d) => d.start)) + ctx.config.dayLengthSeconds : null;
  const bits = [
    ctx.runId ? `Run \`${sanitizeText(ctx.runId)}\`` : '',
    first !== null && lastDay !== null ? `metric window ${dateTime(first)} → ${dateTime(lastDay)} UTC` : '',
    ctx.backtest ? `**backtest** over ${dateTime(ctx.backtest.start)} → ${dateTime(ctx.backtest.end)} UTC` : '',
    `planned ${ctx.config.weeks} weeks (minimum ${ctx.config.minWeeks}, maximum ${ctx.config.maxWeeks})`,
  ].filter((b) => b !== '');
  return bits.join(' · ');
}

function notesMd(notes: readonly string[] | undefined): string {
  if (!notes || notes.length === 0) return '';
  return ['## Notes', '', ...notes.map((n) => `- ${sanitizeText(n).replace(/\r?\n/g, ' ')}`), ''].join('\n');
}

/** The four daily charts (cost/op, P95, error rate, peak concurrency) with their trigger lines. Missing days are gaps. */
export function dailyCharts(weeks: readonly WeekSummary[], config: ValidationConfig): ChartSpec[] {
  const days = sortedWeeks(weeks).flatMap((w) =>
    w.expectedDays.map((d) => ({ d, s: w.days.find((x) => x.day === d) })),
  );
  const series = (
    name: string,
    pick: (s: NonNullable<(typeof days)[number]['s']>) => number | null,
    scale = 1,
  ): ChartSpec['series'] => [
    {
      name,
      points: days.map(({ d, s }) => [`D${d}`, s ? (pick(s) === null ? null : (pick(s) as number) * scale) : null]),
    },
  ];
  const t = config.thresholds;
  return [
    {
      title: 'Cost per operation per day',
      unit: '$',
      series: series('cost/op', (s) => s.costPerOp),
      threshold: { value: t.costPerOp, label: 'migration trigger' },
    },
    {
      title: 'P95 latency per day',
      unit: 's',
      series: series('P95', (s) => s.p95Seconds),
      threshold: { value: t.p95Seconds, label: 'migration trigger' },
    },
    {
      title: 'Error rate per day',
      unit: '%',
      series: series('error rate', (s) => s.errorRate, 100),
      threshold: { value: t.errorRate * 100, label: 'migration trigger' },
    },
    {
      title: 'Peak concurrency per day',
      unit: 'ops',
      series: series('peak concurrency', (s) => s.peakConcurrency),
      threshold: { value: t.concurrency, label: 'migration trigger' },
    },
  ];
}

/** x values from `from` to `to` every `step` days, `to` included. */
function span(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let x = from; x < to; x += step) out.push(x);
  out.push(to);
  return out;
}

/** The 95 % and 80 % bands of a forecast line, the wider one first (drawn underneath). */
function bandsOf(preds: [number, Prediction][]): ChartBand[] {
  return [
    { name: '95 % band', series: 'forecast', opacity: 0.12, points: preds.map(([x, p]) => [x, p.lo95, p.hi95]) },
    { name: '80 % band', series: 'forecast', opacity: 0.25, points: preds.map(([x, p]) => [x, p.lo80, p.hi80]) },
  ];
}

function forecastCharts(
  weeks: readonly WeekSummary[],
  f: Forecast | null | undefined,
  config: ValidationConfig,
): ChartSpec[] {
  if (!f || f.lastDay === null) return [];
  const days = sortedWeeks(weeks)
    .flatMap((w) => w.days)
    .filter((d) => d.complete);
  const perMonth = config.forecast.daysPerMonth;
  const end = f.points.length ? f.points[f.points.length - 1].day : f.lastDay;
  const future = span(f.lastDay, end, Math.max(1, Math.round(perMonth / 10)));
  const chart = (
    title: string,
    unit: string,
    observed: ChartSpec['series'][number],
    fit: SeriesFit | null,
    value: (fit: SeriesFit, x: number) => Prediction,
    threshold: number,
  ): ChartSpecWithBands => {
    const usable = fit !== null && usableFit(fit) ? fit : null;
    const past = usable ? span(usable.fromDay, f.lastDay as number, 1) : [];
    return {
      title,
      unit,
      series: [
        observed,
        {
          name: usable ? 'forecast' : 'forecast (not enough history)',
          points: usable ? [...past, ...future.slice(1)].map((x) => [x, value(usable, x).mean]) : [],
        },
      ],
      bands: usable ? bandsOf(future.map((x) => [x, value(usable, x)])) : [],
      threshold: { value: threshold, label: 'migration trigger' },
    };
  };
  return [
    chart(
      'Monthly cost: observed run rate and 3-month forecast',
      '$',
      {
        name: `observed (daily cost × ${perMonth})`,
        points: days.map((d) => [d.day, d.costDollars === null ? null : d.costDollars * perMonth]),
      },
      f.cost,
      (fit, x) => predictRate(fit, x, perMonth),
      config.thresholds.monthlyCost,
    ),
    chart(
      'Peak concurrency: observed and 3-month forecast',
      'ops',
      { name: 'observed', points: days.map((d) => [d.day, d.peakConcurrency]) },
      f.concurrency,
      (fit, x) => predictBusiestDay(fit, x),
      config.thresholds.concurrency,
    ),
  ];
}

function triggerRuleMd(c: ValidationConfig): string {
  return `A trigger is exceeded in a week when at least ${c.breach.minBreachHours} hourly points are strictly above its threshold; MIGRATE needs that in 2 or more consecutive weeks. "No data" means days were missing and nothing was exceeded — inconclusive, not a pass.`;
}

/** Renders the weekly checkpoint report (seed 000 "Weekly aggregated reports"). */
export function renderValidationWeeklyReport(input: WeeklyReportInput): RenderedReport {
  const weeks = sortedWeeks(input.weeks).filter((w) => w.week <= input.week);
  const c = input.config;
  const decision = input.decision ?? decide(weeks, c);
  const goal = evaluateWeekGoals(weeks, input.week, c, input.forecast);
  const w = weeks.find((x) => x.week === input.week);
  const title = `Validation period — week ${input.week} checkpoint`;
  const md: string[] = [
    `# ${title}`,
    '',
    contextMd(input),
    '',
    incompleteNotice(weeks, decision),
    '## Checkpoint',
    '',
    `Decision at this checkpoint: **${decision.decision}**${decision.provisional ? ` (if decided now: **${decision.provisional}**)` : ''}`,
    '',
    ...decision.reasons.map((r) => `- ${sanitizeText(r)}`),
    '',
    '## Migration triggers (hourly points)',
    '',
    triggersTableMd(decision.triggersTable),
    '',
    triggerRuleMd(c),
    '',
    '## Stability week over week',
    '',
    stabilityMd(decision.stability),
    '',
    `## Goal of the week`,
    '',
    goalMd(goal),
    '',
  ];
  if (w) {
    const cats = Object.entries(w.errorRateByCategory).filter(([, v]) => v !== null);
    md.push(
      `## Week ${w.week} details`,
      '',
      mdTable(
        ['Quantity', 'Value'],
        [
          ['Operations', num(w.operations, 0)],
          ['Cost per operation', usd(w.costPerOp)],
          ['P50 / P95 / P99 (median of days)', `${secs(w.p50Seconds)} / ${secs(w.p95Seconds)} / ${secs(w.p99Seconds)}`],
          ['Error rate', pct(w.errorRate)],
          [
            'Peak concurrency',
            `${num(w.peakConcurrency)}${w.peakConcurrencyHourOfDay === null ? '' : ` (hour ${w.peakConcurrencyHourOfDay} of the day)`}`,
          ],
          ['Throughput (mean / peak)', `${num(w.throughputOpsPerMin)} / ${num(w.peakThroughputOpsPerMin)} ops/min`],
          ['Monthly cost (projected from the week)', usd(w.monthlyCostProjected)],
          ['Pool / cache hit ratio', pct(w.poolHitRatio, 1)],
          ['Rate-limit headroom (lowest)', pct(w.rateLimitHeadroomMin, 1)],
          ['Rate-limited operations', num(w.rateLimitedOperations, 0)],
          ['Transient recovery (mean / P95)', `${secs(w.recoveryMeanSeconds)} / ${secs(w.recoveryP95Seconds)}`],
          [
            'Cascades (consecutive hours above the error trigger)',
            w.cascades.length === 0
              ? 'none'
              : w.cascades.map((x) => `${x.hours} h from ${dateTime(x.start)}`).join('; '),
          ],
        ],
        ['l', 'r'],
      ),
      '',
      '### Errors by category (share of operations)',
      '',
      cats.length
        ? mdTable(
            ['Category', 'Rate'],
            cats.map(([k, v]) => [k, pct(v)]),
            ['l', 'r'],
          )
        : '*No error data.*',
      '',
      '### Operation distribution',
      '',
      w.operationDistribution
        ? mdTable(
            ['Operation', 'Share'],
            Object.entries(w.operationDistribution)
              .sort((a, b) => b[1] - a[1])
              .map(([k, v]) => [sanitizeText(k), pct(v, 1)]),
            ['l', 'r'],
          )
        : '*No operations.*',
      '',
    );
  }
  md.push('## Daily values', '', dailyTableMd(weeks.filter((x) => x.week === input.week)), '', notesMd(input.notes));
  const data = sanitizeData({
    kind: 'validation-weekly',
    runId: input.runId ?? null,
    week: input.week,
    decision: {
      decision: decision.decision,
      provisional: decision.provisional ?? null,
      reasons: decision.reasons,
      incomplete: decision.incomplete,
    },
    triggersTable: decision.triggersTable,
    stability: decision.stability,
    goal,
    summary: w ?? null,
    backtest: input.backtest ?? null,
    notes: input.notes ?? [],
  });
  return { title, markdown: md.join('\n'), charts: dailyCharts(weeks, c), data };
}

const NEXT_STEPS: Record<string, string[]> = {
  STAY: [
    'Document optimisation opportunities.',
    'Schedule a quarterly re-evaluation.',
    'Close the migration and rollout phases as not needed.',
  ],
  MIGRATE: [
    'Proceed to migration planning (approach 2).',
    'Prepare the canary rollout (shadow → 10% → 50% → 100%).',
    'Allocate the team for a 2–3 week migration.',
  ],
  EXTEND: [
    'Document the reasons for the extension (above).',
    `Set the new decision deadline.`,
    'Adjust the monitoring focus to the gaps listed.',
  ],
  CONTINUE: ['Keep observing; the next checkpoint is at the end of the coming week.'],
};

/** Renders the final migration readiness report (seed 000 "Week 4 Summary: Migration readiness report"). */
export function renderValidationFinalReport(input: FinalReportInput): RenderedReport {
  const weeks = sortedWeeks(input.weeks);
  const c = input.config;
  const d = input.decision;
  const goals = goalsChecklist(weeks, c, input.forecast);
  const final = input.override ? input.override.decision : d.decision;
  const title = 'Migration readiness report';
  const md: string[] = [
    `# ${title}`,
    '',
    contextMd(input),
    '',
    `## Decision: **${sanitizeText(final)}**`,
    '',
    `Decided at week ${d.week}${d.forced ? ' (forced: decided with the data available)' : ''}.`,
    '',
    incompleteNotice(weeks, d),
  ];
  if (input.override) {
    md.push(
      `> **Overridden by an operator**${input.override.by ? ` (${sanitizeText(input.override.by)})` : ''}: the rules decided **${d.decision}**; reason: ${sanitizeText(input.override.reason).replace(/\r?\n/g, ' ')}`,
      '',
    );
  }
  md.push(
    '## Reasons',
    '',
    ...d.reasons.map((r) => `- ${sanitizeText(r)}`),
    '',
    '## Migration triggers',
    '',
    triggersTableMd(d.triggersTable),
    '',
    triggerRuleMd(c),
    '',
    `## Stability${d.stability ? ` (week ${d.stability.previousWeek} → ${d.stability.currentWeek})` : ''}`,
    '',
    stabilityMd(d.stability),
    '',
    '## 3-month forecast',
    '',
    forecastMd(input.forecast, c),
    '',
    '## Goals checklist',
    '',
    ...goals.flatMap((g) => [goalMd(g), '']),
    '## Weekly summary',
    '',
    weekOverviewMd(weeks),
    '',
    '## Next steps',
    '',
    ...(NEXT_STEPS[final] ?? []).map((s, i) => `${i + 1}. ${s}`),
    '',
    notesMd(input.notes),
  );
  const data = sanitizeData({
    kind: 'validation-final',
    runId: input.runId ?? null,
    decision: final,
    ruleDecision: d.decision,
    override: input.override ?? null,
    reasons: d.reasons,
    incomplete: d.incomplete,
    forced: d.forced,
    week: d.week,
    triggersTable: d.triggersTable,
    stability: d.stability,
    forecast: input.forecast ?? null,
    goals,
    weeks: weeks.map((w) => ({ ...w })),
    backtest: input.backtest ?? null,
    notes: input.notes ?? [],
  });
  return {
    title,
    markdown: md.join('\n'),
    charts: [...dailyCharts(weeks, c), ...forecastCharts(weeks, input.forecast, c)],
    data,
  };
}
