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
 *     this rollout measured is the baseline, and the result says so. With the latency floor
 *     ({@link EvaluateOptions.latencyFloor}), a P95 over fewer than `minLatencyOperations`
 *     operations is no measurement: approach 1's few calls right after the cutover (a clean-clone
 *     smoke run saw a P95 of 0.90 s over a handful of them, 4.39× against approach 2) are judged
 *     against the carried baseline instead, or, with none yet, are "too few to judge" — like too
 *     few approach-2 operations, neither a breach nor a pass that resets a streak.
 *   - consistency: 1 − gitops_reconciliation_divergence_ratio below 99.99%.
 *
 * {@link nextState} turns analyses into actions: a trigger that breaches in N consecutive
 * analyses (default 2) rolls back; any `nodata` makes the analysis inconclusive, which pauses the
 * rollout with the reason — no data never counts as a pass. A `nodata` neither extends nor resets
 * a breach streak: it says nothing about the trigger, and resetting on it would let a flapping
 * scrape hide a real regression.
 */

/**
 * A number read from Prometheus, or an explicit "no data" with why. JSON-safe (no ±Infinity).
 * `failed` marks no data because the query itself failed (Prometheus down, a bad query, a
 * timeout), as opposed to Prometheus answering with nothing (too little traffic in the window).
 */
export type Reading = { kind: 'value'; value: number } | { kind: 'nodata'; reason: string; failed?: boolean };

export interface AnalysisValues {
  /** approach-2 failed operations / approach-2 operations, conflicts excluded (fraction) */
  errorRate: Reading;
  /** approach-2 operations in the window */
  operations: Reading;
  p95PooledSeconds: Reading;
  p95SimpleSeconds: Reading;
  /**
   * approach-1 operations in the window (the latency floor). Absent from answers of workers that
   * predate the query, or empty (a query override pointing at another service's metrics left
   * this one at its default): the count is unknown and approach 1's P95 is judged as before
   */
  operationsSimple?: Reading;
  /** 1 − divergence ratio (fraction) */
  consistency: Reading;
}

export interface CanaryThresholds {
  /** approach-2 error rate strictly above this breaches (seed 002: 5%) */
  errorRate: number;
  /** fewer approach-2 operations than this in the window cannot breach (monitoring/alerts.yml: 20) */
  minOperations: number;
  /**
   * fewer operations than this on either approach in the window and its P95 is too few to judge
   * (seed 002 names no floor: 20, as minOperations and monitoring/alerts.yml)
   */
  minLatencyOperations: number;
  /** approach-2 P95 strictly above this multiple of approach-1 P95 breaches (seed 002: 2×) */
  p95Ratio: number;
  /** consistency strictly below this breaches (seed 002: 99.99%) */
  consistency: number;
}

export const DEFAULT_THRESHOLDS: CanaryThresholds = {
  errorRate: 0.05,
  minOperations: 20,
  minLatencyOperations: 20,
  p95Ratio: 2,
  consistency: 0.9999,
};

export const TRIGGERS = ['error_rate', 'p95_latency', 'consistency'] as const;
export type TriggerName = (typeof TRIGGERS)[number];
/**
 * `insufficient`: Prometheus answered, but the window held too little approach-2 traffic to judge
 * ("not enough data yet"; only with {@link EvaluateOptions.insufficient}). `nodata`: the query
 * failed, or (without that option) any missing value.
 */
export type TriggerStatus = 'ok' | 'breach' | 'nodata' | 'insufficient';

export interface TriggerResult {
  trigger: TriggerName;
  status: TriggerStatus;
  /** the judged value (error rate, P95 ratio, consistency); null without data */
  value: number | null;
  threshold: number;
  detail: string;
}

export type AnalysisStatus = 'ok' | 'breach' | 'inconclusive' | 'insufficient';

export interface AnalysisVerdict {
  status: AnalysisStatus;
  triggers: TriggerResult[];
}

/**
 * What a stage does (seed 002 step 6, "Create Migration Timeline"):
 *   - shadow: approach 1 serves everyone; approach 2 runs the same operations beside it read-only
 *     (reads compared, its copy kept by mirrored local edits, pushes as dry-runs) — the stage's
 *     `percent` is the share the plan names for it, the flags serve 0 % from approach 2;
 *   - dual_write: `percent` of agents served by approach 2, both systems active (every workspace
 *     written on both sides, reconciliation compares them);
 *   - cutover: 100 % on approach 2, approach 1 the hot backup (its copies kept written and ready,
 *     so a kill switch lands on a warm path);
 *   - decommission: approach 1 turned off; entered only once the hot-backup period (the
 *     dual_write and cutover stages) was stable (lib/canary/stability.ts).
 */
export const STAGE_MODES = ['shadow', 'dual_write', 'cutover', 'decommission'] as const;
export type StageMode = (typeof STAGE_MODES)[number];

/** One stage of a rollout. `operations` omitted = every flag. */
export interface CanaryStage {
  name: string;
  /** share of agents (sticky buckets) the stage moves to approach 2 (served, or shadowed in `shadow` mode) */
  percent: number;
  /** run the other approach beside the serving one (shadow compare, dual-write, hot backup) */
  shadow: boolean;
  /** how long the stage is held (analysed) before it may advance; paused time does not count */
  holdSeconds: number;
  /** flag names (`git.push` …) this stage sets; omitted = every flag */
  operations?: string[];
  /**
   * The share of agents (sticky buckets, 0..100) whose calls get the shadow run while shadow is on;
   * omitted = `percent` in shadow mode (the seed's shadow week: 10 %), every agent otherwise.
   */
  shadowPercent?: number;
  /** what the stage does; omitted = derived from percent and shadow ({@link stageMode}) */
  mode?: StageMode;
}

/**
 * A stage's mode: the configured one, or — for plans written before stages had modes — derived
 * from its flags: shadow at 0 % is `shadow`, shadow below 100 % `dual_write`, shadow at 100 %
 * `cutover`, 100 % without shadow `decommission`; anything else (a plain percentage without
 * shadow) has no mode and is judged by the rollback triggers alone.
 */
export function stageMode(stage: Pick<CanaryStage, 'percent' | 'shadow' | 'mode'>): StageMode | null {
  if (stage.mode !== undefined) return stage.mode;
  if (stage.shadow) return stage.percent === 0 ? 'shadow' : stage.percent < 100 ? 'dual_write' : 'cutover';
  return stage.percent >= 100 ? 'decommission' : null;
}

/**
 * The flag values a stage writes. Shadow mode serves nobody from approach 2 (percent 0) and
 * shadows its share of agents (`shadowPercent`, else `percent` — the seed's "10 % of traffic to
 * approach 2 read-only" — or every agent for a shadow stage at 0 %); dual_write and cutover keep the other approach beside the serving one
 * for every agent (shadow on, share 100, unless the stage names a share); decommission turns it
 * off. A stage without a mode writes its percent and shadow as given.
 */
export function stageFlags(stage: CanaryStage): { percent: number; shadow: boolean; shadowPercent: number } {
  const on = (share: number) => ({ shadow: share > 0, shadowPercent: share });
  switch (stageMode(stage)) {
    case 'shadow':
      // a shadow stage at 0 % (plans written before the share) shadows every agent, as it did
      return { percent: 0, ...on(stage.shadowPercent ?? (stage.percent > 0 ? stage.percent : 100)) };
    case 'dual_write':
      return { percent: stage.percent, ...on(stage.shadowPercent ?? 100) };
    case 'cutover':
      return { percent: 100, ...on(stage.shadowPercent ?? 100) };
    case 'decommission':
      return { percent: 100, shadow: false, shadowPercent: 0 };
    default:
      return { percent: stage.percent, ...on(stage.shadow ? (stage.shadowPercent ?? 100) : 0) };
  }
}

/** The stages whose stability decommission waits for: approach 1 as the hot backup (seed 002 "2 weeks stable"). */
export const HOT_BACKUP_MODES: readonly StageMode[] = ['dual_write', 'cutover'];

const DAY = 86_400;
const WEEK = 7 * DAY;

/**
 * Seed 002 step 6 (with seed 004 step 10's 10 → 50 → 100): week 1 shadow, 10 % of traffic to
 * approach 2 read-only; week 2 dual-write at 50 %, both systems active; week 3 cutover, 100 % on
 * approach 2 with approach 1 as hot backup; week 4 decommission approach 1 — reached only by an
 * explicit go (or autoAdvance) once the dual-write and cutover weeks were stable (the seed's
 * "decommission after 2 weeks stable"). Decommission is held 0 s: it is the last step.
 */
export const DEFAULT_STAGES: CanaryStage[] = [
  { name: 'shadow', mode: 'shadow', percent: 10, shadow: true, shadowPercent: 10, holdSeconds: WEEK },
  { name: 'dual-write', mode: 'dual_write', percent: 50, shadow: true, holdSeconds: WEEK },
  { name: 'cutover', mode: 'cutover', percent: 100, shadow: true, holdSeconds: WEEK },
  { name: 'decommission', mode: 'decommission', percent: 100, shadow: false, holdSeconds: 0 },
];

/** monitoring/prometheus.yml.tmpl scrapes the processes every 5 s. */
export const DEFAULT_SCRAPE_INTERVAL_SECONDS = 5;
/** Analyses without enough approach-2 traffic widen the window for this long before the rollout pauses. */
export const DEFAULT_INSUFFICIENT_DATA_PAUSE_SECONDS = 1_800;

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

export interface EvaluateOptions {
  /** the last approach-1 P95 this rollout measured, used only when approach 1 has no data in this window */
  baselineP95Seconds?: number | null;
  /**
   * Tell "not enough data yet" from a failure (issue 10 item 2): too few approach-2 operations, or
   * an empty answer from Prometheus, is `insufficient` instead of passing (too few) or pausing
   * (empty). Off for runs recorded before this rule (replay).
   */
  insufficient?: boolean;
  /**
   * The latency floor: a P95 over fewer than `minLatencyOperations` operations is too few to
   * judge — approach 2's makes the trigger "too few to judge", approach 1's is replaced by the
   * carried baseline (too few to judge without one). Off for runs recorded before it (replay:
   * the workflow's `patched('canary-latency-floor')`).
   */
  latencyFloor?: boolean;
}

/**
 * With the latency floor, approach 1's operation count in the window when it is known and below
 * `minLatencyOperations` (its P95 then rests on too few calls); null otherwise — no floor, enough
 * calls, or a count not known (not read, or not answered).
 */
function approach1FewCalls(
  values: AnalysisValues,
  thresholds: Pick<CanaryThresholds, 'minLatencyOperations'>,
  latencyFloor: boolean,
): number | null {
  const n = values.operationsSimple;
  return latencyFloor && n?.kind === 'value' && n.value < thresholds.minLatencyOperations ? n.value : null;
}

/**
 * Approach 1's P95 in this window when it can be a latency baseline: measured, and — with the
 * latency floor — not over fewer than `minLatencyOperations` operations. Null otherwise.
 */
export function approach1P95(
  values: AnalysisValues,
  thresholds: Pick<CanaryThresholds, 'minLatencyOperations'>,
  latencyFloor: boolean,
): number | null {
  const s = values.p95SimpleSeconds;
  if (s.kind !== 'value' || approach1FewCalls(values, thresholds, latencyFloor) !== null) return null;
  return s.value;
}

function noData(
  trigger: TriggerName,
  threshold: number,
  what: string,
  r: Extract<Reading, { kind: 'nodata' }>,
  o: EvaluateOptions,
): TriggerResult {
  const status: TriggerStatus = o.insufficient && r.failed !== true ? 'insufficient' : 'nodata';
  const detail =
    status === 'insufficient' ? `not enough data yet for ${what} (${r.reason})` : `no data for ${what} (${r.reason})`;
  return { trigger, status, value: null, threshold, detail };
}

/**
 * Judges one analysis. `baselineP95Seconds` is the last approach-1 P95 this rollout measured,
 * used only when approach 1 has no data in this window.
 */
export function evaluateAnalysis(
  values: AnalysisValues,
  thresholds: CanaryThresholds,
  opts: EvaluateOptions = {},
): AnalysisVerdict {
  const triggers: TriggerResult[] = [];
  const ops = values.operations;
  const tooFew =
    ops.kind === 'value' && ops.value < thresholds.minOperations
      ? `${num(ops.value)} approach-2 operations < ${thresholds.minOperations}: too few to judge`
      : null;
  // with `insufficient`, a window with too few operations says nothing yet (it neither passes nor breaches)
  const fewStatus: TriggerStatus = opts.insufficient ? 'insufficient' : 'ok';
  const fewDetail = (d: string): string => (opts.insufficient ? `not enough data yet: ${d}` : d);

  // error rate
  {
    const t = thresholds.errorRate;
    const r = values.errorRate;
    if (r.kind === 'nodata' && !opts.insufficient)
      triggers.push(noData('error_rate', t, 'approach-2 error rate', r, opts));
    else if (ops.kind === 'nodata') triggers.push(noData('error_rate', t, 'approach-2 operation count', ops, opts));
    else if (tooFew)
      triggers.push({
        trigger: 'error_rate',
        status: fewStatus,
        value: r.kind === 'value' ? r.value : null,
        threshold: t,
        detail: fewDetail(tooFew),
      });
    else if (r.kind === 'nodata') triggers.push(noData('error_rate', t, 'approach-2 error rate', r, opts));
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
    const floor = opts.latencyFloor === true;
    const minLat = thresholds.minLatencyOperations;
    // the latency floor: approach 2's P95 over too few operations is too few to judge
    const tooFewPooled =
      floor && !tooFew && ops.kind === 'value' && ops.value < minLat
        ? `${num(ops.value)} approach-2 operations < ${minLat}: too few to judge its P95`
        : null;
    // ... and approach 1's is no baseline: the carried one judges, or nothing does
    const opsSimple = values.operationsSimple;
    const few1 = approach1FewCalls(values, thresholds, floor);
    const tooFewSimple =
      few1 !== null && s.kind === 'value'
        ? `${num(few1)} approach-1 operations < ${minLat}: too few to judge (approach-1 P95 ${num(s.value)} s)`
        : null;
    let base: { seconds: number; carried: boolean } | null = null;
    const own = approach1P95(values, thresholds, floor);
    if (own !== null) base = { seconds: own, carried: false };
    else if (opts.baselineP95Seconds !== undefined && opts.baselineP95Seconds !== null)
      base = { seconds: opts.baselineP95Seconds, carried: true };
    if (opts.insufficient && ops.kind === 'nodata')
      triggers.push(noData('p95_latency', t, 'approach-2 operation count', ops, opts));
    else if (opts.insufficient && tooFew)
      triggers.push({
        trigger: 'p95_latency',
        status: fewStatus,
        value: null,
        threshold: t,
        detail: fewDetail(tooFew),
      });
    else if (tooFewPooled)
      triggers.push({
        trigger: 'p95_latency',
        status: fewStatus,
        value: null,
        threshold: t,
        detail: fewDetail(tooFewPooled),
      });
    else if (p.kind === 'nodata') triggers.push(noData('p95_latency', t, 'approach-2 P95', p, opts));
    else if (floor && s.kind === 'value' && opsSimple?.kind === 'nodata' && opsSimple.failed === true)
      // the count query failed (Prometheus refused or timed out): as any failed query, no data
      triggers.push(noData('p95_latency', t, 'approach-1 operation count', opsSimple, opts));
    else if (base === null && tooFewSimple)
      triggers.push({
        trigger: 'p95_latency',
        status: fewStatus,
        value: null,
        threshold: t,
        detail: fewDetail(`${tooFewSimple}, and no approach-1 baseline yet`),
      });
    else if (base === null)
      triggers.push(
        noData('p95_latency', t, 'approach-1 P95 (no baseline yet)', s as Extract<Reading, { kind: 'nodata' }>, opts),
      );
    else if (ops.kind === 'nodata') triggers.push(noData('p95_latency', t, 'approach-2 operation count', ops, opts));
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
          detail: `${tooFewSimple ? `${tooFewSimple}; ` : ''}approach-2 P95 ${num(p.value)} s is ${num(ratio)}× ${from} ${num(base.seconds)} s (${breach ? '>' : '≤'} ${num(t)}×)`,
        });
      }
    }
  }

  // consistency from reconciliation
  {
    const t = thresholds.consistency;
    const c = values.consistency;
    if (c.kind === 'nodata') triggers.push(noData('consistency', t, 'dual-write consistency', c, opts));
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
      : triggers.some((x) => x.status === 'insufficient')
        ? 'insufficient'
        : 'ok';
  return { status, triggers };
}

/** Consecutive breaching analyses per trigger. */
export type BreachStreaks = Record<TriggerName, number>;

export const NO_STREAKS: BreachStreaks = { error_rate: 0, p95_latency: 0, consistency: 0 };

export type NextAction =
  | { action: 'continue'; streaks: BreachStreaks }
  | { action: 'rollback'; streaks: BreachStreaks; trigger: TriggerName; reason: string }
  | { action: 'pause'; streaks: BreachStreaks; reason: string }
  | { action: 'widen'; streaks: BreachStreaks; reason: string };

/**
 * What the rollout does after an analysis: roll back when a trigger has breached in
 * `consecutive` analyses in a row, pause when the analysis was inconclusive (a query failed),
 * widen the next window when it had not enough data yet — pausing only once data has stayed
 * short for `insufficientFor.pauseAfterMs` — else continue. A rollback wins over a pause: a
 * breach confirmed twice matters more than another trigger's missing data.
 */
export function nextState(
  prev: BreachStreaks,
  verdict: AnalysisVerdict,
  consecutive: number,
  insufficientFor?: { ms: number; pauseAfterMs: number },
): NextAction {
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
  const short = verdict.triggers.filter((t) => t.status === 'insufficient');
  if (short.length > 0) {
    const what = short.map((t) => `${t.trigger}: ${t.detail}`).join('; ');
    if (insufficientFor !== undefined && insufficientFor.ms >= insufficientFor.pauseAfterMs)
      return {
        action: 'pause',
        streaks,
        reason: `not enough data for ${Math.round(insufficientFor.ms / 1000)} s (canary.insufficientDataPauseSeconds ${Math.round(insufficientFor.pauseAfterMs / 1000)} s): ${what}`,
      };
    return { action: 'widen', streaks, reason: `not enough data yet: ${what}` };
  }
  return { action: 'continue', streaks };
}
