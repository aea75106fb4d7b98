/**
 * Activities of driftReviewWorkflow (seed 001): record the review, take one sample of every
 * reviewed process from Prometheus, and write the verdict report. Samples are stored as they
 * are taken (one row per sample number holding every process's values), so the verdict reads the
 * whole series back from Postgres: a 48 h review at one sample a minute never carries 2,880
 * samples through history.
 *
 * Inputs name the processes as `targets`; a review started before reviews covered several
 * processes (or an attempt scheduled by it) names one `target`, which is read as a list of one.
 */
import type { Config } from '../lib/config/index.js';
import {
  evaluateDriftReview,
  renderDriftReviewMarkdown,
  seriesOf,
  targetName,
  toSampleSet,
  type DriftReviewVerdict,
  type DriftSampleSet,
  type DriftTargetRef,
  type DriftValues,
} from '../lib/drift/review.js';
import type { DriftSample, DriftThresholds } from '../lib/drift/verdict.js';
import { renderDriftQuery } from '../lib/drift/queries.js';
import { DomainError, ErrorType } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { PromClient } from '../lib/prom/client.js';
import type { ChartSpec } from '../lib/reports/types.js';
import { createDriftReviewRepository, createDriftSampleRepository } from '../lib/store/drift.js';
import type { Queryable } from '../lib/store/queryable.js';
import { createReportActivities } from './reports.js';

/** A process to review: its name in the verdict, Prometheus scrape job and instance regex (`.+`: every instance of the job). */
export type DriftTargetInput = DriftTargetRef;

/** The processes of a review: `targets`, or the one `target` of a review started before. */
interface ReviewTargets {
  targets?: DriftTargetInput[];
  /** @deprecated one process, as reviews named it before they covered several */
  target?: DriftTargetInput;
}

export interface BeginDriftReviewInput extends ReviewTargets {
  reviewId: string;
  durationSeconds: number;
  intervalSeconds: number;
  /** T0, unix seconds (workflow clock) */
  startedAt: number;
}

export interface SampleDriftInput extends ReviewTargets {
  reviewId: string;
  /** 0 is the T0 capture */
  sampleNum: number;
  /** unix seconds the sample stands for (workflow clock): Prometheus is asked at this instant, so a retry reads the same data */
  at: number;
  intervalSeconds: number;
  /** per-review PromQL overrides by name (`drift.<quantity>`) */
  queryOverrides?: Record<string, string>;
}

export interface WriteDriftReportInput extends ReviewTargets {
  reviewId: string;
  durationSeconds: number;
  intervalSeconds: number;
  thresholds: DriftThresholds;
  /** shortest review reported as `full` (absent in reviews started before: 48 h) */
  fullReviewMinSeconds?: number;
  /** unix seconds (workflow clock) */
  finishedAt: number;
}

/** One process's verdict, as the workflow returns it. */
export interface DriftProcessResult {
  name: string;
  job: string;
  passed: boolean;
  met: number;
  /** "N/7 criteria met" */
  summary: string;
  failed: string[];
  missing: string[];
}

export interface DriftReportResult {
  reportId: string;
  /** true only when every process meets 7/7 */
  passed: boolean;
  /** `provisional` (a short soak) or `full` (at least drift.fullReviewMinSeconds observed) */
  mode: 'provisional' | 'full';
  /** criteria met by the weakest process */
  met: number;
  /** overall: "FAIL (provisional) — worker: 6/7 criteria met (failed: memory_growth); api: 7/7 criteria met" */
  summary: string;
  /** `process:criterion` that failed (memory_growth, cpu, …) / had no data */
  failed: string[];
  missing: string[];
  /** the processes that did not meet 7/7 */
  failedProcesses: string[];
  /** per process: "N/7 criteria met", failed and missing criteria */
  processes: DriftProcessResult[];
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
const FIELDS: [keyof DriftValues, string][] = [
  ['uptimeSeconds', 'drift.uptime_seconds'],
  ['startTimeSeconds', 'drift.start_time_seconds'],
  ['rssBytes', 'drift.rss_bytes'],
  ['heapUsedBytes', 'drift.heap_used_bytes'],
  ['cpuPercent', 'drift.cpu_percent'],
  ['openFds', 'drift.open_fds'],
  ['activeHandles', 'drift.active_handles'],
  ['eventLoopLagP99Seconds', 'drift.eventloop_lag_p99_seconds'],
  ['criticalErrorsTotal', 'drift.critical_errors_total'],
  ['backgroundTasksHealthy', 'drift.background_tasks_healthy'],
];

export const driftReportId = (reviewId: string): string => `${reviewId}-verdict`;

/** The review's processes; none is a permanent error (retrying cannot add one). */
export function reviewTargets(input: ReviewTargets): DriftTargetInput[] {
  const ts = input.targets ?? (input.target ? [input.target] : []);
  if (ts.length === 0)
    throw new DomainError(ErrorType.Validation, 'a drift review needs at least one target', {
      retryable: false,
      details: { field: 'targets' },
    });
  return ts;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const mib = (v: unknown): number | null => (num(v) === null ? null : Number(((v as number) / 1048576).toFixed(2)));

function charts(
  sets: readonly DriftSampleSet[],
  targets: readonly DriftTargetInput[],
  th: DriftThresholds,
): ChartSpec[] {
  const names = targets.map(targetName);
  const series = (label: string, value: (s: DriftSample) => number | null) =>
    names.map((name) => ({
      name: names.length > 1 ? `${name}${label ? ` ${label}` : ''}` : label || name,
      points: seriesOf(sets, name).map((s): [number, number | null] => [s.at, value(s)]),
    }));
  // one process: its T0 + growth limit as a line (with several, each has its own T0)
  const rss0 = names.length === 1 ? num(seriesOf(sets, names[0])[0]?.rssBytes) : null;
  return [
    {
      title: 'Resident memory',
      unit: 'MB',
      series: series('RSS', (s) => mib(s.rssBytes)),
      ...(rss0 !== null
        ? {
            threshold: {
              value: Number(((rss0 * (1 + th.memoryGrowthMax)) / 1048576).toFixed(2)),
              label: `T0 + ${Math.round(th.memoryGrowthMax * 100)}%`,
            },
          }
        : {}),
    },
    { title: 'Heap used', unit: 'MB', series: series('heap', (s) => mib(s.heapUsedBytes)) },
    {
      title: 'CPU',
      unit: '%',
      series: series('CPU', (s) => num(s.cpuPercent)),
      threshold: { value: th.cpuAvgMaxPercent, label: `avg limit ${th.cpuAvgMaxPercent}%` },
    },
    {
      title: 'Handles',
      unit: 'count',
      series: [...series('open fds', (s) => num(s.openFds)), ...series('active handles', (s) => num(s.activeHandles))],
    },
    {
      title: 'Event-loop lag p99',
      unit: 'ms',
      series: series('lag p99', (s) =>
        num(s.eventLoopLagP99Seconds) === null
          ? null
          : Number(((s.eventLoopLagP99Seconds as number) * 1000).toFixed(3)),
      ),
    },
  ];
}

const CSV_FIELDS = FIELDS.map(([f]) => f);

/** One line per sample and process: `sample_num,process,job,at,<quantities>`. */
function samplesCsv(
  sets: readonly (DriftSampleSet & { sampleNum: number })[],
  targets: readonly DriftTargetInput[],
): string {
  const lines = [['sample_num', 'process', 'job', 'at', ...CSV_FIELDS].join(',')];
  for (const s of sets) {
    for (const t of targets) {
      const v = s.targets[targetName(t)] ?? {};
      lines.push(
        [
          String(s.sampleNum),
          targetName(t),
          t.job,
          new Date(s.at * 1000).toISOString(),
          ...CSV_FIELDS.map((f) => {
            const x = v[f];
            return typeof x === 'number' && Number.isFinite(x)
              ? String(x)
              : typeof x === 'boolean'
                ? x
                  ? '1'
                  : '0'
                : 'NA';
          }),
        ]
          .map((c) => (/[",\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c))
          .join(','),
      );
    }
  }
  return lines.join('\n') + '\n';
}

function processResult(v: DriftReviewVerdict['processes'][number]): DriftProcessResult {
  return {
    name: v.name,
    job: v.job,
    passed: v.passed,
    met: v.met,
    summary: v.summary,
    failed: v.failed,
    missing: v.missing,
  };
}

/**
 * Builds the drift activities. All are idempotent: the review row and each sample are inserted
 * once per id (a retried sample returns the stored one), the report is an upsert.
 */
export function createDriftActivities(deps: DriftActivityDeps) {
  const { db, prom, log } = deps;
  const reviewRepo = createDriftReviewRepository(db);
  const sampleRepo = createDriftSampleRepository(db);
  const reports = createReportActivities({ db, reportsDir: deps.reportsDir });

  return {
    async beginDriftReview(input: BeginDriftReviewInput): Promise<void> {
      await reviewRepo.upsert({
        id: input.reviewId,
        target: reviewTargets(input),
        durationSeconds: input.durationSeconds,
        intervalSeconds: input.intervalSeconds,
        startedAt: new Date(input.startedAt * 1000),
      });
    },

    /**
     * Runs the drift queries for every target at `at` and stores the row. A quantity whose query
     * returns nothing is null (the verdict counts it as no data); an unreachable Prometheus fails
     * the attempt so Temporal retries it — the same instant is asked again.
     */
    async sampleDrift(input: SampleDriftInput): Promise<DriftSampleSet> {
      const targets = reviewTargets(input);
      const legacyName = targetName(targets[0]);
      const existing = await sampleRepo.find(input.reviewId, input.sampleNum);
      if (existing) return toSampleSet(existing, legacyName);
      const queries = { ...deps.config.queries, ...(input.queryOverrides ?? {}) };
      const set: DriftSampleSet = { at: input.at, targets: {} };
      try {
        await Promise.all(
          targets.map(async (t) => {
            const values: DriftValues = {};
            set.targets[targetName(t)] = values;
            await Promise.all(
              FIELDS.map(async ([field, name]) => {
                const promql = queries[name];
                if (promql === undefined) {
                  values[field] = null;
                  return;
                }
                const q = renderDriftQuery(promql, {
                  job: t.job,
                  instance: t.instance,
                  windowSeconds: input.intervalSeconds,
                });
                const r = await prom.queryScalar(q, input.at);
                values[field] = r.kind === 'value' && Number.isFinite(r.value) ? r.value : null;
              }),
            );
          }),
        );
      } catch (e) {
        // an error the Prometheus client did not classify fails the sample for good (InternalError is not retried)
        throw e instanceof DomainError ? e : new DomainError(ErrorType.Internal, (e as Error).message, { cause: e });
      }
      await sampleRepo.upsert(input.reviewId, input.sampleNum, set);
      // a concurrent attempt may have stored first: the stored row is the sample
      const kept = await sampleRepo.find(input.reviewId, input.sampleNum);
      log.debug(
        { reviewId: input.reviewId, sampleNum: input.sampleNum, targets: targets.length },
        'drift sample stored',
      );
      return kept ? toSampleSet(kept, legacyName) : set;
    },

    /**
     * The verdict at T+duration over every stored sample (lib/drift/review.ts): per process the
     * T0 / T+N / Delta table and "N/7 criteria met", overall PASS only when every process passes,
     * provisional or full; a report page with charts and the samples CSV.
     */
    async writeDriftReport(input: WriteDriftReportInput): Promise<DriftReportResult> {
      const targets = reviewTargets(input);
      const legacyName = targetName(targets[0]);
      const rows = await sampleRepo.list(input.reviewId);
      const sets = rows.map((r) => ({ sampleNum: r.sampleNum, ...toSampleSet(r, legacyName) }));
      const t0 = sets.find((s) => s.sampleNum === 0);
      if (!t0)
        throw new DomainError(ErrorType.NoData, `drift review ${input.reviewId} has no T0 sample`, {
          retryable: false,
        });
      const periodic = sets.filter((s) => s.sampleNum > 0);
      const verdict = evaluateDriftReview({
        processes: targets.map((t) => ({
          name: targetName(t),
          job: t.job,
          instance: t.instance,
          t0: seriesOf([t0], targetName(t))[0],
          samples: seriesOf(periodic, targetName(t)),
        })),
        durationSeconds: input.durationSeconds,
        thresholds: input.thresholds,
        fullMinSeconds: input.fullReviewMinSeconds,
      });
      const title = `Drift review — ${targets.map(targetName).join(', ')} — ${input.reviewId}`;
      const markdown = [
        renderDriftReviewMarkdown(verdict, title).trimEnd(),
        '',
        `- T0 ${new Date(t0.at * 1000).toISOString()}, ${periodic.length} samples every ${input.intervalSeconds} s over ${input.durationSeconds} s`,
        '',
      ].join('\n');
      const id = driftReportId(input.reviewId);
      await reports.writeReport({
        id,
        kind: 'drift-verdict',
        runId: input.reviewId,
        title,
        markdown,
        charts: charts(sets, targets, input.thresholds),
        data: { verdict, targets },
        files: [{ name: 'drift-samples.csv', content: samplesCsv(sets, targets) }],
      });
      await reviewRepo.finish(input.reviewId, { finishedAt: new Date(input.finishedAt * 1000), verdict });
      log.info(
        {
          reviewId: input.reviewId,
          mode: verdict.mode,
          passed: verdict.passed,
          failedProcesses: verdict.failedProcesses,
          failed: verdict.failed,
        },
        'drift review verdict',
      );
      return {
        reportId: id,
        passed: verdict.passed,
        mode: verdict.mode,
        met: verdict.met,
        summary: verdict.summary,
        failed: verdict.failed,
        missing: verdict.missing,
        failedProcesses: verdict.failedProcesses,
        processes: verdict.processes.map(processResult),
        samples: periodic.length,
      };
    },
  };
}

export type DriftActivities = ReturnType<typeof createDriftActivities>;
