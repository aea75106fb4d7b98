/**
 * Activities of productionBaselineWorkflow (seed 003): preflight, environment capture, one load
 * window with its sample, the day-1 report + SLO draft, and the final (or partial) artifacts.
 *
 * Design — one activity per sample window. `runLoadWindow` runs the open-loop load engine for
 * exactly one sample interval, then samples that same window (the profile's PromQL with
 * `$window` = the interval, at the window's end; the engine's own window statistics fill the
 * columns Prometheus has no value for), stores the row, and returns it. The workflow judges the
 * breaker on each returned window and starts the next window only when it holds, so a trip
 * stops the load within one sample interval, and `status` shows every sample as it lands.
 * The load pauses between windows only for one workflow task (milliseconds). A window retried
 * after a worker crash finds an already-stored row and returns it, or measures the window anew:
 * a sample is never lost and never stored twice (UNIQUE (run_id, phase, sample_num)).
 *
 * Secrets: inputs carry a token *reference* (`tokenRef`, e.g. SGC_BASELINE_TOKEN) that
 * `deps.tokenFor` resolves inside the worker; the token goes into request headers only — never
 * into history, logs, rows, reports or errors.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import type { Config } from '../lib/config/index.js';
import { tarGz, manifestOf, sha256Hex, type ArchiveEntry } from '../lib/baseline/archive.js';
import {
  evaluateBreaker,
  type BreakerDecision,
  type BreakerRule,
  type BreakerThresholds,
  type LiveTrip,
  type SlidingBreakerOptions,
} from '../lib/baseline/breaker.js';
import { startGuardedLoad, type GuardedLoadResult } from '../lib/baseline/guarded-load.js';
import {
  evaluateCriteria,
  type CriteriaResult,
  type CriteriaThresholds,
  type MergedLatency,
} from '../lib/baseline/criteria.js';
import {
  loadStatistics,
  normalizeValues,
  resolveProfile,
  toCsv,
  type BaselineSample,
  type CsvColumn,
  type CsvProfile,
  type SampleValue,
} from '../lib/baseline/csv.js';
import { baselineQueryKey, renderBaselineQuery } from '../lib/baseline/queries.js';
import {
  buildCompletionSummary,
  buildMetadata,
  buildProductionReport,
  captureEnvironment as workerEnvironment,
  configDigest,
  sanitizeConfig,
  type BaselineMetadata,
  type PhaseResult,
  type RunOutcome,
} from '../lib/baseline/report.js';
import {
  recommendSlo,
  renderSloMarkdown,
  renderSlothYaml,
  type SloOptions,
  type SloRecommendation,
} from '../lib/baseline/slo.js';
import { DomainError, ErrorType } from '../lib/errors.js';
import {
  defaultGitMix,
  mergeLatencyHistograms,
  startLoad,
  type HttpMethod,
  type LoadOptions,
  type LoadRun,
  type RequestSpec,
  type StatusCounts,
} from '../lib/load/engine.js';
import { sanitizeUrl, type Logger } from '../lib/log.js';
import type { PromClient } from '../lib/prom/client.js';
import {
  createBaselineRunRepository,
  createBaselineSampleRepository,
  type BaselineSamplePhase,
  type StoredBaselineSample,
} from '../lib/store/baseline.js';
import type { Queryable } from '../lib/store/queryable.js';
import { createReportActivities } from './reports.js';

/** The request mix: our git API (default) or a fixed list of requests for any HTTP service. */
export type LoadMix =
  | {
      kind: 'git';
      /** workspaces to load; when empty, preflight creates `workspaces` of them from `repoUrl` */
      workspaceIds?: string[];
      repoUrl?: string;
      workspaces?: number;
      weights?: { status?: number; diff?: number; edit?: number };
    }
  | {
      kind: 'requests';
      requests: {
        name: string;
        weight: number;
        method: HttpMethod;
        path: string;
        body?: string;
        contentType?: string;
      }[];
    };

/** What the load hits. */
export interface LoadTarget {
  /** base URL without credentials, e.g. http://127.0.0.1:8080 */
  baseUrl: string;
  /** name of the bearer token the worker resolves (`deps.tokenFor`); never the token itself */
  tokenRef?: string;
  /** answers 2xx when the target is healthy (preflight) */
  healthPath: string;
  /** answers 2xx to an authenticated GET; default: derived from the mix */
  authCheckPath?: string;
  mix: LoadMix;
}

export interface FlagExpectation {
  percent?: number;
  shadow?: boolean;
}

export interface PreflightInput {
  runId: string;
  /** unix seconds, the workflow's start */
  startedAt: number;
  target: LoadTarget;
  /** `$job` of the baseline queries: whose process metrics count */
  job: string;
  expectedFlags: Record<string, FlagExpectation>;
  /** the run's input, stored sanitised as the run's config */
  parameters: Record<string, unknown>;
}

export interface PreflightCheck {
  name: 'prometheus' | 'target_scraped' | 'target_health' | 'token' | 'flags' | 'workspaces';
  ok: boolean;
  detail: string;
}

export interface PreflightResult {
  checks: PreflightCheck[];
  /** the git mix's workspaces (given, or created now); empty for a request mix */
  workspaceIds: string[];
  /** true when preflight created the workspaces (finalisation releases them) */
  createdWorkspaces: boolean;
}

export interface CaptureEnvironmentInput {
  runId: string;
  target: Pick<LoadTarget, 'baseUrl' | 'healthPath'>;
  parameters: Record<string, unknown>;
}

export interface LoadWindowInput {
  runId: string;
  phase: BaselineSamplePhase;
  /** 1..N within the phase */
  sampleNum: number;
  windowSeconds: number;
  target: LoadTarget;
  rps: number;
  connections: number;
  requestTimeoutMs: number;
  maxInFlight?: number;
  profile: CsvProfile;
  job: string;
  /** seed 003's fallback scenario (COUNT_CACHE_MISS_AS_FALLBACK=true): misses count as effective fallback */
  countCacheMissAsFallback?: boolean;
  /** per-run PromQL overrides by name (`baseline.<column>`) */
  queryOverrides?: Record<string, string>;
  /** the breaker judged live while the window runs (absent: judged only after the window) */
  liveBreaker?: SlidingBreakerOptions & { checkEverySeconds: number };
}

/** The engine's (client-side) view of a window. */
export interface ClientWindowStats {
  completed: number;
  rps: number;
  errorRate: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  status: StatusCounts;
  errorCodes: Record<string, number>;
  /** the window's latency histogram (HDR, compressed base64): a phase's percentiles merge these */
  latencyHistogram?: string;
}

export interface LoadWindowResult extends BaselineSample {
  phase: BaselineSamplePhase;
  windowSeconds: number;
  client: ClientWindowStats;
  /** columns Prometheus had no value for, filled from the engine's window */
  filledFromLoad: string[];
  /** queries that failed (name: reason), their columns are NA */
  promErrors: string[];
  /** true when an earlier attempt had already stored this window */
  reused: boolean;
  /** the live breaker stopped the load during this window (the row holds what ran until then) */
  liveTrip?: LiveTrip & { stoppedAt: number | null };
}

/** A sampled phase as the workflow planned it. */
export interface PhasePlan {
  phase: BaselineSamplePhase;
  rps: number;
  connections: number;
  intervalSeconds: number;
  samples: number;
}

export interface ReportSettings {
  runId: string;
  profile: CsvProfile;
  criteria: CriteriaThresholds;
  breaker: BreakerThresholds;
  slo: SloOptions;
}

export interface Day1ReportInput extends ReportSettings {
  baseline: PhasePlan;
}

export interface Day1ReportResult {
  reportIds: string[];
  decision: 'go' | 'no-go';
  pass: number;
  fail: number;
  na: number;
}

export interface TripInfo {
  phase: BaselineSamplePhase;
  sampleNum: number;
  rule: string;
  value: number;
  threshold: number;
  reason: string;
}

export interface FinalizeInput extends ReportSettings {
  /** every sampled phase that was planned (with or without samples) */
  phases: PhasePlan[];
  outcome: RunOutcome;
  /** why the run ended early */
  reason?: string;
  trip?: TripInfo;
  /** unix seconds, from the workflow clock: the run record exists even when the run stopped before preflight */
  startedAt: number;
  /** unix seconds, from the workflow clock (a retry writes the same archive) */
  finishedAt: number;
  /** workspaces preflight created, to release */
  release?: { target: LoadTarget; workspaceIds: string[] };
}

export interface FinalizeResult {
  reportIds: string[];
  files: string[];
  archive: { name: string; sha256: string; bytes: number };
  decision: 'go' | 'no-go';
}

export interface BaselineActivityDeps {
  db: Queryable;
  prom: Pick<PromClient, 'query' | 'queryScalar'>;
  /** named PromQL (`config.queries`: defaults merged with temporal.yaml) */
  config: Pick<Config, 'queries'>;
  log: Logger;
  /** resolves a token reference to the token (e.g. from the worker's environment); undefined when unknown */
  tokenFor: (ref: string) => string | undefined;
  reportsDir: string;
  /** flags for the preflight check and the environment capture; without it expected flags cannot be checked */
  flags?: { list(): Promise<{ operation: string; percent: number; shadow: boolean }[]> };
  /** environment capture inputs: this worker's host name and the deployed git sha */
  hostname: string;
  gitSha?: string | null;
}

const HTTP_TIMEOUT_MS = 10_000;
/** PromQL queries of one sample run this many at a time */
const QUERY_CONCURRENCY = 8;
const ARCHIVE_NAME = 'archive.tar.gz';
const MANIFEST_NAME = 'manifest.json';

/** Report ids of a run (predictable, so a retried write replaces the same report). */
export const baselineReportIds = {
  production: (runId: string, phase: BaselineSamplePhase): string =>
    phase === 'baseline' ? `${runId}-production` : `${runId}-production-${phase}`,
  slo: (runId: string): string => `${runId}-slo`,
  summary: (runId: string): string => `${runId}-summary`,
};

/** CSV file of a phase: the baseline's is `metrics.csv` (seed 003), the others are suffixed. */
export function csvFileName(phase: BaselineSamplePhase): string {
  return phase === 'baseline' ? 'metrics.csv' : `metrics-${phase}.csv`;
}

const PHASE_TITLE: Record<BaselineSamplePhase, string> = {
  warmup: 'warmup',
  baseline: 'day 1 baseline',
  extended: 'day 2 extended validation',
  fallback: 'fallback scenario',
};

function fail(
  type: (typeof ErrorType)[keyof typeof ErrorType],
  message: string,
  retryable: boolean,
  details: Record<string, unknown> = {},
): never {
  throw new DomainError(type, message, { retryable, details });
}

/** Stable short hash (FNV-1a) for names derived from a run id. */
function shortHash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + (path.startsWith('/') ? path : `/${path}`);
}

async function writeAtomic(path: string, content: Buffer | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, content);
  await rename(tmp, path);
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The requests of a mix, for the engine. */
export function buildMix(mix: LoadMix, runId: string, workspaceIds: readonly string[]): RequestSpec[] {
  if (mix.kind === 'git') {
    return defaultGitMix({ workspaceIds: [...workspaceIds], weights: mix.weights, runTag: `bl-${shortHash(runId)}` });
  }
  return mix.requests.map((r) => ({
    name: r.name,
    weight: r.weight,
    request: {
      method: r.method,
      path: r.path,
      ...(r.body !== undefined
        ? { body: r.body, headers: { 'content-type': r.contentType ?? 'application/json' } }
        : {}),
    },
  }));
}

function workspacesOf(target: LoadTarget): string[] {
  return target.mix.kind === 'git' ? [...(target.mix.workspaceIds ?? [])] : [];
}

function clientStats(w: {
  completed: number;
  rps: number;
  errorRate: number | null;
  latencyMs: { p95: number | null; p99: number | null };
  status: StatusCounts;
  errorCodes: Record<string, number>;
  latencyHistogram?: string;
}): ClientWindowStats {
  return {
    completed: w.completed,
    rps: w.rps,
    errorRate: w.errorRate,
    p95Ms: w.latencyMs.p95,
    p99Ms: w.latencyMs.p99,
    status: w.status,
    errorCodes: w.errorCodes,
    latencyHistogram: w.latencyHistogram,
  };
}

function toResult(s: StoredBaselineSample, reused: boolean): LoadWindowResult {
  const ls = s.loadStats as {
    client?: ClientWindowStats;
    filledFromLoad?: string[];
    promErrors?: string[];
    liveTrip?: LoadWindowResult['liveTrip'];
  };
  return {
    phase: s.phase,
    sampleNum: s.sampleNum,
    timestamp: s.timestamp,
    windowSeconds: s.windowSeconds,
    values: s.values,
    client: ls.client ?? {
      completed: 0,
      rps: 0,
      errorRate: null,
      p95Ms: null,
      p99Ms: null,
      status: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, other: 0, errors: 0 },
      errorCodes: {},
    },
    filledFromLoad: ls.filledFromLoad ?? [],
    promErrors: ls.promErrors ?? [],
    reused,
    ...(ls.liveTrip ? { liveTrip: ls.liveTrip } : {}),
  };
}

/** The phase's percentiles over all its requests, from the windows' stored histograms (none stored: undefined). */
function mergedLatencyOf(samples: readonly BaselineSample[]): MergedLatency | undefined {
  const encoded = samples
    .map((x) => (x as { loadStats?: { client?: ClientWindowStats } }).loadStats?.client?.latencyHistogram)
    .filter((e): e is string => typeof e === 'string' && e.length > 0);
  if (encoded.length === 0) return undefined;
  const l = mergeLatencyHistograms(encoded);
  return { p95: l.p95, p99: l.p99, count: l.count };
}

function phaseResult(
  plan: PhasePlan,
  samples: readonly BaselineSample[],
  s: ReportSettings,
  trip?: TripInfo,
): PhaseResult {
  const criteria = evaluateCriteria(samples, s.criteria, {
    profile: s.profile,
    expectedSamples: plan.samples,
    mergedLatency: mergedLatencyOf(samples),
  });
  const breaker: BreakerDecision | null =
    trip && trip.phase === plan.phase
      ? {
          ...evaluateBreaker(samples[samples.length - 1] ?? {}, s.breaker),
          state: 'tripped',
          tripped: true,
          rule: trip.rule as BreakerRule,
          value: trip.value,
          threshold: trip.threshold,
          sampleNum: trip.sampleNum,
          reason: trip.reason,
        }
      : samples.length > 0
        ? evaluateBreaker(samples[samples.length - 1], s.breaker)
        : null;
  return {
    name: PHASE_TITLE[plan.phase],
    samples,
    criteria,
    breaker,
    rps: plan.rps,
    connections: plan.connections,
    intervalSeconds: plan.intervalSeconds,
  };
}

/**
 * Builds the baseline activities. Every one is safe to retry: rows and reports are upserts on
 * natural keys, files are written atomically, the archive is byte-identical for the same run.
 */
export function createBaselineActivities(deps: BaselineActivityDeps) {
  const { db, prom, log } = deps;
  const runRepo = createBaselineRunRepository(db);
  const sampleRepo = createBaselineSampleRepository(db);
  const reports = createReportActivities({ db, reportsDir: deps.reportsDir });

  function authHeaders(target: LoadTarget): Record<string, string> {
    if (!target.tokenRef) return {};
    const token = deps.tokenFor(target.tokenRef);
    if (!token)
      fail(ErrorType.Validation, `token ${target.tokenRef} is not available to the worker`, false, {
        tokenRef: target.tokenRef,
      });
    return { authorization: `Bearer ${token}` };
  }

  /** One HTTP call for the preflight; transport errors become retryable Unavailable failures. */
  async function http(
    url: string,
    init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<{ status: number; body: unknown }> {
    let signal = AbortSignal.timeout(HTTP_TIMEOUT_MS);
    try {
      signal = AbortSignal.any([signal, Context.current().cancellationSignal]);
    } catch {
      // outside an activity (tests calling the function directly): the timeout alone
    }
    let res: Response;
    try {
      res = await fetch(url, { method: init.method ?? 'GET', headers: init.headers, body: init.body, signal });
    } catch (e) {
      const code = (e as { cause?: { code?: string } }).cause?.code;
      return fail(ErrorType.Unavailable, `${sanitizeUrl(url)} is unreachable${code ? ` (${code})` : ''}`, true);
    }
    const text = await res.text().catch(() => '');
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    return { status: res.status, body };
  }

  async function ensureWorkspaces(
    input: PreflightInput,
    headers: Record<string, string>,
  ): Promise<{ ids: string[]; created: boolean }> {
    const mix = input.target.mix;
    if (mix.kind !== 'git') return { ids: [], created: false };
    if (mix.workspaceIds && mix.workspaceIds.length > 0) return { ids: [...mix.workspaceIds], created: false };
    if (!mix.repoUrl)
      fail(ErrorType.Validation, 'the git mix needs workspaceIds or a repoUrl to create workspaces from', false, {
        field: 'target.mix',
      });
    const ids: string[] = [];
    const n = mix.workspaces ?? 10;
    const tag = shortHash(input.runId);
    for (let i = 0; i < n; i++) {
      // the idempotency key makes a retried preflight attach to the workspace it already created
      const res = await http(joinUrl(input.target.baseUrl, '/v1/workspaces'), {
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/json',
          'idempotency-key': `${input.runId.slice(0, 100)}-ws-${i}`,
        },
        body: JSON.stringify({ repoUrl: mix.repoUrl, taskId: `baseline-${tag}-${i}` }),
      });
      if (res.status === 401 || res.status === 403)
        fail(ErrorType.Auth, `the target refused the load token creating a workspace (HTTP ${res.status})`, false);
      if (res.status < 200 || res.status >= 300)
        fail(ErrorType.Unavailable, `creating load workspace ${i} failed (HTTP ${res.status})`, res.status >= 500);
      const id = (res.body as { id?: unknown } | null)?.id;
      if (typeof id !== 'string')
        fail(ErrorType.Unavailable, 'the target answered a workspace create without an id', false);
      ids.push(id);
      Context.current().heartbeat({ step: 'workspaces', created: i + 1, of: n });
    }
    return { ids, created: true };
  }

  /** Releases workspaces preflight created; best effort (the pool's cleanup reaps what escapes). */
  async function releaseWorkspaces(r: NonNullable<FinalizeInput['release']>): Promise<number> {
    let released = 0;
    let headers: Record<string, string>;
    try {
      headers = authHeaders(r.target);
    } catch {
      return 0;
    }
    for (const id of r.workspaceIds) {
      try {
        const res = await http(joinUrl(r.target.baseUrl, `/v1/workspaces/${encodeURIComponent(id)}`), {
          method: 'DELETE',
          headers,
        });
        if (res.status < 300 || res.status === 404) released++;
      } catch {
        // keep going: one stuck workspace must not keep the others
      }
    }
    return released;
  }

  /**
   * Runs the named query of every column of the profile that has one, for the window ending at
   * `at`; every other column starts as null (the engine's statistics fill those that take one).
   */
  async function queryWindow(
    input: LoadWindowInput,
    at: number,
  ): Promise<{ raw: Record<string, number | null>; errors: string[] }> {
    const queries = { ...deps.config.queries, ...(input.queryOverrides ?? {}) };
    const cols = resolveProfile(input.profile).columns.filter((c) => c.kind !== 'timestamp' && c.kind !== 'sample_num');
    const errors: string[] = [];
    const raw: Record<string, number | null> = Object.fromEntries(cols.map((c) => [c.name, null]));
    const one = async (col: CsvColumn): Promise<void> => {
      if (col.query === undefined) return;
      const promql = queries[col.query];
      // the starter checked the name against its config; this worker's config may lack it
      if (promql === undefined) {
        errors.push(`${col.name}: no query named ${col.query}`);
        return;
      }
      const q = renderBaselineQuery(promql, { windowSeconds: input.windowSeconds, job: input.job });
      for (let attempt = 1; ; attempt++) {
        try {
          const r = await prom.queryScalar(q, at);
          raw[col.name] = r.kind === 'value' ? r.value : null;
          return;
        } catch (e) {
          const retryable = e instanceof DomainError && e.retryable;
          if (retryable && attempt < 3) {
            await new Promise((res) => setTimeout(res, 250 * attempt));
            continue;
          }
          // one broken column must not cost the window: it is NA, and the row says why
          errors.push(`${col.name}: ${e instanceof DomainError ? e.type : 'error'}`);
          return;
        }
      }
    };
    await mapLimit(cols, QUERY_CONCURRENCY, one);
    return { raw, errors };
  }

  /** error_rate and effective_fallback_ratio over the last `spanSeconds`, from the service's metrics (no data: null). */
  async function queryBreakerSpan(
    input: LoadWindowInput,
    spanSeconds: number,
  ): Promise<{ error_rate: number | null; effective_fallback_ratio: number | null }> {
    const queries = { ...deps.config.queries, ...(input.queryOverrides ?? {}) };
    const read = async (col: string): Promise<number | null> => {
      const promql = queries[baselineQueryKey(col)];
      if (promql === undefined) return null;
      const r = await prom
        .queryScalar(renderBaselineQuery(promql, { windowSeconds: spanSeconds, job: input.job }), Date.now() / 1000)
        .catch(() => null);
      return r && r.kind === 'value' ? r.value : null;
    };
    const [errorRate, fallback] = await Promise.all([read('error_rate'), read('effective_fallback_ratio')]);
    return { error_rate: errorRate, effective_fallback_ratio: input.countCacheMissAsFallback ? null : fallback };
  }

  async function loadPhaseSamples(
    runId: string,
    phases: readonly PhasePlan[],
  ): Promise<Map<BaselineSamplePhase, StoredBaselineSample[]>> {
    const all = await sampleRepo.list(runId);
    const by = new Map<BaselineSamplePhase, StoredBaselineSample[]>();
    for (const p of phases) by.set(p.phase, []);
    for (const s of all) {
      if (!by.has(s.phase)) by.set(s.phase, []);
      by.get(s.phase)!.push(s);
    }
    return by;
  }

  async function metadataFile(
    runId: string,
    profile: CsvProfile,
  ): Promise<{ metadata: BaselineMetadata; file: { name: string; content: string } }> {
    const run = await runRepo.findById(runId);
    if (!run) fail(ErrorType.NotFound, `baseline run ${runId} has no record (preflight did not run)`, false);
    const cfg = run.config as { target?: { baseUrl?: string } };
    const env = run.environment as { worker?: ReturnType<typeof workerEnvironment> };
    const metadata = buildMetadata({
      runId,
      startedAt: run.startedAt.getTime() / 1000,
      target: cfg.target?.baseUrl ?? '',
      profile,
      parameters: run.config,
      environment: env.worker ?? workerEnvironment(deps.hostname),
      config: { ...run.config, environment: run.environment },
      configDigest: run.configDigest ?? '',
      gitSha: deps.gitSha ?? null,
    });
    return { metadata, file: { name: 'metadata.json', content: JSON.stringify(metadata, null, 2) + '\n' } };
  }

  async function writeSlo(
    s: ReportSettings,
    samples: readonly BaselineSample[],
  ): Promise<{ id: string; slo: SloRecommendation }> {
    const slo = recommendSlo(samples, s.slo);
    const id = baselineReportIds.slo(s.runId);
    await reports.writeReport({
      id,
      kind: 'baseline-slo',
      runId: s.runId,
      title: `SLO draft — ${slo.service} — ${s.runId}`,
      markdown: renderSloMarkdown(slo),
      data: { slo },
      files: [{ name: 'slo.sloth.yaml', content: renderSlothYaml(slo) }],
    });
    return { id, slo };
  }

  async function writeProduction(
    s: ReportSettings,
    plan: PhasePlan,
    samples: readonly BaselineSample[],
    meta: { metadata: BaselineMetadata; file: { name: string; content: string } },
    slo: SloRecommendation | null,
    trip?: TripInfo,
  ): Promise<{ id: string; phase: PhaseResult }> {
    const phase = phaseResult(plan, samples, s, trip);
    const content = buildProductionReport({
      runId: s.runId,
      profile: s.profile,
      phase,
      thresholds: { ...s.criteria, breakerErrorRateMax: s.breaker.errorRateMax },
      metadata: meta.metadata,
      slo: plan.phase === 'baseline' ? slo : null,
    });
    const id = baselineReportIds.production(s.runId, plan.phase);
    await reports.writeReport({
      id,
      kind: 'baseline-production',
      runId: s.runId,
      title: content.title,
      markdown: content.markdown,
      charts: content.charts,
      data: content.data,
      files: [{ name: csvFileName(plan.phase), content: toCsv(s.profile, samples) }, meta.file],
    });
    return { id, phase };
  }

  return {
    /**
     * Seed 003 "verify production access": records the run, then checks that Prometheus answers,
     * the target is healthy, the load token is accepted and flags are as expected; creates the
     * git mix's workspaces when none were given. A refused token or a flag mismatch fails for
     * good; an unreachable dependency is retried.
     */
    async preflight(input: PreflightInput): Promise<PreflightResult> {
      await runRepo.create({
        id: input.runId,
        startedAt: new Date(input.startedAt * 1000),
        config: sanitizeConfig(input.parameters),
      });
      const checks: PreflightCheck[] = [];
      await prom.query('vector(1)');
      checks.push({ name: 'prometheus', ok: true, detail: 'answers queries' });
      const up = await prom
        .query(renderBaselineQuery('up{job=~"$job"} == 1', { windowSeconds: 1, job: input.job }))
        .catch(() => null);
      // not fatal: without the target's own series the engine's window statistics fill in
      checks.push({
        name: 'target_scraped',
        ok: (up?.series.length ?? 0) > 0,
        detail: `${up?.series.length ?? 0} scrape targets up for job=~"${input.job}"`,
      });

      const health = await http(joinUrl(input.target.baseUrl, input.target.healthPath));
      if (health.status < 200 || health.status >= 300)
        fail(ErrorType.Unavailable, `target health check answered HTTP ${health.status}`, true);
      checks.push({ name: 'target_health', ok: true, detail: `HTTP ${health.status}` });

      if (Object.keys(input.expectedFlags).length > 0) {
        if (!deps.flags)
          fail(ErrorType.Validation, 'expected flag settings were given but this worker cannot read flags', false);
        const flags = new Map((await deps.flags.list()).map((f) => [f.operation, f]));
        const mismatches: string[] = [];
        for (const [op, want] of Object.entries(input.expectedFlags)) {
          const got = flags.get(op);
          if (!got) {
            mismatches.push(`${op}: no such flag`);
            continue;
          }
          if (want.percent !== undefined && got.percent !== want.percent)
            mismatches.push(`${op}: percent ${got.percent}, expected ${want.percent}`);
          if (want.shadow !== undefined && got.shadow !== want.shadow)
            mismatches.push(`${op}: shadow ${got.shadow}, expected ${want.shadow}`);
        }
        if (mismatches.length > 0)
          fail(ErrorType.Validation, `flags differ from the expected settings: ${mismatches.join('; ')}`, false, {
            mismatches,
          });
        checks.push({
          name: 'flags',
          ok: true,
          detail: `${Object.keys(input.expectedFlags).length} flags as expected`,
        });
      }

      const headers = authHeaders(input.target);
      const ws = await ensureWorkspaces(input, headers);
      if (input.target.mix.kind === 'git')
        checks.push({
          name: 'workspaces',
          ok: true,
          detail: `${ws.ids.length} workspaces${ws.created ? ' created' : ''}`,
        });

      if (input.target.tokenRef) {
        const mix = input.target.mix;
        const path =
          input.target.authCheckPath ??
          (mix.kind === 'git'
            ? ws.ids[0]
              ? `/v1/workspaces/${encodeURIComponent(ws.ids[0])}`
              : undefined
            : mix.requests.find((r) => r.method === 'GET')?.path);
        if (path === undefined) {
          checks.push({ name: 'token', ok: true, detail: 'not checked: no authenticated GET to try' });
        } else {
          const res = await http(joinUrl(input.target.baseUrl, path), { headers });
          if (res.status === 401 || res.status === 403)
            fail(ErrorType.Auth, `the target refused the load token (HTTP ${res.status})`, false);
          if (res.status < 200 || res.status >= 300)
            fail(ErrorType.Unavailable, `token check answered HTTP ${res.status}`, res.status >= 500);
          checks.push({ name: 'token', ok: true, detail: `accepted (HTTP ${res.status})` });
        }
      }
      log.info(
        { runId: input.runId, checks: checks.map((c) => `${c.name}:${c.ok ? 'ok' : 'warn'}`) },
        'baseline preflight passed',
      );
      return { checks, workspaceIds: ws.ids, createdWorkspaces: ws.created };
    },

    /**
     * Seed 003 `phase5-capture-env.sh`: the worker (Node, platform, host), the deployed git sha,
     * the target's health answer, the flags in force and the sanitised run parameters with their
     * digest, stored on the run (metadata.json is built from it).
     */
    async captureEnvironment(
      input: CaptureEnvironmentInput,
    ): Promise<{ configDigest: string; environment: Record<string, unknown> }> {
      const started = Date.now();
      const health = await http(joinUrl(input.target.baseUrl, input.target.healthPath)).catch(() => null);
      const flags = deps.flags
        ? await deps.flags.list().then(
            (fs) => Object.fromEntries(fs.map((f) => [f.operation, { percent: f.percent, shadow: f.shadow }])),
            () => null,
          )
        : null;
      const environment = {
        worker: workerEnvironment(deps.hostname),
        gitSha: deps.gitSha ?? null,
        target: {
          url: sanitizeUrl(input.target.baseUrl),
          healthStatus: health?.status ?? null,
          healthMs: Date.now() - started,
        },
        flags,
      };
      const digest = await configDigest(input.parameters);
      await runRepo.setEnvironment(input.runId, environment, digest);
      return { configDigest: digest, environment };
    },

    /**
     * Runs the load for one sample window and stores that window's row (see the module comment).
     * Heartbeats about every second with the engine's progress; a cancel (or worker shutdown)
     * aborts the load at once and stores nothing.
     */
    async runLoadWindow(input: LoadWindowInput): Promise<LoadWindowResult> {
      const ctx = Context.current();
      const stored = await sampleRepo.find(input.runId, input.phase, input.sampleNum);
      // an earlier attempt measured and stored this window, then died before reporting it
      if (stored) return toResult(stored, true);
      await runRepo.setPhase(input.runId, input.phase);
      const headers = authHeaders(input.target);
      let run: { run: LoadRun; done: Promise<GuardedLoadResult | null> };
      const loadOptions: LoadOptions = {
        target: input.target.baseUrl,
        rps: input.rps,
        connections: input.connections,
        durationMs: input.windowSeconds * 1000,
        mix: buildMix(input.target.mix, input.runId, workspacesOf(input.target)),
        headers,
        signal: ctx.cancellationSignal,
        requestTimeoutMs: input.requestTimeoutMs,
        maxInFlight: input.maxInFlight,
        onProgress: (p) =>
          ctx.heartbeat({
            phase: input.phase,
            sampleNum: input.sampleNum,
            elapsedMs: Math.round(p.elapsedMs),
            sent: p.sent,
            inFlight: p.inFlight,
            rps: Number(p.recent.rps.toFixed(2)),
            errorRate: p.recent.errorRate,
            p95Ms: p.recent.p95Ms,
          }),
      };
      try {
        const live = input.liveBreaker;
        run = live
          ? startGuardedLoad({
              load: loadOptions,
              breaker: live,
              // the service's own view over the breaker's span, read every few seconds
              server: {
                everyMs: live.checkEverySeconds * 1000,
                read: () => queryBreakerSpan(input, live.windowSeconds),
              },
            })
          : { run: startLoad(loadOptions), done: Promise.resolve(null) };
      } catch (e) {
        // invalid load options (the engine's messages carry no option values): retrying cannot help
        return fail(ErrorType.Validation, `invalid load options: ${(e as Error).message}`, false);
      }
      const guarded = await run.done;
      const window = guarded ? guarded.result : await run.run.done;
      if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
      const liveTrip = guarded?.trip ? { ...guarded.trip, stoppedAt: guarded.stoppedAt } : undefined;
      if (liveTrip)
        log.warn(
          {
            runId: input.runId,
            phase: input.phase,
            sampleNum: input.sampleNum,
            rule: liveTrip.rule,
            value: liveTrip.value,
          },
          'baseline breaker stopped the load mid-window',
        );
      ctx.heartbeat({ phase: input.phase, sampleNum: input.sampleNum, step: 'sampling' });

      const at = window.endedAt / 1000;
      const { raw, errors } = await queryWindow(input, at);
      // columns that take an engine statistic: alone, or where their query had no value
      const stats = loadStatistics(window);
      const filled: string[] = [];
      for (const c of resolveProfile(input.profile).columns) {
        if (c.load === undefined || c.load === 'timestamp' || c.load === 'sample_num') continue;
        const v = stats[c.load];
        if ((raw[c.name] === null || raw[c.name] === undefined) && v !== null) {
          raw[c.name] = v;
          filled.push(c.name);
        }
      }
      const values: Record<string, SampleValue> = normalizeValues(input.profile, raw);
      if (input.countCacheMissAsFallback) {
        values.effective_fallback_ratio = values.raw_fallback_ratio ?? null;
        if ('effective_fallback_total' in values) values.effective_fallback_total = values.raw_fallback_total ?? null;
      }
      const row: StoredBaselineSample = {
        phase: input.phase,
        sampleNum: input.sampleNum,
        timestamp: at,
        windowSeconds: input.windowSeconds,
        values,
        loadStats: {
          client: clientStats(window),
          filledFromLoad: filled,
          promErrors: errors,
          ...(liveTrip ? { liveTrip } : {}),
        },
      };
      await sampleRepo.upsert(input.runId, row, { keepExisting: true });
      const kept = await sampleRepo.find(input.runId, input.phase, input.sampleNum);
      log.info(
        {
          runId: input.runId,
          phase: input.phase,
          sampleNum: input.sampleNum,
          completed: window.completed,
          errorRate: window.errorRate,
          promErrors: errors.length,
        },
        'baseline sample stored',
      );
      return toResult(kept ?? row, false);
    },

    /** Seed 003 day 1 evening: production report of the baseline phase (metrics.csv, metadata.json) and the SLO draft. */
    async writeDay1Report(input: Day1ReportInput): Promise<Day1ReportResult> {
      const samples = await sampleRepo.list(input.runId, 'baseline');
      await runRepo.setPhase(input.runId, 'report');
      const meta = await metadataFile(input.runId, input.profile);
      const slo = await writeSlo(input, samples);
      const prod = await writeProduction(input, input.baseline, samples, meta, slo.slo);
      const c: CriteriaResult = prod.phase.criteria;
      return { reportIds: [prod.id, slo.id], decision: c.goNoGo.decision, ...c.counts };
    },

    /**
     * Finalisation (seed 003 day 2 afternoon, or the partial summary when the run stopped early):
     * a production report per sampled phase, the SLO draft, the completion or partial summary,
     * metadata.json, a manifest with every file's SHA-256 and the archive; then the run record is
     * closed and workspaces preflight created are released.
     */
    async finalizeArtifacts(input: FinalizeInput): Promise<FinalizeResult> {
      await runRepo.create({ id: input.runId, startedAt: new Date(input.startedAt * 1000), config: {} });
      const byPhase = await loadPhaseSamples(input.runId, input.phases);
      const meta = await metadataFile(input.runId, input.profile);
      const reportIds: string[] = [];
      const baselineSamples = byPhase.get('baseline') ?? [];
      const slo = baselineSamples.length > 0 ? await writeSlo(input, baselineSamples) : null;
      if (slo) reportIds.push(slo.id);
      const judged: PhaseResult[] = [];
      let fallbackNote: string | null = null;
      for (const plan of input.phases) {
        const samples = byPhase.get(plan.phase) ?? [];
        if (plan.phase === 'warmup' || samples.length === 0) continue;
        const prod = await writeProduction(input, plan, samples, meta, slo?.slo ?? null, input.trip);
        reportIds.push(prod.id);
        // the fallback scenario counts cache misses as fallback on purpose: informational, not a Go criterion
        if (plan.phase === 'fallback')
          fallbackNote = `Fallback scenario (cache misses counted as fallback): ${prod.phase.criteria.goNoGo.decision.toUpperCase()}, informational only.`;
        else judged.push(prod.phase);
      }
      const warmup = byPhase.get('warmup') ?? [];
      const extraFiles = [
        meta.file,
        ...(warmup.length > 0 ? [{ name: csvFileName('warmup'), content: toCsv(input.profile, warmup) }] : []),
      ];
      const runDir = join(deps.reportsDir, input.runId);
      const listed = new Set([
        ...(await readdir(runDir).catch(() => [] as string[])),
        ...extraFiles.map((f) => f.name),
      ]);
      const summaryId = baselineReportIds.summary(input.runId);
      for (const f of [`${summaryId}.md`, `${summaryId}.html`, MANIFEST_NAME, ARCHIVE_NAME]) listed.add(f);
      const run = await runRepo.findById(input.runId);
      const startedAt = run ? run.startedAt.getTime() / 1000 : input.startedAt;
      const summary = buildCompletionSummary({
        runId: input.runId,
        outcome: input.outcome,
        startedAt,
        finishedAt: input.finishedAt,
        phases: judged,
        slo: slo?.slo ?? null,
        artifacts: [...listed].filter((f) => !f.includes('.tmp-')).sort(),
        reason: input.reason,
      });
      const markdown = fallbackNote ? `${summary.markdown}\n${fallbackNote}\n` : summary.markdown;
      await reports.writeReport({
        id: summaryId,
        kind: 'baseline-summary',
        runId: input.runId,
        title: summary.title,
        markdown,
        charts: [],
        data: { ...summary.data, trip: input.trip ?? null, archive: ARCHIVE_NAME },
        files: extraFiles,
      });
      reportIds.push(summaryId);

      // manifest + archive over everything in the run directory
      await mkdir(runDir, { recursive: true });
      const names = (await readdir(runDir))
        .filter((f) => f !== ARCHIVE_NAME && f !== MANIFEST_NAME && !f.includes('.tmp-'))
        .sort();
      const entries: ArchiveEntry[] = [];
      for (const name of names) entries.push({ name, content: await readFile(join(runDir, name)) });
      const manifest = {
        runId: input.runId,
        createdAt: new Date(input.finishedAt * 1000).toISOString(),
        files: manifestOf(entries),
      };
      const manifestText = JSON.stringify(manifest, null, 2) + '\n';
      await writeAtomic(join(runDir, MANIFEST_NAME), manifestText);
      entries.push({ name: MANIFEST_NAME, content: Buffer.from(manifestText) });
      const archive = tarGz(input.runId, entries, input.finishedAt);
      await writeAtomic(join(runDir, ARCHIVE_NAME), archive);

      const decision = summary.data.decision === 'go' ? 'go' : 'no-go';
      await runRepo.finish(input.runId, {
        finishedAt: new Date(input.finishedAt * 1000),
        outcome: input.outcome === 'completed' ? 'ok' : input.outcome,
        decision: input.outcome === 'tripped' ? 'tripped' : input.outcome === 'cancelled' ? 'cancelled' : decision,
        tripReason: input.trip?.reason ?? null,
      });
      const released = input.release ? await releaseWorkspaces(input.release) : 0;
      log.info(
        { runId: input.runId, outcome: input.outcome, decision, files: entries.length, released },
        'baseline finalised',
      );
      return {
        reportIds,
        files: [...names, MANIFEST_NAME, ARCHIVE_NAME],
        archive: { name: ARCHIVE_NAME, sha256: sha256Hex(archive), bytes: archive.length },
        decision,
      };
    },
  };
}

export type BaselineActivities = ReturnType<typeof createBaselineActivities>;
