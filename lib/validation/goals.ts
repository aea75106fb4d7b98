/**
 * The weekly goals of seed 000 (week 1 baseline stability, week 2 load patterns, week 3 failure
 * modes, week 4 readiness; weeks 5–6 repeat the pattern and failure analysis). Pure. Goals are
 * the checkpoint's checklist; the decision itself rests on triggers and stability (decide.ts).
 * A check without data is `no_data`, never `met`.
 */
import type { ValidationConfig } from '../config/validation.js';
import { buildTriggersTable, sustainedBreaches, fmtThreshold } from './decide.js';
import { usableFit, type Forecast } from './forecast.js';
import type { SeriesFit } from './trend.js';
import { median } from './summary.js';
import { TRIGGERS } from './triggers.js';
import type { TriggerName, WeekSummary } from './types.js';

export type GoalStatus = 'met' | 'not_met' | 'no_data';
export type GoalKind = 'baseline' | 'load' | 'failures' | 'readiness' | 'extended';

export interface GoalCheck {
  id: string;
  label: string;
  status: GoalStatus;
  detail: string;
}

export interface GoalResult {
  week: number;
  kind: GoalKind;
  title: string;
  checks: GoalCheck[];
  /** true: all met; false: any not met; null: none failed but some had no data */
  met: boolean | null;
}

const pct = (x: number, digits = 1): string => `${(x * 100).toFixed(digits)}%`;
const usd = (x: number): string => `$${x < 1 ? x.toFixed(4) : x.toFixed(2)}`;

/** Goal kind of a week: 1 baseline, 2 load, 3 failures, 4 readiness, 5+ extended. */
export function goalKindOfWeek(week: number): GoalKind {
  return week <= 1 ? 'baseline' : week === 2 ? 'load' : week === 3 ? 'failures' : week === 4 ? 'readiness' : 'extended';
}

const TITLES: Record<GoalKind, string> = {
  baseline: 'Baseline stability',
  load: 'Load pattern analysis',
  failures: 'Failure mode assessment',
  readiness: 'Migration readiness',
  extended: 'Extended validation: pattern and failure analysis repeated',
};

/** Every daily value within ±band of the values' median (needs 2+ days). */
function withinBandOfMedian(
  id: string,
  label: string,
  values: (number | null)[],
  band: number,
  fmt: (x: number) => string,
): GoalCheck {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x));
  if (v.length < 2) return { id, label, status: 'no_data', detail: `${v.length} day(s) with data; need 2` };
  const m = median(v) as number;
  const dev =
    m === 0 ? (v.every((x) => x === 0) ? 0 : Number.POSITIVE_INFINITY) : Math.max(...v.map((x) => Math.abs(x / m - 1)));
  const ok = dev <= band + 1e-9;
  return {
    id,
    label,
    status: ok ? 'met' : 'not_met',
    detail: `daily ${fmt(Math.min(...v))}–${fmt(Math.max(...v))}, median ${fmt(m)}, largest deviation ${Number.isFinite(dev) ? pct(dev) : '∞'} (band ±${pct(band, 0)})`,
  };
}

function baselineChecks(w: WeekSummary, c: ValidationConfig): GoalCheck[] {
  const complete = w.days.filter((d) => d.complete);
  const latency = (['p50Seconds', 'p95Seconds', 'p99Seconds'] as const).map((k) =>
    withinBandOfMedian(
      k,
      k,
      complete.map((d) => d[k]),
      c.stability.p95Relative,
      (x) => `${x.toFixed(3)} s`,
    ),
  );
  const latStatus = latency.some((l) => l.status === 'not_met')
    ? 'not_met'
    : latency.some((l) => l.status === 'no_data')
      ? 'no_data'
      : 'met';
  let exhaustion: GoalCheck;
  if (w.rateLimitedOperations === null) {
    exhaustion = {
      id: 'no-exhaustion',
      label: 'No resource exhaustion events',
      status: 'no_data',
      detail: 'no operation counts',
    };
  } else {
    const exhausted = w.rateLimitedOperations > 0 || (w.rateLimitHeadroomMin !== null && w.rateLimitHeadroomMin <= 0);
    exhaustion = {
      id: 'no-exhaustion',
      label: 'No resource exhaustion events',
      status: exhausted ? 'not_met' : 'met',
      detail: `${Math.round(w.rateLimitedOperations)} rate-limited operation(s); lowest headroom ${w.rateLimitHeadroomMin === null ? 'n/a' : pct(w.rateLimitHeadroomMin)}`,
    };
  }
  return [
    withinBandOfMedian(
      'cost-stable',
      `Cost per operation stable (±${pct(c.stability.costPerOpRelative, 0)})`,
      complete.map((d) => d.costPerOp),
      c.stability.costPerOpRelative,
      usd,
    ),
    {
      id: 'latency-stable',
      label: `P50/P95/P99 latencies stable (±${pct(c.stability.p95Relative, 0)})`,
      status: latStatus,
      detail: latency.map((l) => `${l.id.replace('Seconds', '').toUpperCase()}: ${l.detail}`).join('; '),
    },
    w.errorRate === null
      ? {
          id: 'error-rate',
          label: `Error rate < ${pct(c.goals.errorRateMax, 0)}`,
          status: 'no_data',
          detail: 'no operations',
        }
      : {
          id: 'error-rate',
          label: `Error rate < ${pct(c.goals.errorRateMax, 0)}`,
          status: w.errorRate < c.goals.errorRateMax ? 'met' : 'not_met',
          detail: `error rate ${pct(w.errorRate, 2)}`,
        },
    exhaustion,
  ];
}

function loadChecks(w: WeekSummary, c: ValidationConfig): GoalCheck[] {
  const dist = w.operationDistribution;
  return [
    w.peakConcurrency === null
      ? {
          id: 'peak-concurrency',
          label: 'Peak concurrency identified',
          status: 'no_data',
          detail: 'no concurrency data',
        }
      : {
          id: 'peak-concurrency',
          label: 'Peak concurrency identified',
          status: 'met',
          detail: `peak ${w.peakConcurrency} simultaneous operations${w.peakConcurrencyHourOfDay === null ? '' : ` in hour ${w.peakConcurrencyHourOfDay} of the day`}`,
        },
    dist === null || Object.keys(dist).length === 0
      ? { id: 'distribution', label: 'Operation distribution mapped', status: 'no_data', detail: 'no operations' }
      : {
          id: 'distribution',
          label: 'Operation distribution mapped',
          status: 'met',
          detail: Object.entries(dist)
            .sort((a, b) => b[1] - a[1])
            .map(([op, s]) => `${op} ${pct(s)}`)
            .join(', '),
        },
    w.rateLimitHeadroomMin === null
      ? {
          id: 'headroom',
          label: `E2B rate-limit headroom > ${pct(c.goals.headroomMin, 0)}`,
          status: 'no_data',
          detail: 'no sandbox gauges',
        }
      : {
          id: 'headroom',
          label: `E2B rate-limit headroom > ${pct(c.goals.headroomMin, 0)}`,
          status: w.rateLimitHeadroomMin > c.goals.headroomMin ? 'met' : 'not_met',
          detail: `lowest headroom ${pct(w.rateLimitHeadroomMin)}`,
        },
    w.poolHitRatio === null
      ? {
          id: 'cache-hit',
          label: 'Cache hit ratio baseline established',
          status: 'no_data',
          detail: 'no pool acquisitions recorded (sandboxes not reused)',
        }
      : {
          id: 'cache-hit',
          label: 'Cache hit ratio baseline established',
          status: 'met',
          detail: `hit ratio ${pct(w.poolHitRatio)}`,
        },
  ];
}

function failureChecks(w: WeekSummary, c: ValidationConfig): GoalCheck[] {
  const checks: GoalCheck[] = [];
  if (w.errorRate === null) {
    checks.push({ id: 'categorised', label: 'All failures categorised', status: 'no_data', detail: 'no operations' });
  } else if (w.errorRate === 0) {
    checks.push({ id: 'categorised', label: 'All failures categorised', status: 'met', detail: 'no failures' });
  } else {
    const other = w.errorRateByCategory.other ?? 0;
    const share = other / w.errorRate;
    // client errors are the agents' own, outside the error rate: not a category of its failures
    const parts = Object.entries(w.errorRateByCategory)
      .filter(([k, v]) => k !== 'client' && v !== null && v > 0)
      .map(([k, v]) => `${k} ${pct((v as number) / (w.errorRate as number))}`);
    checks.push({
      id: 'categorised',
      label: 'All failures categorised',
      status: share <= c.goals.uncategorizedErrorShareMax + 1e-9 ? 'met' : 'not_met',
      detail: `${parts.join(', ') || 'no category data'}; uncategorised ${pct(share)}`,
    });
  }
  if (w.recoveryMeanSeconds !== null) {
    checks.push({
      id: 'recovery',
      label: 'Transient failure recovery time measured',
      status: 'met',
      detail: `mean ${w.recoveryMeanSeconds.toFixed(1)} s${w.recoveryP95Seconds === null ? '' : `, P95 ${w.recoveryP95Seconds.toFixed(1)} s`}`,
    });
  } else if (w.errorRate === 0) {
    checks.push({
      id: 'recovery',
      label: 'Transient failure recovery time measured',
      status: 'met',
      detail: 'no failures to recover from',
    });
  } else {
    checks.push({
      id: 'recovery',
      label: 'Transient failure recovery time measured',
      status: 'no_data',
      detail: 'no recovery observations',
    });
  }
  const cascadeDetail =
    w.cascades.length === 0
      ? `none (no ${c.goals.cascadeMinHours}+ consecutive hours above ${pct(c.thresholds.errorRate, 0)} errors)`
      : w.cascades.map((x) => `${x.hours} h from t=${x.start} peaking at ${pct(x.peakErrorRate)}`).join('; ');
  checks.push({
    id: 'cascades',
    label: 'Cascade failures identified or ruled out',
    status: w.cascades.length > 0 || w.complete ? 'met' : 'no_data',
    detail:
      w.cascades.length > 0 || w.complete ? cascadeDetail : `cannot rule out: missing days ${w.missingDays.join(', ')}`,
  });
  const timeout = c.goals.operationTimeoutSeconds;
  checks.push(
    w.maxP99Seconds === null
      ? {
          id: 'timeouts',
          label: 'Timeout thresholds validated against observed latency',
          status: 'no_data',
          detail: 'no latency data',
        }
      : {
          id: 'timeouts',
          label: 'Timeout thresholds validated against observed latency',
          status: timeout >= c.goals.timeoutToP99MinRatio * w.maxP99Seconds ? 'met' : 'not_met',
          detail: `timeout ${timeout} s vs worst daily P99 ${w.maxP99Seconds.toFixed(2)} s (need ≥ ${c.goals.timeoutToP99MinRatio}×)`,
        },
  );
  return checks;
}

const GAP_HINT: Record<TriggerName, string> = {
  concurrency: 'concurrent pushes need a distributed lock and a sandbox pool',
  costPerOp: 'sandbox reuse (caching) would cut cost per operation',
  p95Latency: 'a warm pool would cut sandbox start latency',
  errorRate: 'retries with backoff and pull --rebase would absorb transient failures',
  monthlyCost: 'sandbox reuse (caching) would cut spend',
  throughput: 'rate limiting / queueing would protect the provider limit',
};

function readinessChecks(
  weeks: readonly WeekSummary[],
  w: WeekSummary,
  c: ValidationConfig,
  forecast: Forecast | null | undefined,
): GoalCheck[] {
  const checks: GoalCheck[] = [];
  const costFit = forecast && usableFit(forecast.cost) ? forecast.cost : null;
  const concFit = forecast && usableFit(forecast.concurrency) ? forecast.concurrency : null;
  if (!forecast || (costFit === null && concFit === null)) {
    const why =
      !forecast || (forecast.cost === null && forecast.concurrency === null)
        ? 'fewer than 2 complete days'
        : 'not enough history since the last lasting change';
    checks.push({
      id: 'trend',
      label: 'Trend analysis (cost trajectory, concurrency growth)',
      status: 'no_data',
      detail: why,
    });
    checks.push({
      id: 'forecast',
      label: 'Forecast of resource needs 3 months ahead',
      status: 'no_data',
      detail: forecast?.notes.length ? forecast.notes.join('; ') : 'no trend to project',
    });
  } else {
    const since = (fit: SeriesFit): string =>
      fit.changes.length ? ` since the lasting change on day ${fit.fromDay}` : '';
    const signed = (v: number, fmt: (x: number) => string, unit: string): string =>
      v === 0 ? 'flat' : `${v > 0 ? '+' : '−'}${fmt(Math.abs(v))}${unit}`;
    const cost = costFit
      ? `daily cost ${signed(costFit.slope, usd, '/day per day')}${since(costFit)}`
      : 'cost: not enough history';
    const conc = concFit
      ? `peak concurrency ${signed(concFit.slope, (x) => x.toFixed(3), '/day')}${since(concFit)}`
      : 'concurrency: not enough history';
    checks.push({
      id: 'trend',
      label: 'Trend analysis (cost trajectory, concurrency growth)',
      status: 'met',
      detail: `${cost}; ${conc}`,
    });
    checks.push({
      id: 'forecast',
      label: 'Forecast of resource needs 3 months ahead',
      status: 'met',
      detail:
        forecast.crossings.length > 0
          ? forecast.crossings.join('; ')
          : 'no trigger crossed within the forecast, not even at the top of the 80 % band',
    });
  }
  const upTo = weeks.filter((x) => x.week <= w.week);
  const table = buildTriggersTable(upTo, c);
  const sustained = sustainedBreaches(table);
  const anyNoData = table.rows.some((r) => r.cells.some((cell) => cell.status === 'no_data'));
  checks.push({
    id: 'threshold-check',
    label: 'Threshold check: any trigger exceeded for 2+ weeks?',
    status: anyNoData ? 'no_data' : 'met',
    detail:
      sustained.length === 0
        ? `no trigger sustained${anyNoData ? ' in the data available (some weeks lack data)' : ''}`
        : sustained.map((s) => `${TRIGGERS[s.trigger].label} in weeks ${s.weeks.join(', ')}`).join('; '),
  });
  const gaps = w.triggers
    .filter(
      (t) =>
        t.status === 'exceeded' || (t.p95OfHours !== null && t.p95OfHours >= c.goals.nearTriggerShare * t.threshold),
    )
    .map((t) => {
      const unit = TRIGGERS[t.trigger].unit;
      const where =
        t.status === 'exceeded'
          ? `exceeded in ${t.breachHours} h (max ${fmtValue(t.max as number, unit)})`
          : `at ${fmtValue(t.p95OfHours as number, unit)} (P95 of hours)`;
      return `${TRIGGERS[t.trigger].label} ${where} vs ${fmtThreshold(t.threshold, unit)}: ${GAP_HINT[t.trigger]}`;
    });
  const anyHours = w.triggers.some((t) => t.hoursWithData > 0);
  checks.push({
    id: 'gaps',
    label: 'Gap analysis (caching, retry, rate limiting)',
    status: anyHours ? 'met' : 'no_data',
    detail: !anyHours
      ? 'no hourly data'
      : gaps.length > 0
        ? gaps.join('; ')
        : `no metric within ${pct(1 - c.goals.nearTriggerShare, 0)} of its trigger`,
  });
  return checks;
}

function fmtValue(v: number, unit: string): string {
  switch (unit) {
    case '$':
      return usd(v);
    case '%':
      return pct(v, 2);
    case 's':
      return `${v.toFixed(2)} s`;
    default:
      return `${v.toFixed(1)} ${unit}`;
  }
}

function overall(checks: readonly GoalCheck[]): boolean | null {
  if (checks.some((c) => c.status === 'not_met')) return false;
  if (checks.some((c) => c.status === 'no_data')) return null;
  return true;
}

/**
 * Evaluates the goal of week `week` (1 baseline, 2 load, 3 failures, 4 readiness, 5+ load and
 * failures again) on that week's summary. `forecast` feeds the week-4 trend and forecast checks.
 * A week without a summary yields a result whose checks are all `no_data`.
 */
export function evaluateWeekGoals(
  weeks: readonly WeekSummary[],
  week: number,
  config: ValidationConfig,
  forecast?: Forecast | null,
): GoalResult {
  const kind = goalKindOfWeek(week);
  const w = weeks.find((x) => x.week === week);
  let checks: GoalCheck[];
  if (!w) {
    checks = [{ id: 'summary', label: `Week ${week} summary`, status: 'no_data', detail: 'no data for this week' }];
  } else {
    switch (kind) {
      case 'baseline':
        checks = baselineChecks(w, config);
        break;
      case 'load':
        checks = loadChecks(w, config);
        break;
      case 'failures':
        checks = failureChecks(w, config);
        break;
      case 'readiness':
        checks = readinessChecks(weeks, w, config, forecast);
        break;
      default:
        checks = [...loadChecks(w, config), ...failureChecks(w, config)];
    }
  }
  return { week, kind, title: `Week ${week}: ${TITLES[kind]}`, checks, met: overall(checks) };
}

/** The goals checklist of every week so far (for the readiness report). */
export function goalsChecklist(
  weeks: readonly WeekSummary[],
  config: ValidationConfig,
  forecast?: Forecast | null,
): GoalResult[] {
  const last = weeks.length === 0 ? 0 : Math.max(...weeks.map((w) => w.week));
  return Array.from({ length: last }, (_, i) => evaluateWeekGoals(weeks, i + 1, config, forecast));
}
