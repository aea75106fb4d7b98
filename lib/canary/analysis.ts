/**
 * Canary rollout plan and analysis rules (seed 002 "Define Rollback Triggers", seed 004 step 10).
 * Pure — no Node built-ins, no I/O — so canaryRolloutWorkflow imports it and test/unit pins it.
 *
 * One analysis reads five numbers over the same window (lib/canary/queries.ts) and judges three
 * triggers, each `ok`, `breach` or `nodata`:
 *   - error_rate: approach-2 failures / approach-2 operations (conflicts excluded, as in
 *     monitoring/alerts.yml) above 5%. Fewer than 20 approach-2 operations in the window cannot
 *     breach (same floor as the alert: one failure out of three must not roll anything back).
 *   - p95_latency: approach-2 P95 above 2× approach-1 P95 measured over the same window. When
 *     approach 1 has no traffic of its own in the window (100% stages), the last approach-1 P95
 *     this rollout measured is the baseline, and the result says so.
 *   - consistency: 1 − gitops_reconciliation_divergence_ratio below 99.99%.
 *
 * {@link nextState} turns analyses into actions: a trigger that breaches in N consecutive
 * analyses (default 2) rolls back; any `nodata` makes the analysis inconclusive, which pauses the
 * rollout with the reason — no data never counts as a pass. A `nodata` neither extends nor resets
 * a breach streak: it says nothing about the trigger, and resetting on it would let a flapping
 * scrape hide a real regression.
 */

/** A number read from Prometheus, or an explicit "no data" with why. JSON-safe (no ±Infinity). */
export type Reading = { kind: 'value'; value: number } | { kind: 'nodata'; reason: string };

export interface AnalysisValues {
  /** approach-2 failed operations / approach-2 operations, conflicts excluded (fraction) */
  errorRate: Reading;
  /** approach-2 operations in the window */
  operations: Reading;
  p95PooledSeconds: Reading;
  p95SimpleSeconds: Reading;
  /** 1 − divergence ratio (fraction) */
  consistency: Reading;
}

export interface CanaryThresholds {
  /** approach-2 error rate strictly above this breaches (seed 002: 5%) */
  errorRate: number;
  /** fewer approach-2 operations than this in the window cannot breach (monitoring/alerts.yml: 20) */
  minOperations: number;
  /** approach-2 P95 strictly above this multiple of approach-1 P95 breaches (seed 002: 2×) */
  p95Ratio: number;
  /** consistency strictly below this breaches (seed 002: 99.99%) */
  consistency: number;
}

export const DEFAULT_THRESHOLDS: CanaryThresholds = {
  errorRate: 0.05,
  minOperations: 20,
  p95Ratio: 2,
  consistency: 0.9999,
};

export const TRIGGERS = ['error_rate', 'p95_latency', 'consistency'] as const;
export type TriggerName = (typeof TRIGGERS)[number];
export type TriggerStatus = 'ok' | 'breach' | 'nodata';

export interface TriggerResult {
  trigger: TriggerName;
  status: TriggerStatus;
  /** the judged value (error rate, P95 ratio, consistency); null without data */
  value: number | null;
  threshold: number;
  detail: string;
}

export type AnalysisStatus = 'ok' | 'breach' | 'inconclusive';

export interface AnalysisVerdict {
  status: AnalysisStatus;
  triggers: TriggerResult[];
}

/** One stage of a rollout. `operations` omitted = every flag. */
export interface CanaryStage {
  name: string;
  /** share of agents (sticky buckets) sent to approach 2 */
  percent: number;
  /** run the other approach beside the serving one (shadow compare, dual-write, hot backup) */
  shadow: boolean;
  /** how long the stage is held (analysed) before it may advance; paused time does not count */
  holdSeconds: number;
  /** flag names (`git.push` …) this stage sets; omitted = every flag */
  operations?: string[];
}

const DAY = 86_400;

/**
 * Seed 004 step 10 and seed 002 step 6: week 1 shadow then 10%, week 2 50% with dual-write,
 * week 3 100% with approach 1 as the hot backup, then decommission. Week 1 starts with 2 days of
 * pure shadow (approach 2 compared, serving nobody) before 10% of agents move — the seed's
 * "shadow mode first". `shadow: true` on the 10/50/100% stages is what makes the router write
 * both approaches' records (dual-write) and keep approach 1 warm; decommission turns it off.
 * Decommission is held 0 s: it is the last step, reached only by an explicit go (or autoAdvance).
 */
export const DEFAULT_STAGES: CanaryStage[] = [
  { name: 'shadow', percent: 0, shadow: true, holdSeconds: 2 * DAY },
  { name: 'canary-10', percent: 10, shadow: true, holdSeconds: 5 * DAY },
  { name: 'dual-write-50', percent: 50, shadow: true, holdSeconds: 7 * DAY },
  { name: 'cutover-100', percent: 100, shadow: true, holdSeconds: 7 * DAY },
  { name: 'decommission', percent: 100, shadow: false, holdSeconds: 0 },
];

/** Issue 4: analysis every 5 minutes. */
export const DEFAULT_ANALYSIS_INTERVAL_SECONDS = 300;
/** Issue 4: a trigger must hold in 2 consecutive analyses to roll back. */
export const DEFAULT_CONSECUTIVE_BREACHES = 2;
/**
 * Analyses per workflow run before continue-as-new. One analysis costs about 11 history events
 * (timer started/fired, two workflow tasks of 3 events, activity scheduled/started/completed),
 * so 300 analyses ≈ 3,300 events — under the 4,096 at which the server suggests continuing as
 * new, far under the 10,240 warning. A 7-day stage at a 1-minute interval (10,080 analyses)
 * takes 34 runs; 3 weeks ≈ 101 runs. bench/canary-history.ts measures it.
 */
export const DEFAULT_MAX_ANALYSES_PER_RUN = 300;

function pct(x: number): string {
  return `${(x * 100).toFixed(x < 0.001 || x > 0.999 ? 3 : 1)}%`;
}

function num(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toPrecision(3);
}

function noData(
  trigger: TriggerName,
  threshold: number,
  what: string,
  r: Extract<Reading, { kind: 'nodata' }>,
): TriggerResult {
  return { trigger, status: 'nodata', value: null, threshold, detail: `no data for ${what} (${r.reason})` };
}

/**
 * Judges one analysis. `baselineP95Seconds` is the last approach-1 P95 this rollout measured,
 * used only when approach 1 has no data in this window.
 */
export function evaluateAnalysis(
  values: AnalysisValues,
  thresholds: CanaryThresholds,
  opts: { baselineP95Seconds?: number | null } = {},
): AnalysisVerdict {
  const triggers: TriggerResult[] = [];
  const ops = values.operations;
  const tooFew =
    ops.kind === 'value' && ops.value < thresholds.minOperations
      ? `${num(ops.value)} approach-2 operations < ${thresholds.minOperations}: too few to judge`
      : null;

  // error rate
  {
    const t = thresholds.errorRate;
    const r = values.errorRate;
    if (r.kind === 'nodata') triggers.push(noData('error_rate', t, 'approach-2 error rate', r));
    else if (ops.kind === 'nodata') triggers.push(noData('error_rate', t, 'approach-2 operation count', ops));
    else if (tooFew)
      triggers.push({ trigger: 'error_rate', status: 'ok', value: r.value, threshold: t, detail: tooFew });
    else {
      const breach = r.value > t;
      triggers.push({
        trigger: 'error_rate',
        status: breach ? 'breach' : 'ok',
        value: r.value,
        threshold: t,
        detail: `approach-2 error rate ${pct(r.value)} ${breach ? '>' : '≤'} ${pct(t)} over ${num(ops.value)} operations`,
      });
    }
  }

  // P95 against approach 1 over the same window (or the carried baseline)
  {
    const t = thresholds.p95Ratio;
    const p = values.p95PooledSeconds;
    const s = values.p95SimpleSeconds;
    let base: { seconds: number; carried: boolean } | null = null;
    if (s.kind === 'value') base = { seconds: s.value, carried: false };
    else if (opts.baselineP95Seconds !== undefined && opts.baselineP95Seconds !== null)
      base = { seconds: opts.baselineP95Seconds, carried: true };
    if (p.kind === 'nodata') triggers.push(noData('p95_latency', t, 'approach-2 P95', p));
    else if (base === null)
      triggers.push(
        noData('p95_latency', t, 'approach-1 P95 (no baseline yet)', s as Extract<Reading, { kind: 'nodata' }>),
      );
    else if (ops.kind === 'nodata') triggers.push(noData('p95_latency', t, 'approach-2 operation count', ops));
    else {
      const ratio = base.seconds > 0 ? p.value / base.seconds : p.value > 0 ? Number.MAX_VALUE : 1;
      const from = base.carried ? 'carried approach-1 baseline' : 'approach-1 P95';
      if (tooFew) triggers.push({ trigger: 'p95_latency', status: 'ok', value: ratio, threshold: t, detail: tooFew });
      else {
        const breach = ratio > t;
        triggers.push({
          trigger: 'p95_latency',
          status: breach ? 'breach' : 'ok',
          value: ratio,
          threshold: t,
          detail: `approach-2 P95 ${num(p.value)} s is ${num(ratio)}× ${from} ${num(base.seconds)} s (${breach ? '>' : '≤'} ${num(t)}×)`,
        });
      }
    }
  }

  // consistency from reconciliation
  {
    const t = thresholds.consistency;
    const c = values.consistency;
    if (c.kind === 'nodata') triggers.push(noData('consistency', t, 'dual-write consistency', c));
    else {
      const breach = c.value < t;
      triggers.push({
        trigger: 'consistency',
        status: breach ? 'breach' : 'ok',
        value: c.value,
        threshold: t,
        detail: `consistency ${pct(c.value)} ${breach ? '<' : '≥'} ${pct(t)}`,
      });
    }
  }

  const status: AnalysisStatus = triggers.some((x) => x.status === 'breach')
    ? 'breach'
    : triggers.some((x) => x.status === 'nodata')
      ? 'inconclusive'
      : 'ok';
  return { status, triggers };
}

/** Consecutive breaching analyses per trigger. */
export type BreachStreaks = Record<TriggerName, number>;

export const NO_STREAKS: BreachStreaks = { error_rate: 0, p95_latency: 0, consistency: 0 };

export type NextAction =
  | { action: 'continue'; streaks: BreachStreaks }
  | { action: 'rollback'; streaks: BreachStreaks; trigger: TriggerName; reason: string }
  | { action: 'pause'; streaks: BreachStreaks; reason: string };

/**
 * What the rollout does after an analysis: roll back when a trigger has breached in
 * `consecutive` analyses in a row, pause when the analysis was inconclusive, else continue.
 * A rollback wins over a pause: a breach confirmed twice matters more than another trigger's
 * missing data.
 */
export function nextState(prev: BreachStreaks, verdict: AnalysisVerdict, consecutive: number): NextAction {
  const streaks: BreachStreaks = { ...prev };
  for (const t of verdict.triggers) {
    if (t.status === 'breach') streaks[t.trigger] = (streaks[t.trigger] ?? 0) + 1;
    else if (t.status === 'ok') streaks[t.trigger] = 0;
  }
  const need = Math.max(1, consecutive);
  const fired = verdict.triggers.find((t) => t.status === 'breach' && streaks[t.trigger] >= need);
  if (fired) {
    return {
      action: 'rollback',
      streaks,
      trigger: fired.trigger,
      reason: `${fired.trigger} breached in ${streaks[fired.trigger]} consecutive analyses: ${fired.detail}`,
    };
  }
  const missing = verdict.triggers.filter((t) => t.status === 'nodata');
  if (missing.length > 0) {
    return {
      action: 'pause',
      streaks,
      reason: `inconclusive analysis: ${missing.map((t) => `${t.trigger}: ${t.detail}`).join('; ')}`,
    };
  }
  return { action: 'continue', streaks };
}
