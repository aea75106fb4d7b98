import { z } from 'zod';

/**
 * Phase defaults for the validation phase (seed 000, "Phase 3: Validation Period"). Every value
 * is a workflow input default, so tests can shrink the period (a "day" of 60 s, a resolution of
 * 5 s) and run the same rules.
 *
 * Units: money in USD, latency in seconds, rates as fractions (0.05 = 5 %), throughput in
 * operations per minute, durations in seconds of *metric* time.
 */
function buildValidationConfigSchema() {
  return z
    .object({
      /** planned length of the period: the decision is taken at this week (seed: week 4) */
      weeks: z.number().int().min(1).default(4),
      /** no decision before this many weeks (seed: "2-week minimum before migration decision") */
      minWeeks: z.number().int().min(1).default(2),
      /** extension limit: at this week the decision is forced and flagged incomplete (seed: "Max 6 weeks") */
      maxWeeks: z.number().int().min(1).default(6),
      daysPerWeek: z.number().int().min(1).default(7),
      /** length of one snapshot day in metric time */
      dayLengthSeconds: z.number().int().positive().default(86_400),
      /** hourly points: triggers are evaluated on points at this resolution, not on one daily number */
      resolutionSeconds: z.number().int().positive().default(3_600),
      /** evaluation step of the peak subqueries (`$subquery_step`): peak concurrency, headroom, peak throughput */
      subqueryStepSeconds: z.number().int().positive().default(60),
      /** MIGRATE may be decided as soon as a trigger is sustained (from minWeeks on), without waiting for `weeks` */
      migrateEarly: z.boolean().default(true),
      /**
       * seed 000 "if data inconclusive → EXTEND": when more than this many days of the decision
       * window (the two weeks compared) are missing, the decision is EXTEND, naming the days
       */
      maxMissingDecisionDays: z.number().int().min(0).default(2),
      /** seed 000: after STAY, a live period re-runs every this many days (a Temporal Schedule; quarterly) */
      reevaluationEveryDays: z.number().int().min(1).default(90),

      /** migration triggers (seed 000 "Migration Trigger Review"); a value strictly above breaches */
      thresholds: z
        .object({
          concurrency: z.number().nonnegative().default(10),
          costPerOp: z.number().nonnegative().default(0.05),
          p95Seconds: z.number().nonnegative().default(2),
          errorRate: z.number().min(0).max(1).default(0.05),
          monthlyCost: z.number().nonnegative().default(500),
          throughputOpsPerMin: z.number().nonnegative().default(100),
        })
        .prefault({}),

      /**
       * When a trigger counts as exceeded in a week: at least `minBreachHours` hourly points strictly
       * above its threshold. 3 h rather than 1 so a single noisy hour is not a breach; the seed's
       * "2+ weeks sustained" rule then guards against one bad week.
       */
      breach: z.object({ minBreachHours: z.number().int().min(1).default(3) }).prefault({}),

      /**
       * Week-over-week stability bands (seed 000 "Metric Stability Thresholds"). A change exactly at
       * the band is stable. Peak concurrency ("identified and consistent") is consistent when it
       * moves by at most `concurrencyRelative` OR by at most `concurrencyAbsolute` operations —
       * the absolute floor keeps small peaks (3 → 4) from reading as unstable.
       */
      stability: z
        .object({
          costPerOpRelative: z.number().nonnegative().default(0.1),
          p95Relative: z.number().nonnegative().default(0.2),
          errorRateAbsolute: z.number().nonnegative().default(0.02),
          concurrencyRelative: z.number().nonnegative().default(0.25),
          concurrencyAbsolute: z.number().nonnegative().default(2),
        })
        .prefault({}),

      /** weekly goals (seed 000 "Success Criteria" of weeks 1–4) */
      goals: z
        .object({
          /** week 1: error rate below 2 % */
          errorRateMax: z.number().min(0).max(1).default(0.02),
          /** week 2: E2B rate-limit headroom above 50 % at the week's worst minute */
          headroomMin: z.number().min(0).max(1).default(0.5),
          /** week 3: share of failures left in category `other` (all must be categorised) */
          uncategorizedErrorShareMax: z.number().min(0).max(1).default(0),
          /**
           * week 3: the command timeout the service runs with. Not set in temporal.yaml: parseConfig
           * derives it from sandbox.commandTimeoutMs (the default here serves standalone phase configs)
           */
          operationTimeoutSeconds: z.number().positive().default(120),
          /** week 3: the timeout must be at least this multiple of the worst daily P99 */
          timeoutToP99MinRatio: z.number().positive().default(2),
          /** week 3: a cascade is this many consecutive hours above the error-rate trigger */
          cascadeMinHours: z.number().int().min(1).default(2),
          /** week 4 gap analysis: a metric at or above this share of its trigger is a gap to address */
          nearTriggerShare: z.number().min(0).max(1).default(0.8),
        })
        .prefault({}),

      /** data completeness: a day counts only when this share of its hourly points have data */
      data: z.object({ minHourCoverage: z.number().min(0).max(1).default(0.9) }).prefault({}),

      forecast: z
        .object({
          daysPerMonth: z.number().positive().default(30),
          months: z.number().int().min(1).max(12).default(3),
        })
        .prefault({}),
    })
    .refine((c) => c.minWeeks <= c.weeks && c.weeks <= c.maxWeeks, {
      message: 'weeks must satisfy minWeeks <= weeks <= maxWeeks',
      path: ['weeks'],
    })
    .refine((c) => c.dayLengthSeconds % c.resolutionSeconds === 0, {
      message: 'dayLengthSeconds must be a multiple of resolutionSeconds',
      path: ['resolutionSeconds'],
    })
    .prefault({});
}

type ValidationConfigSchema = ReturnType<typeof buildValidationConfigSchema>;
let schema: ValidationConfigSchema | undefined;

/**
 * The schema, built on first use. The validation-period workflow parses with it, and the workflow
 * bundle evaluates every workflow module again for each workflow it starts: built at module load,
 * this schema was most of the cost of starting ANY workflow on the worker (a CPU profile of the
 * concurrent-push bench, queue mode: lib/config/validation.ts 44 s of the 64 s createWorkflow took).
 */
export function validationConfigSchema(): ValidationConfigSchema {
  return (schema ??= buildValidationConfigSchema());
}

export type ValidationConfig = z.infer<ValidationConfigSchema>;
/** Input shape (every key optional) for overriding defaults per run. */
export type ValidationConfigInput = z.input<ValidationConfigSchema>;

/** The seed defaults, parsed (a fresh object each call). */
export function defaultValidationConfig(overrides: ValidationConfigInput = {}): ValidationConfig {
  return validationConfigSchema().parse(overrides);
}
