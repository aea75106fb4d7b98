import { z } from 'zod';
import {
  DEFAULT_ANALYSIS_INTERVAL_SECONDS,
  DEFAULT_CONSECUTIVE_BREACHES,
  DEFAULT_INSUFFICIENT_DATA_PAUSE_SECONDS,
  DEFAULT_MAX_ANALYSES_PER_RUN,
  DEFAULT_SCRAPE_INTERVAL_SECONDS,
  DEFAULT_STAGES,
  DEFAULT_THRESHOLDS,
  STAGE_MODES,
} from '../canary/analysis.js';
import { stagesProblem, windowProblem } from '../canary/bounds.js';
import { DEFAULT_STABILITY } from '../canary/stability.js';
import { DEFAULT_DRILL, DEFAULT_RECONCILIATION, DEFAULT_SWITCH_TIMEOUT_MS } from '../canary/defaults.js';

/**
 * Phase defaults for the canary rollout (seeds 002 and 004 step 10), the reconciliation job and
 * the weekly rollback drill. Every value is a workflow input default: the API and CLI fill a
 * rollout's input from here (clients/canary.ts), and tests pass seconds instead of weeks.
 *
 * The values are constants of lib/canary/analysis.ts (the rollout plan) and
 * lib/canary/defaults.ts (kill switch, reconciliation, drill); temporal.yaml's `canary:` section
 * shows them, and a unit test keeps the shipped file equal to these defaults.
 */
const FLAG_NAME = /^git\.[a-z][a-z_]*$/;

export const canaryStageSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, "-" and "_"'),
  percent: z.number().int().min(0).max(100),
  shadow: z.boolean(),
  holdSeconds: z.number().int().nonnegative(),
  /** flag names this stage sets (`git.push` …); omitted = every flag */
  operations: z.array(z.string().regex(FLAG_NAME, 'a flag name such as git.push')).min(1).optional(),
  /**
   * share of agents (sticky buckets) whose calls get the shadow run while shadow is on; omitted =
   * percent in a shadow stage (the seed's 10 %; every agent at 0 %), every agent otherwise
   */
  shadowPercent: z.number().int().min(0).max(100).optional(),
  /** shadow | dual_write | cutover | decommission; omitted = derived from percent and shadow (lib/canary/analysis.ts stageMode) */
  mode: z.enum(STAGE_MODES).optional(),
});

export const canaryThresholdsSchema = z.object({
  errorRate: z.number().min(0).max(1).default(DEFAULT_THRESHOLDS.errorRate),
  minOperations: z.number().int().nonnegative().default(DEFAULT_THRESHOLDS.minOperations),
  /** fewer operations than this on either approach in a window: its P95 is too few to judge (the latency floor) */
  minLatencyOperations: z.number().int().nonnegative().default(DEFAULT_THRESHOLDS.minLatencyOperations),
  p95Ratio: z.number().positive().default(DEFAULT_THRESHOLDS.p95Ratio),
  consistency: z.number().min(0).max(1).default(DEFAULT_THRESHOLDS.consistency),
});

/** Seed 004's migration success criteria: what "stable" means before decommission. */
export const canaryStabilitySchema = z.object({
  /** P90 push on approach 2 strictly below this, seconds (seed 004: "Git push < 10 seconds (P90)") */
  p90PushSeconds: z.number().positive().default(DEFAULT_STABILITY.p90PushSeconds),
  /** pool reuse strictly above this fraction (seed 004: "Pool reuse rate > 80%") */
  poolReuse: z.number().min(0).max(1).default(DEFAULT_STABILITY.poolReuse),
  /** approach-2 error rate strictly below this fraction (seed 004: "Error rate < 1%") */
  errorRate: z.number().min(0).max(1).default(DEFAULT_STABILITY.errorRate),
});

/** A rollout's stages: 1..MAX_STAGES, unique names, percents never falling, modes in plan order (lib/canary/bounds.ts). */
export const canaryStageListSchema = z
  .array(canaryStageSchema)
  .superRefine((s, ctx) => {
    const problem = stagesProblem(s);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  })
  .refine((s) => new Set(s.map((x) => x.name)).size === s.length, { message: 'stage names must be unique' });

export const canaryConfigSchema = z
  .object({
    stages: canaryStageListSchema.default(DEFAULT_STAGES),
    analysisIntervalSeconds: z.number().int().positive().default(DEFAULT_ANALYSIS_INTERVAL_SECONDS),
    /** the window each analysis measures; default = the interval (analyses neither overlap nor leave gaps) */
    analysisWindowSeconds: z.number().int().positive().optional(),
    /** Prometheus's scrape interval of the gitops_* metrics: a window must span at least two of them */
    scrapeIntervalSeconds: z.number().positive().default(DEFAULT_SCRAPE_INTERVAL_SECONDS),
    /** analyses with too little approach-2 traffic widen the next window; this long without enough data pauses */
    insufficientDataPauseSeconds: z.number().int().positive().default(DEFAULT_INSUFFICIENT_DATA_PAUSE_SECONDS),
    /** seed 004's success criteria over the hot-backup period, checked before decommission */
    stability: canaryStabilitySchema.prefault({}),
    consecutiveBreaches: z.number().int().min(1).default(DEFAULT_CONSECUTIVE_BREACHES),
    autoAdvance: z.boolean().default(false),
    /** analyses per workflow run before continue-as-new (lib/canary/analysis.ts explains 300) */
    maxAnalysesPerRun: z.number().int().min(1).max(2_000).default(DEFAULT_MAX_ANALYSES_PER_RUN),
    thresholds: canaryThresholdsSchema.prefault({}),
    /** how long a rollback waits for every flag-caching process to acknowledge the kill */
    switchTimeoutMs: z.number().int().positive().default(DEFAULT_SWITCH_TIMEOUT_MS),
    reconciliation: z
      .object({
        /** the two sides' last updates further apart than this are lag (and a missing copy older than this is missing) */
        lagThresholdSeconds: z.number().int().positive().default(DEFAULT_RECONCILIATION.lagThresholdSeconds),
        /** workspaces created this soon after dual-write started are not expected on both sides */
        switchGraceSeconds: z.number().int().nonnegative().default(DEFAULT_RECONCILIATION.switchGraceSeconds),
      })
      .prefault({}),
    drill: z
      .object({
        /** seed 002 step 5: "flip flag on/off every 30s for 5 mins" */
        flipEverySeconds: z.number().int().positive().default(DEFAULT_DRILL.flipEverySeconds),
        durationSeconds: z.number().int().positive().default(DEFAULT_DRILL.durationSeconds),
        /** issue 4: every flip must take effect in < 1 s */
        switchBoundMs: z.number().int().positive().default(DEFAULT_DRILL.switchBoundMs),
        /** "on" when no flag is on yet (before a rollout): this percent with shadow */
        onPercent: z.number().int().min(1).max(100).default(DEFAULT_DRILL.onPercent),
        /** synthetic agents routed during the drill */
        agents: z.number().int().min(1).max(10_000).default(DEFAULT_DRILL.agents),
        /** a sandbox in_use without activity for longer is stuck (pool TTL, seed 004) */
        stuckInUseSeconds: z.number().int().positive().default(DEFAULT_DRILL.stuckInUseSeconds),
      })
      .prefault({}),
  })
  .superRefine((c, ctx) => {
    const problem = windowProblem(c.analysisWindowSeconds ?? c.analysisIntervalSeconds, c.scrapeIntervalSeconds, {
      field: c.analysisWindowSeconds === undefined ? 'analysisIntervalSeconds' : 'analysisWindowSeconds',
    });
    if (problem !== null)
      ctx.addIssue({
        code: 'custom',
        path: [c.analysisWindowSeconds === undefined ? 'analysisIntervalSeconds' : 'analysisWindowSeconds'],
        message: problem,
      });
  })
  .prefault({});

export type CanaryConfig = z.infer<typeof canaryConfigSchema>;
