import type { AnalysisValues, Reading } from '../lib/canary/analysis.js';
import { DEFAULT_SWITCH_TIMEOUT_MS } from '../lib/canary/defaults.js';
import { CANARY_QUERY_NAMES, STABILITY_QUERY_NAMES } from '../lib/canary/queries.js';
import type { StabilityValues } from '../lib/canary/stability.js';
import type { Db } from '../lib/db/index.js';
import type { FlagStore, RollbackSource } from '../lib/flags/store.js';
import type { Logger } from '../lib/log.js';
import { namedQuery, promDuration, type PromClient, type PromScalar } from '../lib/prom/client.js';
import { runReconciliation } from '../lib/reconcile/reconcile.js';
import type { HotBackupProbe } from '../lib/service/hot-backup.js';
import { withHeartbeat } from './support.js';

export interface ApplyStageFlagsInput {
  rolloutId: string;
  stage: string;
  percent: number;
  shadow: boolean;
  /**
   * the share of agents whose calls get the shadow run (seed 002's shadow week: 10); omitted (runs
   * before the share existed): shadow on = every agent
   */
  shadowPercent?: number;
  /** flag names; omitted = every flag */
  operations?: string[];
  /** deterministic per rollout and stage (not per attempt): a retry finds its own change */
  changeId: string;
  actor: string;
}

export interface ApplyStageFlagsResult {
  /** null when every flag already had the stage's values (nothing written) */
  changeId: string | null;
  version: number;
  /** flags whose value changed */
  changed: number;
  /** true when an earlier attempt had already written this change */
  alreadyApplied: boolean;
}

export interface AnalyseInput {
  /** analysis time, unix seconds, taken once by the workflow so a retry reads the same window */
  at: number;
  windowSeconds: number;
  /** per-rollout overrides of the configured queries */
  queries?: Record<string, string>;
}

/** The kill latch as an analysis saw it (the rollout ends rolled back, source kill_switch). */
export interface KillLatchSeen {
  reason: string;
  actor: string;
  since: string | null;
}

export interface KillSwitchInput {
  reason: string;
  actor: string;
  source: RollbackSource;
  /** deterministic (e.g. `<workflowId>/rollback`): a retried kill returns the first event */
  changeId: string;
  /** how long to wait for every flag-caching process to acknowledge (default 5 s) */
  timeoutMs?: number;
}

export interface KillSwitchResult {
  /** rollback_events.id; null when every flag was already off */
  eventId: number | null;
  changeId: string | null;
  version: number;
  /** database time of the decision, ISO */
  decidedAt: string;
  /** flags the kill changed (0 on a retry: the first attempt changed them) */
  changed: number;
  /** every expected process acknowledged within the wait */
  switched: boolean;
  /** decision → last process switched, ms (database clock); null when not measurable */
  durationMs: number | null;
  processes: number;
  missing: string[];
}

export interface ReconcileInput {
  /** workflow time, ISO: the comparison's "now", fixed so a retry judges the same moment */
  now: string;
  lagThresholdMs: number;
  switchGraceMs: number;
}

export interface ReconcileSummary {
  checked: number;
  divergent: number;
  ratio: number;
  pending: number;
  issueCount: number;
  /** up to 20, for Temporal UI and logs */
  issues: { workspaceId: string; kind: string }[];
  /** the seed's lag query: how far apart the two sides' last updates are (never divergence) */
  lag?: { pairs: number; avgMs: number; maxMs: number; beyondThreshold: number };
  windows: { start: string; end: string | null }[];
}

export interface CanaryActivityDeps {
  flags: Pick<FlagStore, 'list' | 'setMany' | 'kill' | 'awaitSwitch' | 'audit' | 'latch'>;
  prom: Pick<PromClient, 'queryScalar'>;
  /** config.queries (defaults merged with temporal.yaml overrides) */
  queries: Record<string, string>;
  db: Db;
  /**
   * Sets `gitops_reconciliation_divergence_ratio` in this process's registry (the phases worker
   * exports it on its /metrics, where Prometheus reads it for the canary's consistency trigger).
   */
  setDivergence?: (ratio: number) => void;
  /** Sets `gitops_canary_stage` in this process's registry: the stage just applied, or `rolled_back`. */
  setStage?: (stage: string) => void;
  /**
   * Is approach 1 warm — can it serve an operation now (lib/service/hot-backup.ts)? Absent in a
   * worker that does not run approach 1: every probe then answers cold, with that reason.
   */
  probeHotBackup?: () => Promise<HotBackupProbe>;
  log: Logger;
}

/** A scalar as it crosses the Temporal boundary: JSON has no ±Infinity, so clamp to ±MAX_VALUE. */
function toReading(s: PromScalar): Reading {
  if (s.kind === 'nodata') return { kind: 'nodata', reason: s.reason === 'nan' ? 'NaN (e.g. 0/0)' : 'empty result' };
  const v =
    s.value === Number.POSITIVE_INFINITY
      ? Number.MAX_VALUE
      : s.value === Number.NEGATIVE_INFINITY
        ? -Number.MAX_VALUE
        : s.value;
  return { kind: 'value', value: v };
}

/**
 * Activities of canaryRolloutWorkflow and reconciliationWorkflow. Every one is safe to retry:
 * flag changes carry a deterministic change id (a retry finds the first attempt's audit rows or
 * rollback event and writes nothing), analyses read a window fixed by the workflow, and
 * reconciliation only reads.
 */
export function createCanaryActivities(deps: CanaryActivityDeps) {
  const { flags, prom, log } = deps;

  return {
    /** Sets the stage's flags in one audited change. Idempotent on `changeId`. */
    async applyStageFlags(input: ApplyStageFlagsInput): Promise<ApplyStageFlagsResult> {
      const prior = await flags.audit({ changeId: input.changeId, limit: 1_000 });
      if (prior.length > 0) {
        log.info(
          { rolloutId: input.rolloutId, stage: input.stage, changeId: input.changeId },
          'canary stage flags already applied',
        );
        deps.setStage?.(input.stage);
        return { changeId: input.changeId, version: prior[0]!.version, changed: prior.length, alreadyApplied: true };
      }
      const operations = input.operations ?? (await flags.list()).map((f) => f.operation);
      const res = await flags.setMany(
        operations.map((operation) => ({
          operation,
          percent: input.percent,
          shadow: input.shadow,
          ...(input.shadowPercent !== undefined ? { shadowPercent: input.shadowPercent } : {}),
        })),
        {
          actor: input.actor,
          reason: `canary ${input.rolloutId}: stage ${input.stage} (${input.percent}% to approach 2, shadow ${input.shadow ? (input.shadowPercent !== undefined && input.shadowPercent < 100 ? `on for ${input.shadowPercent}% of agents` : 'on') : 'off'})`,
          changeId: input.changeId,
        },
      );
      log.info(
        {
          rolloutId: input.rolloutId,
          stage: input.stage,
          percent: input.percent,
          shadow: input.shadow,
          shadowPercent: input.shadowPercent,
          changed: res.changed.length,
          version: res.version,
        },
        'canary stage flags applied',
      );
      deps.setStage?.(input.stage);
      return { changeId: res.changeId, version: res.version, changed: res.changed.length, alreadyApplied: false };
    },

    /**
     * Reads the five canary quantities over the window ending at `at`; no data stays explicit.
     * The kill latch first (issue 9 item 5): while the kill switch holds the flags, the answer
     * carries it (and no readings), so the rollout ends at this tick — even with Prometheus down.
     */
    async analyse(input: AnalyseInput): Promise<AnalysisValues & { killLatch?: KillLatchSeen }> {
      const latch = await flags.latch().catch((e: unknown) => {
        log.warn({ err: (e as Error).message }, 'kill latch unreadable; analysing anyway');
        return null;
      });
      if (latch?.latched) {
        const r = { kind: 'nodata', reason: 'the kill switch latched the flags' } as const;
        return {
          errorRate: r,
          operations: r,
          p95PooledSeconds: r,
          p95SimpleSeconds: r,
          operationsSimple: r,
          consistency: r,
          killLatch: {
            reason: latch.reason ?? 'kill switch',
            actor: latch.actor ?? 'unknown',
            since: latch.since?.toISOString() ?? null,
          },
        };
      }
      const queries = { ...deps.queries, ...input.queries };
      const vars = { window: promDuration(input.windowSeconds) };
      // heartbeats on a timer while Prometheus answers: a worker lost mid-analysis is noticed
      // within the heartbeat timeout (10 s), not the 30 s start-to-close
      const entries = await withHeartbeat(log, () =>
        Promise.all(
          Object.entries(CANARY_QUERY_NAMES).map(async ([key, name]) => {
            const reading = toReading(await prom.queryScalar(namedQuery(queries, name, vars), input.at));
            return [key, reading] as const;
          }),
        ),
      );
      return Object.fromEntries(entries) as unknown as AnalysisValues;
    },

    /**
     * The hot-backup warmth probe of a cutover analysis (issue 10 item 2): can approach 1 serve an
     * operation now? Never fails: a failing or missing probe is a cold answer with the reason.
     */
    async probeHotBackup(): Promise<HotBackupProbe> {
      if (deps.probeHotBackup === undefined)
        return {
          warm: false,
          ms: 0,
          detail: 'this worker cannot probe approach 1 (service.approach is not routed): warmth unknown',
        };
      const r = await deps.probeHotBackup().catch((e: unknown): HotBackupProbe => ({
        warm: false,
        ms: 0,
        detail: `probe failed: ${(e as Error).message}`,
      }));
      (r.warm ? log.info : log.warn).call(log, { warm: r.warm, ms: r.ms, detail: r.detail }, 'hot backup probed');
      return r;
    },

    /**
     * Reads seed 004's success criteria (P90 push, pool reuse, error rate) over the hot-backup
     * period ending at `at` (`windowSeconds` = the period), for the check before decommission.
     * Read-only; no data stays explicit.
     */
    async readStability(input: AnalyseInput): Promise<StabilityValues> {
      const queries = { ...deps.queries, ...input.queries };
      const vars = { window: promDuration(input.windowSeconds) };
      const entries = await Promise.all(
        Object.entries(STABILITY_QUERY_NAMES).map(async ([key, name]) => {
          const reading = toReading(await prom.queryScalar(namedQuery(queries, name, vars), input.at));
          return [key, reading] as const;
        }),
      );
      return Object.fromEntries(entries) as unknown as StabilityValues;
    },

    /**
     * The kill switch: every flag to 0% with shadow off, then waits until every flag-caching
     * process acknowledged it and records the measured time on the rollback event.
     */
    async killSwitch(input: KillSwitchInput): Promise<KillSwitchResult> {
      const kill = await flags.kill({
        actor: input.actor,
        reason: input.reason,
        changeId: input.changeId,
        source: input.source,
      });
      if (input.source === 'rollback' || input.source === 'auto' || input.source === 'kill')
        deps.setStage?.('rolled_back');
      const base = {
        eventId: kill.eventId,
        changeId: kill.changeId,
        version: kill.version,
        decidedAt: kill.decidedAt.toISOString(),
        changed: kill.changed.length,
      };
      if (kill.eventId === null) {
        log.info({ changeId: input.changeId, source: input.source }, 'kill switch: every flag was already off');
        return { ...base, switched: true, durationMs: null, processes: 0, missing: [] };
      }
      const sw = await flags.awaitSwitch(kill.eventId, { timeoutMs: input.timeoutMs ?? DEFAULT_SWITCH_TIMEOUT_MS });
      const processes = Object.keys(sw.processes).length + sw.missing.length;
      log.info(
        {
          eventId: kill.eventId,
          source: input.source,
          switched: sw.switched,
          durationMs: sw.durationMs,
          processes,
          missing: sw.missing.length,
        },
        'kill switch applied',
      );
      return { ...base, switched: sw.switched, durationMs: sw.durationMs, processes, missing: sw.missing };
    },

    /** Dual-write reconciliation (read-only) and this process's divergence gauge. */
    async reconcileDualWrite(input: ReconcileInput): Promise<ReconcileSummary> {
      const r = await runReconciliation(deps.db, {
        now: new Date(input.now),
        lagThresholdMs: input.lagThresholdMs,
        switchGraceMs: input.switchGraceMs,
        setDivergence: deps.setDivergence,
        maxIssues: 20,
      });
      log.info(
        { checked: r.checked, divergent: r.divergent, ratio: r.ratio, pending: r.pending, lag: r.lag },
        'reconciliation done',
      );
      return {
        checked: r.checked,
        divergent: r.divergent,
        ratio: r.ratio,
        pending: r.pending,
        issueCount: r.issueCount,
        issues: r.issues.map((i) => ({ workspaceId: i.workspaceId, kind: i.kind })),
        lag: r.lag,
        windows: r.windows.map((w) => ({ start: w.start.toISOString(), end: w.end?.toISOString() ?? null })),
      };
    },
  };
}

export type CanaryActivities = ReturnType<typeof createCanaryActivities>;
