import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ValidationActivities } from '../../activities/validation.js';
import {
  validationConfigSchema,
  type ValidationConfig,
  type ValidationConfigInput,
} from '../../lib/config/validation.js';
import { ErrorType } from '../../lib/errors.js';
import {
  buildTriggersTable,
  decide,
  forecast3Months,
  summarizeWeek,
  type DaySnapshot,
  type DecisionResult,
  type Forecast,
  type TriggersTable,
  type WeekSummary,
} from '../../lib/validation/index.js';
import { memoSummary } from '../memo.js';
import { notifyEvent, phaseEvent } from '../notify.js';
import { sgcDecisionKey, sgcPhaseKey, sgcStatusKey, sgcWeekKey } from '../search-attributes.js';
import { validationSummary } from '../summary.js';
import {
  decideNowProblem,
  decideNowSignal,
  extendProblem,
  extendSignal,
  overrideDecisionUpdate,
  overrideProblem,
  statusQuery,
  type DecideNowRequest,
  type Extension,
  type LastDecision,
  type OverrideDecisionRequest,
  type ValidationPhase,
} from './messages.js';

/** Overrides of the rules' settings (every key optional). */
export type ValidationConfigOverrides = NonNullable<ValidationConfigInput>;

/**
 * Input of validationPeriodWorkflow. Every field is optional: the defaults are seed 000's
 * (decision at week 4, not before week 2, at most 6 weeks, one-day snapshots, the six triggers).
 */
export interface ValidationPeriodInput {
  /** planned decision week (seed: 4) */
  weeks?: number;
  /** no decision before this week (seed: 2) */
  minWeeks?: number;
  /** extensions stop here and the decision is forced (seed: 6) */
  maxWeeks?: number;
  /**
   * Wall-clock seconds per day. Live: also the metric day (default 86 400). Backtest: wall time
   * per simulated day, while the metric day stays `config.dayLengthSeconds` (default 0: as fast
   * as possible).
   */
  dayLengthSeconds?: number;
  /** migration triggers (seed: concurrency 10, $0.05/op, P95 2 s, 5 % errors, $500/month, 100 ops/min) */
  thresholds?: ValidationConfigOverrides['thresholds'];
  /** the rest of the rules' settings (resolution, stability bands, goals, daysPerWeek …), lib/config/validation.ts */
  config?: ValidationConfigOverrides;
  /** PromQL by query name (`validation.*`) replacing the worker's queries for this run */
  queryOverrides?: Record<string, string>;
  /** run over a past window instead of live (unix seconds); day 1 starts at `start` */
  backtest?: { start: number; end: number };
  /** live: seconds after a day's end before its snapshot, so the last scrapes land (default 60) */
  settleSeconds?: number;
  /** test knob: continue-as-new after this many days even inside a week (always at week ends) */
  maxDaysPerRun?: number;
  /** state handed over by continue-as-new; callers leave it unset */
  carry?: ValidationCarry;
}

/** What continue-as-new carries: small on purpose (weekly summaries, not snapshots). */
export interface ValidationCarry {
  /** unix seconds, metric time of day 1's start */
  periodStart: number;
  /** the first day the new run snapshots; days of its week already taken are reloaded from Postgres */
  nextDay: number;
  weeks: WeekSummary[];
  reportIds: string[];
  plannedWeeks: number;
  extensions: Extension[];
  notes: string[];
  lastDecision: LastDecision | null;
  decideNow: DecideNowRequest | null;
  /** audit keys already used */
  overrides: number;
  /** wall clock (epoch ms) when the period started */
  startedAt: number;
}

export interface ValidationPeriodResult {
  runId: string;
  mode: 'live' | 'backtest';
  /** the decision in force: the rules', or the operator's override */
  decision: 'STAY' | 'MIGRATE';
  /** what the rules decided */
  ruleDecision: 'STAY' | 'MIGRATE';
  reasons: string[];
  triggersTable: TriggersTable;
  forecast: Forecast;
  /** decided with data missing (gaps, or forced while unstable or inconclusive) */
  incomplete: boolean;
  /** decided at maxWeeks, at the end of a backtest window, or on request */
  forced: boolean;
  /** the last week the decision looked at */
  week: number;
  /** days snapshotted */
  days: number;
  reportIds: string[];
  override: OverrideDecisionRequest | null;
  extensions: Extension[];
}

/** The input with defaults applied, or why it is unacceptable. */
export interface ResolvedValidationInput {
  mode: 'live' | 'backtest';
  config: ValidationConfig;
  backtest: { start: number; end: number } | null;
  /** full weeks the backtest window holds; null live */
  windowWeeks: number | null;
  /** wall seconds to wait per day in a backtest (live waits for the metric day itself) */
  wallDaySeconds: number;
  settleSeconds: number;
  queryOverrides: Record<string, string>;
}

const isWhole = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min;

/**
 * Applies the seed defaults and checks the input (pure: the API and the CLI call it before
 * starting, so a bad request is refused up front instead of failing the workflow).
 * `nowSeconds` (the caller's clock) lets it refuse a backtest window that has not ended yet.
 */
export function resolveValidationInput(
  input: ValidationPeriodInput,
  nowSeconds?: number,
): { ok: true; value: ResolvedValidationInput } | { ok: false; problem: string } {
  const mode = input.backtest ? 'backtest' : 'live';
  const raw: ValidationConfigOverrides = { ...(input.config ?? {}) };
  if (input.weeks !== undefined) raw.weeks = input.weeks;
  if (input.minWeeks !== undefined) raw.minWeeks = input.minWeeks;
  if (input.maxWeeks !== undefined) raw.maxWeeks = input.maxWeeks;
  if (input.thresholds !== undefined) raw.thresholds = { ...(input.config?.thresholds ?? {}), ...input.thresholds };
  if (mode === 'live' && input.dayLengthSeconds !== undefined) raw.dayLengthSeconds = input.dayLengthSeconds;
  const parsed = validationConfigSchema().safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      problem: parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; '),
    };
  }
  const config = parsed.data;
  if (input.settleSeconds !== undefined && !isWhole(input.settleSeconds, 0))
    return { ok: false, problem: 'settleSeconds must be a whole number ≥ 0' };
  if (input.maxDaysPerRun !== undefined && !isWhole(input.maxDaysPerRun, 1))
    return { ok: false, problem: 'maxDaysPerRun must be a whole number ≥ 1' };
  const overrides = input.queryOverrides ?? {};
  for (const [name, promql] of Object.entries(overrides)) {
    if (!/^validation\.[a-z0-9_]+$/.test(name))
      return { ok: false, problem: `queryOverrides: ${name} is not a validation query name` };
    if (typeof promql !== 'string' || promql.trim() === '')
      return { ok: false, problem: `queryOverrides.${name}: PromQL must not be empty` };
  }

  let backtest: { start: number; end: number } | null = null;
  let windowWeeks: number | null = null;
  let wallDaySeconds = 0;
  if (input.backtest) {
    const { start, end } = input.backtest;
    if (!isWhole(start, 0) || !isWhole(end, 0) || end <= start)
      return { ok: false, problem: 'backtest: start and end must be unix seconds with start < end' };
    if (nowSeconds !== undefined && end > nowSeconds)
      return { ok: false, problem: 'backtest: the window must have ended' };
    windowWeeks = Math.floor(Math.floor((end - start) / config.dayLengthSeconds) / config.daysPerWeek);
    if (windowWeeks < 1)
      return {
        ok: false,
        problem: `backtest: the window must hold at least one week (${config.daysPerWeek} days of ${config.dayLengthSeconds} s)`,
      };
    if (input.dayLengthSeconds !== undefined && !isWhole(input.dayLengthSeconds, 0))
      return { ok: false, problem: 'dayLengthSeconds must be a whole number ≥ 0 in a backtest' };
    backtest = { start, end };
    wallDaySeconds = input.dayLengthSeconds ?? 0;
  }
  return {
    ok: true,
    value: {
      mode,
      config,
      backtest,
      windowWeeks,
      wallDaySeconds,
      settleSeconds: input.settleSeconds ?? 60,
      queryOverrides: overrides,
    },
  };
}

const { takeDailySnapshot } = proxyActivities<ValidationActivities>({
  // 29 queries, 4 at a time, each bounded by the Prometheus client's timeout
  startToCloseTimeout: '5 minutes',
  // the activity heartbeats before every query and on a timer while one runs: a dead worker is
  // noticed within 10 s
  heartbeatTimeout: '10 seconds',
  // Prometheus unreachable or restarting: retry without limit, backing off to a minute, so a day
  // is never lost to an outage. A bad query stays bad: it fails the period at once.
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: [ErrorType.PromBadQuery, ErrorType.Validation],
  },
});

const { loadSnapshots, startRun, finishRun, recordDecision, scheduleReevaluation } =
  proxyActivities<ValidationActivities>({
    startToCloseTimeout: '30 seconds',
  });

const { writeWeeklyReport, writeFinalReport } = proxyActivities<ValidationActivities>({
  startToCloseTimeout: '2 minutes',
});

/** Failures of a snapshot that no retry can fix: they fail the period (after recording it). */
const PERMANENT = new Set<string>([ErrorType.PromBadQuery, ErrorType.Validation]);

type FinalDecision = 'STAY' | 'MIGRATE';

function asFinal(d: DecisionResult): FinalDecision {
  // decide() returns STAY or MIGRATE whenever it is forced or at a final checkpoint
  if (d.decision === 'STAY' || d.decision === 'MIGRATE') return d.decision;
  throw ApplicationFailure.nonRetryable(`decision ${d.decision} is not final`, ErrorType.Internal);
}

/**
 * The validation period of approach 1 (seed 000): a snapshot of Prometheus every day, a
 * checkpoint every week (summary, the week's goal, the triggers table, a report), and from week
 * `minWeeks` the decision STAY / MIGRATE / EXTEND by `decide` — MIGRATE as soon as a trigger is
 * exceeded two weeks running, STAY at the planned week when stable and conclusive, EXTEND up to
 * `maxWeeks`, where it decides with the data it has. Ends with the migration readiness report.
 *
 * Live, day N covers the N-th day after the start and is snapshotted once it is over (workflow
 * clock). As a backtest, the days are those of a past window and each takes `dayLengthSeconds`
 * of wall time (0: as fast as Prometheus answers). Continue-as-new at every week boundary keeps
 * history small: weekly summaries are carried, snapshots stay in Postgres.
 *
 * Messages: `extend` and `decideNow` signals, `overrideDecision` update (a reason is required;
 * audited), `status` query. Temporal UI: SgcPhase=validation, SgcWeek, SgcDecision, SgcStatus.
 */
export async function validationPeriodWorkflow(input: ValidationPeriodInput): Promise<ValidationPeriodResult> {
  const resolved = resolveValidationInput(input);
  if (!resolved.ok)
    throw ApplicationFailure.nonRetryable(`invalid validation period input: ${resolved.problem}`, ErrorType.Validation);
  const { mode, config, backtest, windowWeeks, wallDaySeconds, settleSeconds, queryOverrides } = resolved.value;
  const runId = workflowInfo().workflowId;
  const dpw = config.daysPerWeek;
  const dayLength = config.dayLengthSeconds;
  const res = config.resolutionSeconds;

  const carry = input.carry;
  // Live, day 1 starts at the next whole resolution step, so its points are on the hour.
  const periodStart = carry?.periodStart ?? (backtest ? backtest.start : Math.ceil(Date.now() / 1000 / res) * res);
  const startedAt = carry?.startedAt ?? Date.now();
  let nextDay = carry?.nextDay ?? 1;
  let weeks: WeekSummary[] = carry?.weeks ?? [];
  const reportIds: string[] = [...(carry?.reportIds ?? [])];
  let plannedWeeks = carry?.plannedWeeks ?? config.weeks;
  const extensions: Extension[] = [...(carry?.extensions ?? [])];
  const notes: string[] = [...(carry?.notes ?? [])];
  let lastDecision: LastDecision | null = carry?.lastDecision ?? null;
  let decideNow: DecideNowRequest | null = carry?.decideNow ?? null;
  let overrides = carry?.overrides ?? 0;
  let pendingOverride: OverrideDecisionRequest | null = null;
  let finalDecision: FinalDecision | null = null;
  let phase: ValidationPhase = 'waiting';
  let nextSnapshotAt: number | null = null;
  /** snapshots of the week in progress */
  let current: DaySnapshot[] = [];

  const weekOf = (day: number): number => Math.ceil(day / dpw);
  const currentWeek = (): number => (current.length > 0 ? weekOf(current[0].day) : weekOf(nextDay));
  const cfgNow = (): ValidationConfig => ({ ...config, weeks: plannedWeeks });
  const interrupted = (): boolean => decideNow !== null || pendingOverride !== null;
  /** completed weeks plus the week in progress (its days not yet taken read as missing) */
  const weeksSoFar = (): WeekSummary[] =>
    current.length > 0 ? [...weeks, summarizeWeek(current, weekOf(current[0].day), cfgNow())] : weeks;
  const forecastOf = (ws: readonly WeekSummary[]): Forecast =>
    forecast3Months(
      ws.flatMap((w) => w.days),
      cfgNow(),
    );
  const addReport = (id: string): void => {
    if (!reportIds.includes(id)) reportIds.push(id);
  };

  /** Moves the planned decision `n` weeks past max(planned, the week in progress), within maxWeeks. */
  const extendBy = (n: number, reason: string, by: string | undefined): Extension => {
    const atWeek = currentWeek();
    plannedWeeks = Math.min(config.maxWeeks, Math.max(plannedWeeks, atWeek) + n);
    const ext: Extension = { reason, weeks: n, atWeek, plannedWeeks, ...(by ? { by } : {}) };
    extensions.push(ext);
    notes.push(
      `Extended during week ${atWeek}${by ? ` by ${by}` : ''}: decision planned for week ${plannedWeeks}. Reason: ${reason}`,
    );
    return ext;
  };

  setHandler(extendSignal, async (req) => {
    // a throwing signal handler would fail the workflow task forever: refuse bad payloads by logging
    const problem = extendProblem(req, config.maxWeeks);
    if (problem !== null || finalDecision !== null || pendingOverride !== null) {
      log.warn('extend signal ignored', { problem: problem ?? 'the period has already decided' });
      return;
    }
    if (Math.max(plannedWeeks, currentWeek()) >= config.maxWeeks) {
      log.warn('extend signal ignored', { problem: `already planned to the last allowed week (${config.maxWeeks})` });
      return;
    }
    const ext = extendBy(req.weeks ?? 1, req.reason.trim(), req.by);
    overrides += 1;
    await recordDecision({
      runId,
      key: `extend-${overrides}`,
      week: ext.atWeek,
      decision: 'EXTEND',
      ruleDecision: lastDecision?.decision ?? 'CONTINUE',
      reasons: [`operator extension to week ${ext.plannedWeeks}`],
      overriddenBy: req.by ?? 'unknown',
      overrideReason: ext.reason,
      at: Date.now(),
    });
  });

  setHandler(decideNowSignal, (req) => {
    const problem = decideNowProblem(req);
    if (problem !== null || finalDecision !== null) {
      log.warn('decideNow signal ignored', { problem: problem ?? 'the period has already decided' });
      return;
    }
    decideNow = req ?? {};
  });

  setHandler(
    overrideDecisionUpdate,
    async (req) => {
      const week = currentWeek();
      const ruleDecision = lastDecision?.decision ?? 'CONTINUE';
      const reason = req.reason.trim();
      if (req.decision === 'EXTEND') extendBy(1, reason, req.by);
      else pendingOverride = { decision: req.decision, reason, ...(req.by ? { by: req.by } : {}) };
      overrides += 1;
      await recordDecision({
        runId,
        key: `override-${overrides}`,
        week,
        decision: req.decision,
        ruleDecision,
        reasons: [`operator override of ${ruleDecision}`],
        overriddenBy: req.by ?? 'unknown',
        overrideReason: reason,
        at: Date.now(),
      });
      return { decision: req.decision, ruleDecision, week, plannedWeeks };
    },
    {
      // Runs before the update is accepted (and written to history): a rejected override leaves no trace.
      validator: (req) => {
        const problem = overrideProblem(req);
        if (problem !== null) throw new Error(problem);
        if (finalDecision !== null || pendingOverride !== null) throw new Error('the period has already decided');
        if (req.decision === 'EXTEND' && Math.max(plannedWeeks, currentWeek()) >= config.maxWeeks) {
          throw new Error(`cannot extend past week ${config.maxWeeks} (maxWeeks)`);
        }
      },
    },
  );

  setHandler(statusQuery, () => {
    const cfg = cfgNow();
    const partial = current.length > 0 ? summarizeWeek(current, weekOf(current[0].day), cfg) : null;
    return {
      runId,
      mode,
      phase,
      week: currentWeek(),
      day: nextDay,
      daysPerWeek: dpw,
      plannedWeeks,
      minWeeks: config.minWeeks,
      maxWeeks: config.maxWeeks,
      periodStart,
      backtest,
      nextSnapshotAt,
      daysTakenThisWeek: current.map((d) => d.day),
      currentWeekTriggers: partial?.triggers ?? [],
      triggersTable: buildTriggersTable(weeks, cfg),
      lastDecision,
      provisional: lastDecision?.provisional ?? null,
      extensions,
      reportIds,
      decideNowRequested: decideNow !== null,
      override: pendingOverride,
      decision: finalDecision,
    };
  });

  const memo = memoSummary();
  const showProgress = (): void =>
    memo(
      validationSummary({
        mode,
        phase,
        week: currentWeek(),
        day: nextDay,
        daysPerWeek: dpw,
        plannedWeeks,
        provisional: lastDecision?.provisional ?? null,
        decision: finalDecision,
        lastDecision,
      }),
    );

  upsertSearchAttributes([
    { key: sgcPhaseKey, value: 'validation' },
    { key: sgcWeekKey, value: currentWeek() },
    { key: sgcStatusKey, value: 'running' },
    ...(lastDecision ? [{ key: sgcDecisionKey, value: lastDecision.decision }] : []),
  ]);

  /** Summary, forecast, decision, report and audit of week `week`; returns the decision. */
  const checkpoint = async (week: number): Promise<DecisionResult> => {
    phase = 'checkpoint';
    const cfg = cfgNow();
    weeks = [...weeks, summarizeWeek(current, week, cfg)];
    current = [];
    let decision = decide(weeks, cfg);
    if (
      windowWeeks !== null &&
      week >= windowWeeks &&
      (decision.decision === 'CONTINUE' || decision.decision === 'EXTEND')
    ) {
      // a backtest cannot look past its window: decide there with what it holds
      const forced = decide(weeks, cfg, { force: true });
      decision = {
        ...forced,
        reasons: [
          `the backtest window holds ${windowWeeks} week${windowWeeks > 1 ? 's' : ''}: decided at its end`,
          ...forced.reasons,
        ],
      };
    }
    lastDecision = {
      week,
      decision: decision.decision,
      provisional: decision.provisional ?? null,
      reasons: decision.reasons,
      incomplete: decision.incomplete,
    };
    if (decision.decision === 'EXTEND')
      notes.push(`Week ${week}: the rules extended the period. ${decision.reasons.join('; ')}`);
    upsertSearchAttributes([
      { key: sgcWeekKey, value: week },
      { key: sgcDecisionKey, value: decision.decision },
    ]);
    showProgress();
    log.info('validation checkpoint', {
      week,
      decision: decision.decision,
      provisional: decision.provisional,
      incomplete: decision.incomplete,
    });
    const report = await writeWeeklyReport({
      runId,
      week,
      config: cfg,
      weeks,
      forecast: forecastOf(weeks),
      decision,
      backtest: backtest ?? undefined,
      notes,
    });
    addReport(report.id);
    await recordDecision({
      runId,
      key: `week-${week}`,
      week,
      decision: decision.decision,
      reasons: decision.reasons,
      forced: decision.forced,
      incomplete: decision.incomplete,
      at: Date.now(),
    });
    return decision;
  };

  /** The final decision (the rules', forced if asked early, or the operator's), its report, the audit. */
  const finish = async (ruled: DecisionResult | null): Promise<ValidationPeriodResult> => {
    phase = 'deciding';
    const cfg = cfgNow();
    const all = weeksSoFar();
    let d = ruled ?? decide(all, cfg, { force: true });
    if (ruled === null && decideNow !== null) {
      const who = decideNow.by ? ` by ${decideNow.by}` : '';
      const why = decideNow.reason?.trim() ? `: ${decideNow.reason.trim()}` : '';
      d = { ...d, reasons: [`decision requested early${who}${why}`, ...d.reasons] };
      notes.push(`Decision requested during week ${currentWeek()}${who}${why}`);
    }
    const override = pendingOverride;
    const ruleDecision = asFinal(d);
    const decision = override && override.decision !== 'EXTEND' ? override.decision : ruleDecision;
    finalDecision = decision;
    upsertSearchAttributes([
      { key: sgcDecisionKey, value: decision },
      { key: sgcStatusKey, value: 'decided' },
      { key: sgcWeekKey, value: d.week },
    ]);
    showProgress();
    log.info('validation period decided', {
      decision,
      ruleDecision,
      week: d.week,
      incomplete: d.incomplete,
      overridden: override !== null,
    });
    const forecast = forecastOf(all);
    // seed 000: after STAY, re-evaluate quarterly. Added after periods were already running:
    // patched() keeps their histories replaying (they end without this step).
    if (decision === 'STAY' && patched('stay-schedules-quarterly-reevaluation')) {
      if (mode === 'live') {
        const everyDays = cfg.reevaluationEveryDays;
        // the same rules (cfg holds thresholds and weeks as this period ended with them), live
        const next: ValidationPeriodInput = {
          config: cfg,
          queryOverrides: input.queryOverrides,
          dayLengthSeconds: input.dayLengthSeconds,
          settleSeconds: input.settleSeconds,
        };
        const s = await scheduleReevaluation({ runId, everyDays, input: next as Record<string, unknown> });
        notes.push(
          `Quarterly re-evaluation scheduled: Temporal Schedule ${s.scheduleId} starts a new live period every ${everyDays} days (\`temporal schedule describe --schedule-id ${s.scheduleId}\`).`,
        );
      } else {
        notes.push(
          'Backtest: no re-evaluation is scheduled (a live period that decides STAY schedules one every quarter).',
        );
      }
    }
    const report = await writeFinalReport({
      runId,
      config: cfg,
      weeks: all,
      forecast,
      decision: d,
      backtest: backtest ?? undefined,
      notes,
      ...(override ? { override: { decision: override.decision, reason: override.reason, by: override.by } } : {}),
    });
    addReport(report.id);
    await recordDecision({
      runId,
      key: 'final',
      week: d.week,
      decision,
      ruleDecision,
      reasons: d.reasons,
      forced: d.forced,
      incomplete: d.incomplete,
      ...(override ? { overriddenBy: override.by ?? 'unknown', overrideReason: override.reason } : {}),
      at: Date.now(),
    });
    await finishRun({ runId, status: 'decided', decision, at: Date.now() });
    phase = 'decided';
    await notifyEvent(
      'notify-validation-decision',
      phaseEvent('decision', {
        kind: 'validation_decision',
        runId,
        mode,
        decision,
        ruleDecision,
        week: d.week,
        forced: d.forced,
        incomplete: d.incomplete,
        reasons: d.reasons,
        ...(override?.by ? { overriddenBy: override.by } : {}),
      }),
    );
    await condition(allHandlersFinished);
    return {
      runId,
      mode,
      decision,
      ruleDecision,
      reasons: d.reasons,
      triggersTable: d.triggersTable,
      forecast,
      incomplete: d.incomplete,
      forced: d.forced,
      week: d.week,
      days: all.reduce((n, w) => n + w.days.length, 0),
      reportIds,
      override,
      extensions,
    };
  };

  const carryOn = async (): Promise<never> => {
    await condition(allHandlersFinished);
    const next: ValidationCarry = {
      periodStart,
      nextDay,
      weeks,
      reportIds,
      plannedWeeks,
      extensions,
      notes,
      lastDecision,
      decideNow,
      overrides,
      startedAt,
    };
    log.info('validation period continues as new', { nextDay, week: weekOf(nextDay) });
    return continueAsNew<typeof validationPeriodWorkflow>({ ...input, carry: next });
  };

  try {
    if (!carry) {
      await startRun({
        runId,
        mode,
        input: { ...input, carry: undefined, resolved: { config, backtest, wallDaySeconds, settleSeconds } },
        at: startedAt,
      });
    } else if ((nextDay - 1) % dpw !== 0) {
      // continued inside a week: its earlier days come back from Postgres, not through the input
      current = await loadSnapshots({ runId, fromDay: (weekOf(nextDay) - 1) * dpw + 1, toDay: nextDay - 1 });
    }

    let daysThisRun = 0;
    for (;;) {
      if (interrupted()) return await finish(null);
      const week = weekOf(nextDay);
      const dayStart = periodStart + (nextDay - 1) * dayLength;
      const dayEnd = dayStart + dayLength;
      // live: after the day is over (plus settle time); backtest: the simulated day's wall time
      const dueAt = mode === 'live' ? (dayEnd + settleSeconds) * 1000 : Date.now() + wallDaySeconds * 1000;
      if (dueAt > Date.now()) {
        phase = 'waiting';
        nextSnapshotAt = dueAt;
        await condition(interrupted, dueAt - Date.now());
        nextSnapshotAt = null;
        if (interrupted()) continue;
      }
      phase = 'collecting';
      const snapshot = await takeDailySnapshot({
        runId,
        day: nextDay,
        dayStart,
        dayEnd,
        resolutionSeconds: res,
        subqueryStepSeconds: config.subqueryStepSeconds,
        queryOverrides,
      });
      current.push(snapshot);
      nextDay += 1;
      daysThisRun += 1;
      showProgress();

      if ((nextDay - 1) % dpw === 0) {
        const decision = await checkpoint(week);
        if (decision.decision === 'STAY' || decision.decision === 'MIGRATE') return await finish(decision);
        if (interrupted()) return await finish(null);
        return await carryOn();
      }
      if (
        (input.maxDaysPerRun !== undefined && daysThisRun >= input.maxDaysPerRun) ||
        workflowInfo().continueAsNewSuggested
      ) {
        if (interrupted()) return await finish(null);
        return await carryOn();
      }
    }
  } catch (err) {
    if (
      err instanceof ActivityFailure &&
      err.cause instanceof ApplicationFailure &&
      err.cause.type &&
      PERMANENT.has(err.cause.type)
    ) {
      log.error('validation period failed', { type: err.cause.type, message: err.cause.message });
      await finishRun({ runId, status: 'failed', at: Date.now() });
      upsertSearchAttributes([{ key: sgcStatusKey, value: 'failed' }]);
      throw ApplicationFailure.nonRetryable(err.cause.message, err.cause.type, { category: 'other' });
    }
    throw err;
  }
}
