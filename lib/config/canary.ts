import { z } from 'zod';
import {
  DEFAULT_ANALYSIS_INTERVAL_SECONDS, DEFAULT_CONSECUTIVE_BREACHES, DEFAULT_MAX_ANALYSES_PER_RUN, DEFAULT_STAGES, DEFAULT_THRESHOLDS,
} from '../canary/analysis.js';

/**
 * Phase defaults for the canary rollout (seeds 002 and 004 step 10), the reconciliation job and
 * the weekly rollback drill. Every value is a workflow input default: the API and CLI fill a
 * rollout's input from here, and tests pass seconds instead of weeks.
 *
 * In temporal.yaml (all optional):
 *
 *   canary:
 *     analysisIntervalSeconds: 300        # issue 4: analysis every 5 minutes
 *     consecutiveBreaches: 2              # a trigger must hold this many analyses to roll back
 *     autoAdvance: false                  # false: a stage waits for the `advance` signal at its end
 *     stages:                             # shadow → 10% → 50% → 100% → decommission (seed 004)
 *       - { name: shadow, percent: 0, shadow: true, holdSeconds: 172800 }
 *       - { name: canary-10, percent: 10, shadow: true, holdSeconds: 432000 }
 *       - { name: dual-write-50, percent: 50, shadow: true, holdSeconds: 604800 }
 *       - { name: cutover-100, percent: 100, shadow: true, holdSeconds: 604800 }
 *       - { name: decommission, percent: 100, shadow: false, holdSeconds: 0 }
 *     thresholds: { errorRate: 0.05, minOperations: 20, p95Ratio: 2, consistency: 0.9999 }
 *     drill: { flipEverySeconds: 30, durationSeconds: 300, switchBoundMs: 1000 }
 */
const FLAG_NAME = /^git\.[a-z][a-z_]*$/;

export const canaryStageSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, "-" and "_"'),
  percent: z.number().int().min(0).max(100),
  shadow: z.boolean(),
  holdSeconds: z.number().int().nonnegative(),
  /** flag names this stage sets (`git.push` …); omitted = every flag */
  operations: z.array(z.string().regex(FLAG_NAME, 'a flag name such as git.push')).min(1).optional(),
});

export const canaryThresholdsSchema = z.object({
  errorRate: z.number().min(0).max(1).default(DEFAULT_THRESHOLDS.errorRate),
  minOperations: z.number().int().nonnegative().default(DEFAULT_THRESHOLDS.minOperations),
  p95Ratio: z.number().positive().default(DEFAULT_THRESHOLDS.p95Ratio),
  consistency: z.number().min(0).max(1).default(DEFAULT_THRESHOLDS.consistency),
});

export const canaryConfigSchema = z.object({
  stages: z.array(canaryStageSchema).min(1).default(DEFAULT_STAGES)
    .refine((s) => new Set(s.map((x) => x.name)).size === s.length, { message: 'stage names must be unique' }),
  analysisIntervalSeconds: z.number().int().positive().default(DEFAULT_ANALYSIS_INTERVAL_SECONDS),
  /** the window each analysis measures; default = the interval (analyses neither overlap nor leave gaps) */
  analysisWindowSeconds: z.number().int().positive().optional(),
  consecutiveBreaches: z.number().int().min(1).default(DEFAULT_CONSECUTIVE_BREACHES),
  autoAdvance: z.boolean().default(false),
  /** analyses per workflow run before continue-as-new (lib/canary/analysis.ts explains 300) */
  maxAnalysesPerRun: z.number().int().min(1).max(2_000).default(DEFAULT_MAX_ANALYSES_PER_RUN),
  thresholds: canaryThresholdsSchema.prefault({}),
  /** how long a rollback waits for every flag-caching process to acknowledge the kill */
  switchTimeoutMs: z.number().int().positive().default(5_000),
  reconciliation: z.object({
    /** the two sides' last updates further apart than this are lag (and a missing copy older than this is missing) */
    lagThresholdSeconds: z.number().int().positive().default(60),
    /** workspaces created this soon after dual-write started are not expected on both sides */
    switchGraceSeconds: z.number().int().nonnegative().default(5),
  }).prefault({}),
  drill: z.object({
    /** seed 002 step 5: "flip flag on/off every 30s for 5 mins" */
    flipEverySeconds: z.number().int().positive().default(30),
    durationSeconds: z.number().int().positive().default(300),
    /** issue 4: every flip must take effect in < 1 s */
    switchBoundMs: z.number().int().positive().default(1_000),
    /** "on" when no flag is on yet (before a rollout): this percent with shadow */
    onPercent: z.number().int().min(1).max(100).default(10),
    /** synthetic agents routed during the drill */
    agents: z.number().int().min(1).max(10_000).default(200),
    /** a sandbox in_use without activity for longer is stuck (pool TTL, seed 004) */
    stuckInUseSeconds: z.number().int().positive().default(3_600),
  }).prefault({}),
}).prefault({});

export type CanaryConfig = z.infer<typeof canaryConfigSchema>;
