/**
 * Activities of driftReviewWorkflow (seed 001): record the review, take one sample of the
 * reviewed process from Prometheus, and write the verdict report. Samples are stored as they
 * are taken (one row per sample number), so the verdict reads the whole series back from
 * Postgres: a 48 h review at one sample a minute never carries 2,880 samples through history.
 */
import type { Config } from '../lib/config/index.js';
import {
  evaluateDrift, renderDriftMarkdown, type DriftSample, type DriftThresholds, type DriftVerdict,
} from '../lib/drift/verdict.js';
import { renderDriftQuery } from '../lib/drift/queries.js';
import { DomainError, ErrorType } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { PromClient } from '../lib/prom/client.js';
import type { ChartSpec } from '../lib/reports/types.js';
import {
  finishDriftReview, getDriftSample, listDriftSamples, upsertDriftReview, upsertDriftSample,
} from '../lib/store/drift.js';
import type { Queryable } from '../lib/store/queryable.js';
import { toActivityFailure } from './git.js';
import { createReportActivities } from './reports.js';

export interface DriftTargetInput {
  /** Prometheus scrape job of the reviewed process */
  job: string;
  /** instance regex (`.+`: every instance of the job) */
  instance: string;
}

export interface BeginDriftReviewInput {
  reviewId: string;
  target: DriftTargetInput;
  durationSeconds: number;
  intervalSeconds: number;
  /** T0, unix seconds (workflow clock) */
  startedAt: number;
}

export interface SampleDriftInput {
  reviewId: string;
  /** 0 is the T0 capture */
  sampleNum: number;
  /** unix seconds the sample stands for (workflow clock): Prometheus is asked at this instant, so a retry reads the same data */
  at: number;
  target: DriftTargetInput;
  intervalSeconds: number;
  /** per-review PromQL overrides by name (`drift.<quantity>`) */
  queryOverrides?: Record<string, string>;
}

export interface WriteDriftReportInput {
  reviewId: string;
  target: DriftTargetInput;
  durationSeconds: number;
  intervalSeconds: number;
  thresholds: DriftThresholds;
  /** unix seconds (workflow clock) */
  finishedAt: number;
}

export interface DriftReportResult {
  reportId: string;
  passed: boolean;
  met: number;
  /** "N/7 criteria met" */
  summary: string;
  failed: string[];
  missing: string[];
  samples: number;
}

export interface DriftActivityDeps {
  db: Queryable;
  prom: Pick<PromClient, 'queryScalar'>;
  /** named PromQL (`config.queries`: defaults merged with temporal.yaml) */
  config: Pick<Config, 'queries'>;
  log: Logger;
  reportsDir: string;
}

/** DriftSample field ← query name. */
const FIELDS: [keyof Omit<DriftSample, 'at'>, string][] = [
  ['uptimeSeconds', 'drift.uptime_seconds'],
  ['startTimeSeconds', 'drift.start_time_seconds'],
  ['rssBytes', 'drift.rss_bytes'],
  ['cpuPercent', 'drift.cpu_percent'],
  ['openFds', 'drift.open_fds'],
  ['activeHandles', 'drift.active_handles'],
  ['criticalErrorsTotal', 'drift.critical_errors_total'],
  ['backgroundTasksHealthy', 'drift.background_tasks_healthy'],
];

export const driftReportId = (reviewId: string): string => `${reviewId}-verdict`;

const mbSeries = (samples: readonly DriftSample[]): [number, number | null][] =>
  samples.map((s) => [s.at, typeof s.rssBytes === 'number' ? Number((s.rssBytes / 1048576).toFixed(2)) : null]);

function charts(samples: readonly DriftSample[], th: DriftThresholds): ChartSpec[] {
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const rss0 = num(samples[0]?.rssBytes);
  return [
    {
      title: 'Resident memory', unit: 'MB', series: [{ name: 'RSS', points: mbSeries(samples) }],
      ...(rss0 !== null ? { threshold: { value: Number(((rss0 * (1 + th.memoryGrowthMax)) / 1048576).toFixed(2)), label: `T0 + ${Math.round(th.memoryGrowthMax * 100)}%` } } : {}),
    },
    { title: 'CPU', unit: '%', series: [{ name: 'CPU', points: samples.map((s) => [s.at, num(s.cpuPercent)]) }], threshold: { value: th.cpuAvgMaxPercent, label: `avg limit ${th.cpuAvgMaxPercent}%` } },
    {
      title: 'Handles', unit: 'count',
      series: [
        { name: 'open fds', points: samples.map((s) => [s.at, num(s.openFds)]) },
        { name: 'active handles', points: samples.map((s) => [s.at, num(s.activeHandles)]) },
      ],
    },
  ];
}

const CSV_FIELDS = ['at', ...FIELDS.map(([f]) => f)] as const;

function samplesCsv(samples: readonly (DriftSample & { sampleNum: number })[]): string {
  const lines = [['sample_num', ...CSV_FIELDS].join(',')];
  for (const s of samples) {
    lines.push([String(s.sampleNum), ...CSV_FIELDS.map((f) => {
      const v = s[f as keyof DriftSample];
      if (f === 'at') return new Date((v as number) * 1000).toISOString();
      return typeof v === 'number' && Number.isFinite(v) ? String(v) : typeof v === 'boolean' ? (v ? '1' : '0') : 'NA';
    })].join(','));
  }
  return lines.join('\n') + '\n';
}

/**
 * Builds the drift activities. All are idempotent: the review row and each sample are inserted
 * once per id (a retried sample returns the stored one), the report is an upsert.
 */
export function createDriftActivities(deps: DriftActivityDeps) {
  const { db, prom, log } = deps;
  const reports = createReportActivities({ db, reportsDir: deps.reportsDir });

  return {
    async beginDriftReview(input: BeginDriftReviewInput): Promise<void> {
      await upsertDriftReview(db, { id: input.reviewId, target: input.target, durationSeconds: input.durationSeconds, intervalSeconds: input.intervalSeconds, startedAt: new Date(input.startedAt * 1000) });
    },

    /**
     * Runs the drift queries for the target at `at` and stores the row. A quantity whose query
     * returns nothing is null (the verdict counts it as no data); an unreachable Prometheus fails
     * the attempt so Temporal retries it — the same instant is asked again.
     */
    async sampleDrift(input: SampleDriftInput): Promise<DriftSample> {
      const existing = await getDriftSample(db, input.reviewId, input.sampleNum);
      if (existing) return existing;
      const queries = { ...deps.config.queries, ...(input.queryOverrides ?? {}) };
      const sample: DriftSample = { at: input.at };
      try {
        await Promise.all(FIELDS.map(async ([field, name]) => {
          const promql = queries[name];
          if (promql === undefined) { sample[field] = null; return; }
          const q = renderDriftQuery(promql, { job: input.target.job, instance: input.target.instance, windowSeconds: input.intervalSeconds });
          const r = await prom.queryScalar(q, input.at);
          sample[field] = r.kind === 'value' && Number.isFinite(r.value) ? r.value : null;
        }));
      } catch (e) {
        throw toActivityFailure(e instanceof DomainError ? e : new DomainError(ErrorType.Internal, (e as Error).message));
      }
      await upsertDriftSample(db, input.reviewId, input.sampleNum, sample);
      // a concurrent attempt may have stored first: the stored row is the sample
      const kept = await getDriftSample(db, input.reviewId, input.sampleNum);
      log.debug({ reviewId: input.reviewId, sampleNum: input.sampleNum }, 'drift sample stored');
      return kept ?? sample;
    },

    /** The verdict at T+duration (lib/drift/verdict.ts) over every stored sample, as a report page with charts and the samples CSV. */
    async writeDriftReport(input: WriteDriftReportInput): Promise<DriftReportResult> {
      const all = await listDriftSamples(db, input.reviewId);
      const t0 = all.find((s) => s.sampleNum === 0);
      if (!t0) throw toActivityFailure(new DomainError(ErrorType.NoData, `drift review ${input.reviewId} has no T0 sample`, { retryable: false }));
      const periodic = all.filter((s) => s.sampleNum > 0);
      const verdict: DriftVerdict = evaluateDrift({ t0, samples: periodic, durationSeconds: input.durationSeconds, thresholds: input.thresholds });
      const title = `Drift review — ${input.target.job} — ${input.reviewId}`;
      const markdown = [
        renderDriftMarkdown(verdict, title).trimEnd(),
        '',
        `- Target: job \`${input.target.job}\`, instance \`${input.target.instance}\``,
        `- T0 ${new Date(t0.at * 1000).toISOString()}, ${periodic.length} samples every ${input.intervalSeconds} s over ${input.durationSeconds} s`,
        '',
      ].join('\n');
      const id = driftReportId(input.reviewId);
      await reports.writeReport({
        id, kind: 'drift-verdict', runId: input.reviewId, title, markdown, charts: charts(all, input.thresholds),
        data: { verdict, target: input.target }, files: [{ name: 'drift-samples.csv', content: samplesCsv(all) }],
      });
      await finishDriftReview(db, input.reviewId, { finishedAt: new Date(input.finishedAt * 1000), verdict });
      log.info({ reviewId: input.reviewId, met: verdict.met, passed: verdict.passed, failed: verdict.failed }, 'drift review verdict');
      return { reportId: id, passed: verdict.passed, met: verdict.met, summary: verdict.summary, failed: verdict.failed, missing: verdict.missing, samples: periodic.length };
    },
  };
}

export type DriftActivities = ReturnType<typeof createDriftActivities>;
