/**
 * Who may ask for which rollout (issue 9 item 7). temporal.yaml's `canary` section is the plan
 * an operator runs: its stages and its rollback triggers. Anything that moves traffic faster or
 * makes automatic rollback less likely — other stages, a higher error-rate threshold, more
 * breaches in a row, advancing without approval, slower analyses — is a flag change with the
 * safety net loosened, which is admin work. Stricter values are an operator's call. Pure.
 */
import { STAGE_MODES, stageMode, type CanaryStage, type CanaryThresholds } from './analysis.js';

/** Longest stage list a rollout may have (seed 002 has five stages). */
export const MAX_STAGES = 10;

/**
 * Why a stage list is out of bounds, or null: 1..MAX_STAGES stages, percents never falling, and
 * modes (given or derived) in the seed's order — shadow, dual_write, cutover, decommission — with
 * cutover and decommission at 100 %, decommission last, and `shadow` matching the mode (every
 * mode but decommission keeps the other approach beside the serving one).
 */
export function stagesProblem(stages: Pick<CanaryStage, 'percent' | 'shadow' | 'mode'>[]): string | null {
  if (stages.length === 0) return 'at least one stage is required';
  if (stages.length > MAX_STAGES) return `at most ${MAX_STAGES} stages, got ${stages.length}`;
  for (let i = 1; i < stages.length; i++) {
    if (stages[i]!.percent < stages[i - 1]!.percent)
      return `percents must not fall from one stage to the next (stage ${i + 1}: ${stages[i]!.percent}% after ${stages[i - 1]!.percent}%)`;
  }
  let last = -1;
  for (let i = 0; i < stages.length; i++) {
    const st = stages[i]!;
    const mode = stageMode(st);
    if (mode === null) continue;
    if (st.mode !== undefined && st.shadow !== (mode !== 'decommission'))
      return `stage ${i + 1}: mode ${mode} ${mode === 'decommission' ? 'turns approach 1 off (shadow: false)' : 'keeps both approaches running (shadow: true)'}`;
    if ((mode === 'cutover' || mode === 'decommission') && st.percent !== 100)
      return `stage ${i + 1}: mode ${mode} serves 100% from approach 2, got ${st.percent}%`;
    if (mode === 'decommission' && i !== stages.length - 1)
      return `stage ${i + 1}: decommission must be the last stage`;
    const rank = STAGE_MODES.indexOf(mode);
    if (rank < last)
      return `stage ${i + 1}: mode ${mode} after ${STAGE_MODES[last]} (modes follow shadow → dual_write → cutover → decommission)`;
    last = rank;
  }
  return null;
}

/**
 * Why an analysis window is too short, or null. A counter's `increase()` needs two samples inside
 * the window, so a window shorter than two scrape intervals can never hold data: every analysis
 * would be "no data" and the rollout would pause at each one.
 */
export function windowProblem(
  windowSeconds: number,
  scrapeIntervalSeconds: number,
  o: { field?: string } = {},
): string | null {
  if (windowSeconds >= 2 * scrapeIntervalSeconds) return null;
  return `${o.field ?? 'analysisIntervalSeconds'} ${windowSeconds} s is shorter than two Prometheus scrape intervals (scrape interval ${scrapeIntervalSeconds} s, canary.scrapeIntervalSeconds): a window that short never holds two samples, so every analysis would have no data; use at least ${2 * scrapeIntervalSeconds} s`;
}

export interface RolloutRequest {
  stages?: CanaryStage[];
  thresholds?: Partial<CanaryThresholds>;
  consecutiveBreaches?: number;
  autoAdvance?: boolean;
  analysisIntervalSeconds?: number;
  analysisWindowSeconds?: number;
}

export interface RolloutPlan {
  stages: CanaryStage[];
  thresholds: CanaryThresholds;
  consecutiveBreaches: number;
  autoAdvance: boolean;
  analysisIntervalSeconds: number;
  analysisWindowSeconds?: number;
}

function sameStages(a: CanaryStage[], b: CanaryStage[]): boolean {
  const key = (s: CanaryStage) =>
    JSON.stringify([s.name, s.percent, s.shadow, s.holdSeconds, s.operations ?? null, stageMode(s)]);
  return a.length === b.length && a.every((s, i) => key(s) === key(b[i]!));
}

/**
 * The first field of a request that only an admin may set (the plan's own values do not count),
 * with why; null when an operator may start it as asked.
 */
export function adminOnlyField(req: RolloutRequest, plan: RolloutPlan): { field: string; why: string } | null {
  if (req.stages !== undefined && !sameStages(req.stages, plan.stages))
    return { field: 'stages', why: 'stages other than the configured plan (canary.stages)' };
  const t = req.thresholds ?? {};
  const p = plan.thresholds;
  if (t.errorRate !== undefined && t.errorRate > p.errorRate)
    return { field: 'thresholds.errorRate', why: `an error-rate trigger above the configured ${p.errorRate}` };
  if (t.minOperations !== undefined && t.minOperations > p.minOperations)
    return {
      field: 'thresholds.minOperations',
      why: `more than the configured ${p.minOperations} operations before the error rate counts`,
    };
  if (t.minLatencyOperations !== undefined && t.minLatencyOperations > p.minLatencyOperations)
    return {
      field: 'thresholds.minLatencyOperations',
      why: `more than the configured ${p.minLatencyOperations} operations before a P95 counts for the latency trigger`,
    };
  if (t.p95Ratio !== undefined && t.p95Ratio > p.p95Ratio)
    return { field: 'thresholds.p95Ratio', why: `a latency trigger above the configured ${p.p95Ratio}×` };
  if (t.consistency !== undefined && t.consistency < p.consistency)
    return { field: 'thresholds.consistency', why: `a consistency trigger below the configured ${p.consistency}` };
  if (req.consecutiveBreaches !== undefined && req.consecutiveBreaches > plan.consecutiveBreaches) {
    return {
      field: 'consecutiveBreaches',
      why: `more than the configured ${plan.consecutiveBreaches} breaches in a row before a rollback`,
    };
  }
  if (req.autoAdvance === true && !plan.autoAdvance)
    return { field: 'autoAdvance', why: 'advancing stages without approval' };
  if (req.analysisIntervalSeconds !== undefined && req.analysisIntervalSeconds > plan.analysisIntervalSeconds) {
    return {
      field: 'analysisIntervalSeconds',
      why: `analyses less often than every ${plan.analysisIntervalSeconds} s`,
    };
  }
  const window = plan.analysisWindowSeconds ?? plan.analysisIntervalSeconds;
  if (req.analysisWindowSeconds !== undefined && req.analysisWindowSeconds > window)
    return { field: 'analysisWindowSeconds', why: `an analysis window longer than ${window} s` };
  return null;
}
