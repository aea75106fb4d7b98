import { z } from 'zod';

/**
 * The compressed timings of the lifecycle `npm start` walks (issue 11 item 1): every phase runs
 * as its real workflow on the real stack, with the seed's weeks, days and hours shrunk to seconds
 * so the whole migration fits in a few minutes. Nothing else reads these keys: a phase started
 * from the API or the CLI keeps the seed's timings of its own section.
 */
export const LIFECYCLE_PHASES = ['validation', 'canary', 'baseline', 'drift'] as const;
export type LifecyclePhase = (typeof LIFECYCLE_PHASES)[number];

const seconds = z.number().int().positive();

export const demoConfigSchema = z
  .object({
    /** the phases `npm start` runs, in the seeds' order; `--phases` picks a subset for one start */
    phases: z
      .array(z.enum(LIFECYCLE_PHASES))
      .min(1)
      .refine((p) => new Set(p).size === p.length, { message: 'each phase at most once' })
      .default([...LIFECYCLE_PHASES]),
    validation: z
      .object({
        /** weeks of generated history the backtest runs over (seed 000: up to 6 weeks) */
        historyWeeks: z.number().int().min(2).max(8).default(6),
        /** sample spacing of the generated history; must divide 3600, and at most 600 so the busiest-10-minute query has two samples */
        historyStepSeconds: z
          .number()
          .int()
          .positive()
          .max(600)
          .refine((s) => 3600 % s === 0, { message: 'must divide 3600' })
          .default(600),
        /** the live validation over the workload's own metrics: one metric day lasts this long */
        liveDaySeconds: seconds.default(45),
        /** the live day's points ("hours"); liveDaySeconds must be a multiple, and above two scrapes */
        liveResolutionSeconds: z.number().int().min(10).default(15),
        /** days per live week */
        liveDaysPerWeek: z.number().int().min(1).max(7).default(1),
        /** live weeks before the decision (seed 000's 2-week minimum) */
        liveWeeks: z.number().int().min(2).max(6).default(2),
        /** wait after a live day's end before its snapshot, so the last scrapes land */
        liveSettleSeconds: z.number().int().nonnegative().default(10),
      })
      .prefault({})
      .refine((v) => v.liveDaySeconds % v.liveResolutionSeconds === 0, {
        message: 'must be a multiple of liveResolutionSeconds',
        path: ['liveDaySeconds'],
      }),
    canary: z
      .object({
        /** each stage is held at most this long (a stage planned shorter keeps its own hold) */
        holdSeconds: z.number().int().nonnegative().default(30),
        /** one analysis every this many seconds; at least two scrape intervals (5 s each) */
        analysisIntervalSeconds: z.number().int().min(10).default(15),
        /** a rollout paused this long on an inconclusive analysis (no data) is rolled back with the reason */
        maxPausedSeconds: z.number().int().positive().default(60),
        /**
         * the latency trigger's approach-2 / approach-1 P95 ratio for the demo (the seed's 2× stays
         * canary.thresholds.p95Ratio): both approaches share the demo machine's cores, and shadow
         * work runs queued behind the served call, so a 2-core machine measures 2× without a fault,
         * and just after the cutover approach 1's P95 rests on the few calls it served (4.39× seen)
         */
        p95Ratio: z.number().positive().default(5),
        /**
         * the shadow stages' share of agents for the demo (the plan's 10 % stays canary.stages):
         * the demo runs three agents, and 10 % of three is most likely none — the shadow week then
         * has no approach-2 executions to judge and waits for data until the demo gives up
         */
        shadowPercent: z.number().int().min(1).max(100).default(100),
      })
      .prefault({}),
    baseline: z
      .object({
        /** requests per second of the compressed baseline */
        rps: z.number().positive().max(1000).default(4),
        /** connections of the compressed baseline */
        connections: z.number().int().min(1).max(100).default(2),
        /** workspaces the load's preflight creates from the demo remote */
        workspaces: z.number().int().min(1).max(50).default(3),
        /** warmup length, 0 to skip */
        warmupSeconds: z.number().int().nonnegative().default(20),
        /** baseline samples */
        samples: z.number().int().min(1).max(100).default(3),
        /** the length of one sample's window */
        intervalSeconds: seconds.default(20),
      })
      .prefault({}),
    drift: z
      .object({
        /** the short review's length */
        durationSeconds: seconds.default(60),
        /** one sample every this many seconds; at least two scrape intervals */
        intervalSeconds: z.number().int().min(10).default(10),
      })
      .prefault({})
      .refine((d) => d.durationSeconds >= 2 * d.intervalSeconds, {
        message: 'must be at least two intervals',
        path: ['durationSeconds'],
      }),
  })
  .prefault({});

export type DemoConfig = z.infer<typeof demoConfigSchema>;
