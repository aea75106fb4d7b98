import { z } from 'zod';
import {
  DEFAULT_BREAKER_CHECK_EVERY_SECONDS,
  DEFAULT_BREAKER_THRESHOLDS,
  DEFAULT_SLIDING_BREAKER,
} from '../baseline/breaker.js';
import { DEFAULT_CRITERIA_THRESHOLDS } from '../baseline/criteria.js';
import {
  COLUMN_NAME,
  COLUMN_UNITS,
  CSV_PROFILES,
  LOAD_STATISTICS,
  isCsvProfile,
  profileProblems,
} from '../baseline/csv.js';
import { OPERATION_DURATION_BUCKETS_SECONDS } from '../metrics.js';

const seconds = z.number().int().positive();
const fraction = z.number().min(0).max(1);

/** One load stage: a fixed request rate over N connections. */
const loadStage = (rps: number, connections: number) =>
  z.object({
    rps: z.number().positive().max(10_000).default(rps),
    connections: z.number().int().min(1).max(1_000).default(connections),
  });

const PROFILE_NAME = /^[A-Za-z0-9._-]{1,60}$/;

/** A CSV column: its header cell, then a named query and/or a load statistic of the engine. */
const columnSchema = z
  .object({
    name: z.string().regex(COLUMN_NAME, 'letters, digits and "_" (at most 64), not starting with a digit'),
    query: z.string().min(1).optional(),
    load: z.enum(LOAD_STATISTICS).optional(),
    unit: z.enum(COLUMN_UNITS).optional(),
  })
  .strict();

const operationSchema = z
  .object({
    label: z.string().min(1).max(60),
    rateColumn: z.string().min(1),
    successColumns: z.array(z.string().min(1)).min(1),
    failureColumns: z.array(z.string().min(1)).min(1),
    p95Column: z.string().min(1),
    p99Column: z.string().min(1),
  })
  .strict();

/** A CSV profile declared in temporal.yaml: its columns in order (lib/baseline/csv.ts). */
export const csvProfileSchema = z
  .object({
    columns: z.array(columnSchema).min(1).max(200),
    operations: z.array(operationSchema).max(20).optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    for (const p of profileProblems(spec)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
  });

/**
 * Phase defaults for the production baseline (seed 003). Durations in seconds, ratios as
 * fractions, latencies in ms, memory in MiB. Workflow inputs override each key per run.
 */
export const baselineConfigSchema = z
  .object({
    /** CSV profile: `default` (our service), `seed-v3` (the seed's exact header) or a name under `profiles` */
    profile: z.string().regex(PROFILE_NAME).default('default'),
    /** more CSV profiles, by name: each column a named query (config.queries) or a load statistic */
    profiles: z.record(z.string().regex(PROFILE_NAME), csvProfileSchema).default({}),
    /** scrape-job regex for the process metrics (`$job` in the baseline queries) */
    job: z.string().min(1).default('sgc-.*'),
    /** seed 003 Day 1 morning: 10 min warmup at rate 20, concurrency 5 */
    warmup: loadStage(20, 5)
      .extend({
        durationSeconds: seconds.default(600),
      })
      .prefault({}),
    /** seed 003 Day 1 afternoon: rate 80, concurrency 20, 12 samples × 10 min (2 h) */
    baseline: loadStage(80, 20)
      .extend({
        samples: z.number().int().min(1).max(1_000).default(12),
        intervalSeconds: seconds.default(600),
      })
      .prefault({}),
    /** seed 003 Day 2: extended validation, 4 samples × 15 min */
    day2: loadStage(80, 20)
      .extend({
        enabled: z.boolean().default(true),
        /**
         * Wait from the end of day 1's report to day 2's start. The seed's day 1 baseline ends
         * about 16:05 and day 2 starts 09:00 the next morning: about 17 h.
         */
        waitSeconds: z.number().int().nonnegative().default(61_200),
        samples: z.number().int().min(1).max(1_000).default(4),
        intervalSeconds: seconds.default(900),
      })
      .prefault({}),
    /** seed 003 optional fallback scenario (cache misses counted as fallback), 2 × 15 min */
    fallbackScenario: loadStage(80, 20)
      .extend({
        enabled: z.boolean().default(false),
        samples: z.number().int().min(1).max(1_000).default(2),
        intervalSeconds: seconds.default(900),
      })
      .prefault({}),
    /** seed 003 risk mitigation: stop immediately if error rate > 2% or effective fallback > 8% */
    breaker: z
      .object({
        errorRateMax: fraction.default(DEFAULT_BREAKER_THRESHOLDS.errorRateMax),
        effectiveFallbackMax: fraction.default(DEFAULT_BREAKER_THRESHOLDS.effectiveFallbackMax),
        live: z.boolean().default(true),
        windowSeconds: z.number().int().min(5).max(3_600).default(DEFAULT_SLIDING_BREAKER.windowSeconds),
        checkEverySeconds: z.number().int().min(1).max(300).default(DEFAULT_BREAKER_CHECK_EVERY_SECONDS),
        minRequests: z.number().int().min(1).max(100_000).default(DEFAULT_SLIDING_BREAKER.minRequests),
      })
      .prefault({}),
    /** seed 003 success criteria */
    criteria: z
      .object({
        p95MaxMs: z.number().positive().default(DEFAULT_CRITERIA_THRESHOLDS.p95MaxMs),
        p99MaxMs: z.number().positive().default(DEFAULT_CRITERIA_THRESHOLDS.p99MaxMs),
        rssAvgMaxMb: z.number().positive().default(DEFAULT_CRITERIA_THRESHOLDS.rssAvgMaxMb),
        cacheHitMin: fraction.default(DEFAULT_CRITERIA_THRESHOLDS.cacheHitMin),
        errorRateMax: fraction.default(DEFAULT_CRITERIA_THRESHOLDS.errorRateMax),
        effectiveFallbackMax: fraction.default(DEFAULT_CRITERIA_THRESHOLDS.effectiveFallbackMax),
        /** overall success; the seed's 1% error ceiling implies 99% */
        successRateMin: fraction.default(DEFAULT_CRITERIA_THRESHOLDS.successRateMin),
        /** per-operation success (seed: plugin reload ≥ 95% → push, snapshot ≥ 99% → clone) */
        operationSuccessMin: z
          .record(z.string(), fraction)
          .default(() => ({ ...DEFAULT_CRITERIA_THRESHOLDS.operationSuccessMin })),
      })
      .prefault({}),
    /** SLO draft: headroom over the worst observed window, and the error-budget period */
    slo: z
      .object({
        service: z.string().min(1).default('sandbox-git-control'),
        latencyHeadroom: z.number().min(0).max(5).default(0.2),
        /** the availability budget must be at least this many times the observed error rate */
        budgetHeadroom: z.number().min(1).max(100).default(2),
        periodDays: z.number().int().min(1).max(365).default(30),
        /** histogram buckets of gitops_operation_duration_seconds (latency SLO thresholds snap to them) */
        latencyBucketsSeconds: z.array(z.number().positive()).min(1).default(OPERATION_DURATION_BUCKETS_SECONDS),
      })
      .prefault({}),
    /** the load itself: request mix weights (see lib/load/engine.ts defaultGitMix) and bounds */
    load: z
      .object({
        mix: z
          .object({
            status: z.number().nonnegative().default(40),
            diff: z.number().nonnegative().default(30),
            /** write a file then commit + push it, alternating (half writes, half commits) */
            edit: z.number().nonnegative().default(30),
          })
          .prefault({})
          .refine((m) => m.status + m.diff + m.edit > 0, { message: 'at least one weight must be positive' }),
        /** workspaces the load uses, created by the preflight when empty */
        workspaces: z.number().int().min(1).max(1_000).default(10),
        /**
         * the repository the preflight creates those workspaces from when a run names neither
         * workspace ids nor a repository (`npm start` sets it to its demo remote); unset, a run must
         * name one
         */
        repoUrl: z.string().min(1).optional(),
        requestTimeoutMs: z.number().int().positive().default(30_000),
        /** bound on requests in flight; beyond it requests wait (their latency still counts from the schedule) */
        maxInFlight: z.number().int().positive().optional(),
      })
      .prefault({}),
    preflight: z
      .object({
        /** expected flag settings, e.g. { "git.push": { "percent": 0 } }; a mismatch stops the run */
        expectedFlags: z
          .record(
            z.string(),
            z.object({
              percent: z.number().int().min(0).max(100).optional(),
              shadow: z.boolean().optional(),
            }),
          )
          .default({}),
      })
      .prefault({}),
  })
  .prefault({});
export type BaselineConfig = z.infer<typeof baselineConfigSchema>;

/**
 * Checks across sections, run on the whole config: `baseline.profile` names a built-in or a
 * declared profile, no declared profile takes a built-in's name, and every declared column's
 * query is a named query (config.queries).
 */
export function checkBaselineProfiles(
  c: { baseline: Pick<BaselineConfig, 'profile' | 'profiles'>; queries: Record<string, string> },
  addIssue: (path: (string | number)[], message: string) => void,
): void {
  const declared = Object.keys(c.baseline.profiles);
  if (!isCsvProfile(c.baseline.profile) && !declared.includes(c.baseline.profile)) {
    addIssue(
      ['baseline', 'profile'],
      `unknown CSV profile "${c.baseline.profile}": built-in ${CSV_PROFILES.join(', ')}${declared.length ? `, or declared ${declared.join(', ')}` : ''}`,
    );
  }
  for (const [name, spec] of Object.entries(c.baseline.profiles)) {
    if (isCsvProfile(name)) {
      addIssue(
        ['baseline', 'profiles', name],
        `"${name}" is a built-in profile (${CSV_PROFILES.join(', ')}), fixed byte for byte: choose another name, or override its queries under queries:`,
      );
    }
    spec.columns.forEach((col, i) => {
      if (col.query !== undefined && !(col.query in c.queries)) {
        addIssue(
          ['baseline', 'profiles', name, 'columns', i, 'query'],
          `no query named "${col.query}" (define it under queries:)`,
        );
      }
    });
  }
}
