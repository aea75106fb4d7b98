import { z } from 'zod';
import { DEFAULT_DRIFT_THRESHOLDS as D } from '../drift/verdict.js';
import { DEFAULT_FULL_REVIEW_SECONDS } from '../drift/review.js';

const seconds = z.number().int().positive();

/** A process to review: its name in the review, its Prometheus scrape job and an instance regex. */
export const driftTargetSchema = z
  .object({
    /** the process's name in the verdict (default: the job) */
    name: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,60}$/, 'letters, digits, ".", "_" or "-" (at most 60)')
      .optional(),
    job: z.string().min(1),
    instance: z.string().min(1).default('.+'),
  })
  .transform((t) => ({ ...t, name: t.name ?? t.job }));
export type DriftTarget = z.infer<typeof driftTargetSchema>;

/** seed 001 criteria (7/7 to pass) */
export const driftThresholdsSchema = z
  .object({
    /** memory growth T0 → end must stay below this fraction (seed: < 20%) */
    memoryGrowthMax: z.number().positive().default(D.memoryGrowthMax),
    /** average CPU below this percent (seed: < 5%) */
    cpuAvgMaxPercent: z.number().positive().default(D.cpuAvgMaxPercent),
    /** a spike is a sample above this percent... */
    cpuSpikePercent: z.number().positive().default(D.cpuSpikePercent),
    /** ...and sustained when this many consecutive samples spike */
    cpuSustainedSamples: z.number().int().min(1).default(D.cpuSustainedSamples),
    /**
     * Handles grow "continuously" when the second half of the series has a Kendall trend
     * (concordant − discordant pairs over all pairs) at or above this, with a net rise.
     */
    handleTrendMax: z.number().min(0).max(1).default(D.handleTrendMax),
    restartsMax: z.number().int().min(0).default(D.restartsMax),
    criticalErrorsMax: z.number().int().min(0).default(D.criticalErrorsMax),
    /** uptime may fall short of the soak duration by this fraction (scrape/query timing) */
    uptimeTolerance: z.number().min(0).max(0.5).default(D.uptimeTolerance),
  })
  .prefault({});
export type DriftThresholds = z.infer<typeof driftThresholdsSchema>;

/** Phase defaults for the drift review (seed 001). Durations in seconds. */
export const driftConfigSchema = z
  .object({
    /** `short` soak (seed 001: 2–4 h, 2 h default) or `full` (48 h) */
    mode: z.enum(['short', 'full']).default('short'),
    shortSoakSeconds: seconds.default(7_200),
    fullSoakSeconds: seconds.default(172_800),
    /** one sample every interval between T0 and T+duration */
    intervalSeconds: seconds.default(300),
    /**
     * Reviewed processes, all in one review: our API and worker by default (the job names
     * monitoring/prometheus.yml.tmpl gives them in the Prometheus `npm start` runs).
     */
    targets: z
      .array(driftTargetSchema)
      .min(1)
      .refine((ts) => new Set(ts.map((t) => t.name)).size === ts.length, {
        message: 'target names must be unique (set name when two targets share a job)',
      })
      .default([
        { name: 'api', job: 'sgc-api', instance: '.+' },
        { name: 'worker', job: 'sgc-worker', instance: '.+' },
      ]),
    /**
     * The shortest review reported as `full` (seed 001: 48 h); a shorter one is `provisional`
     * (seed 001's short soak, 2–4 h), whatever mode it was started with.
     */
    fullReviewMinSeconds: seconds.default(DEFAULT_FULL_REVIEW_SECONDS),
    thresholds: driftThresholdsSchema,
  })
  .prefault({});
export type DriftConfig = z.infer<typeof driftConfigSchema>;

/** The soak duration a config selects. */
export function driftDurationSeconds(cfg: Pick<DriftConfig, 'mode' | 'shortSoakSeconds' | 'fullSoakSeconds'>): number {
  return cfg.mode === 'full' ? cfg.fullSoakSeconds : cfg.shortSoakSeconds;
}
