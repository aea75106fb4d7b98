/**
 * "Stable" before decommission (seed 002: "Decommission Approach 1 after 2 weeks stable"; issue 10
 * item 2). Stable means, over the hot-backup period — the dual_write and cutover stages, while
 * approach 1 still ran beside approach 2:
 *   - seed 004's migration success criteria: approach-2 P90 push < 10 s, pool reuse > 80 %,
 *     approach-2 error rate < 1 %, each measured by Prometheus over the whole period;
 *   - seed 002's rollback triggers never breached in any analysis of the period.
 * Missing data is not stable: decommission waits until every criterion has a value. Pure, so the
 * workflow imports it and test/unit pins it.
 */
import type { Reading, TriggerName } from './analysis.js';

export interface StabilityThresholds {
  /** approach-2 P90 push strictly below this, seconds (seed 004: "Git push < 10 seconds (P90)") */
  p90PushSeconds: number;
  /** pool reuse strictly above this fraction (seed 004: "Pool reuse rate > 80%") */
  poolReuse: number;
  /** approach-2 error rate strictly below this fraction (seed 004: "Error rate < 1%") */
  errorRate: number;
}

export const DEFAULT_STABILITY: StabilityThresholds = { p90PushSeconds: 10, poolReuse: 0.8, errorRate: 0.01 };

/** The three readings over the hot-backup period (lib/canary/queries.ts `canary.stable.*`). */
export interface StabilityValues {
  p90PushSeconds: Reading;
  poolReuse: Reading;
  errorRate: Reading;
}

/** A rollback trigger that breached in an analysis of the hot-backup period. */
export interface HotBackupBreach {
  trigger: TriggerName;
  stage: string;
  /** ISO time of the analysis */
  at: string;
  detail: string;
}

/** One warmth probe of approach 1 (lib/service/hot-backup.ts), as a cutover analysis recorded it. */
export interface WarmthProbe {
  warm: boolean;
  ms: number;
  detail: string;
}

/** The warmth probes of the cutover analyses: was approach 1 a hot backup the kill switch could land on? */
export interface HotBackupWarmth {
  probes: number;
  cold: number;
  /** the first cold probe (ISO time, stage, why); null while every probe was warm */
  firstCold: { at: string; stage: string; detail: string } | null;
  /** the latest probe */
  last: (WarmthProbe & { at: string }) | null;
}

/** What the rollout saw of its hot-backup period. */
export interface HotBackupRecord {
  /** epoch ms the first hot-backup stage's flags were applied; null before */
  since: number | null;
  analyses: number;
  /** breaching analyses' triggers, oldest first (at most {@link MAX_BREACHES_KEPT} kept) */
  breaches: HotBackupBreach[];
  breachCount: number;
  /** approach 1's warmth in the cutover analyses; absent in states from before the probe */
  warmth?: HotBackupWarmth;
}

export const MAX_BREACHES_KEPT = 10;

export const NO_HOT_BACKUP: HotBackupRecord = { since: null, analyses: 0, breaches: [], breachCount: 0 };

export type StabilityCriterion = 'p90_push' | 'pool_reuse' | 'error_rate' | 'rollback_triggers' | 'hot_backup_warm';

export interface StabilityCheck {
  criterion: StabilityCriterion;
  ok: boolean;
  value: number | null;
  threshold: number;
  detail: string;
}

export interface StabilityVerdict {
  stable: boolean;
  checks: StabilityCheck[];
  /** the first failing criterion, said plainly; null when stable */
  failing: string | null;
  /** the period judged, seconds */
  periodSeconds: number;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const num = (x: number): string => (Number.isInteger(x) ? String(x) : x.toPrecision(3));

function check(
  criterion: StabilityCriterion,
  r: Reading,
  threshold: number,
  pass: (v: number) => boolean,
  say: (v: number, ok: boolean) => string,
  what: string,
): StabilityCheck {
  if (r.kind === 'nodata')
    return { criterion, ok: false, value: null, threshold, detail: `no data for ${what} (${r.reason})` };
  const ok = pass(r.value);
  return { criterion, ok, value: r.value, threshold, detail: say(r.value, ok) };
}

/** The breaches a record of the hot-backup period can still hold, as a first failing check. */
export function triggerCheck(hot: HotBackupRecord): StabilityCheck {
  if (hot.breachCount === 0)
    return {
      criterion: 'rollback_triggers',
      ok: true,
      value: 0,
      threshold: 0,
      detail: `no rollback trigger breached in ${hot.analyses} analyses of the hot-backup period`,
    };
  const first = hot.breaches[0]!;
  return {
    criterion: 'rollback_triggers',
    ok: false,
    value: hot.breachCount,
    threshold: 0,
    detail: `rollback trigger ${first.trigger} breached at ${first.at} in ${first.stage} (${first.detail})${hot.breachCount > 1 ? `, ${hot.breachCount} breaches in all` : ''}`,
  };
}

/**
 * Approach 1 was a warm hot backup through the cutover analyses: probed at least once, and never
 * cold (a cold probe is a moment a kill switch would have landed on a cold path).
 */
export function warmthCheck(hot: HotBackupRecord): StabilityCheck {
  const w = hot.warmth ?? { probes: 0, cold: 0, firstCold: null, last: null };
  if (w.probes === 0)
    return {
      criterion: 'hot_backup_warm',
      ok: false,
      value: null,
      threshold: 0,
      detail: 'approach 1 was never probed in a cutover analysis: its warmth as the hot backup is unknown',
    };
  if (w.cold === 0)
    return {
      criterion: 'hot_backup_warm',
      ok: true,
      value: 0,
      threshold: 0,
      detail: `approach 1 warm in all ${w.probes} probes of the cutover${w.last ? ` (last: ${w.last.ms} ms)` : ''}`,
    };
  const c = w.firstCold!;
  return {
    criterion: 'hot_backup_warm',
    ok: false,
    value: w.cold,
    threshold: 0,
    detail: `approach 1 was cold at ${c.at} in ${c.stage} (${c.detail})${w.cold > 1 ? `, ${w.cold} of ${w.probes} probes cold` : ''}`,
  };
}

/**
 * Judges the hot-backup period against seed 004's success criteria and seed 002's triggers, and
 * (with `warmth`: runs under the canary-hot-backup-warmth patch) approach 1's warmth.
 */
export function evaluateStability(
  values: StabilityValues,
  t: StabilityThresholds,
  hot: HotBackupRecord,
  periodSeconds: number,
  opts: { warmth?: boolean } = {},
): StabilityVerdict {
  const checks: StabilityCheck[] = [
    check(
      'p90_push',
      values.p90PushSeconds,
      t.p90PushSeconds,
      (v) => v < t.p90PushSeconds,
      (v, ok) => `approach-2 P90 push ${num(v)} s ${ok ? '<' : '≥'} ${num(t.p90PushSeconds)} s`,
      'approach-2 P90 push',
    ),
    check(
      'pool_reuse',
      values.poolReuse,
      t.poolReuse,
      (v) => v > t.poolReuse,
      (v, ok) => `pool reuse ${pct(v)} ${ok ? '>' : '≤'} ${pct(t.poolReuse)}`,
      'pool reuse',
    ),
    check(
      'error_rate',
      values.errorRate,
      t.errorRate,
      (v) => v < t.errorRate,
      (v, ok) => `approach-2 error rate ${pct(v)} ${ok ? '<' : '≥'} ${pct(t.errorRate)}`,
      'approach-2 error rate',
    ),
    triggerCheck(hot),
    ...(opts.warmth === true ? [warmthCheck(hot)] : []),
  ];
  const bad = checks.find((c) => !c.ok);
  return {
    stable: bad === undefined,
    checks,
    failing: bad === undefined ? null : `${bad.criterion}: ${bad.detail}`,
    periodSeconds,
  };
}
