/**
 * The migration decision of the validation period (seed 000 week 4 and "Extended Validation").
 * Pure: weeks and config in, decision out; the workflow calls it at every weekly checkpoint.
 */
import type { ValidationConfig } from '../config/validation.js';
import { compareWeeks, type StabilityResult } from './stability.js';
import { TRIGGERS } from './triggers.js';
import type { Decision, TriggerName, TriggerStatus, WeekSummary } from './types.js';
import { TRIGGER_NAMES } from './types.js';

export interface TriggersTableCell {
  week: number;
  status: TriggerStatus;
  breachHours: number;
  max: number | null;
}

export interface TriggersTableRow {
  trigger: TriggerName;
  label: string;
  unit: string;
  threshold: number;
  /** one cell per week 1..last; a week without a summary is `no_data` */
  cells: TriggersTableCell[];
  /** the first run of 2+ consecutive exceeded weeks, or null */
  sustainedWeeks: number[] | null;
}

/** Triggers × weeks, as shown in the weekly checkpoint and the readiness report. */
export interface TriggersTable {
  weeks: number[];
  rows: TriggersTableRow[];
}

export interface SustainedBreach {
  trigger: TriggerName;
  /** the consecutive weeks of the run */
  weeks: number[];
}

export interface DecisionResult {
  decision: Decision;
  /** why, in plain sentences (reports and the workflow's status query show them) */
  reasons: string[];
  triggersTable: TriggersTable;
  /** decided with data missing (gaps, or forced while unstable/inconclusive) */
  incomplete: boolean;
  /** decided because the period hit maxWeeks or the caller forced it (decideNow) */
  forced: boolean;
  /** the last week the decision looked at (0 with no weeks) */
  week: number;
  /** week-over-week stability of the last two weeks, null before week 2 */
  stability: StabilityResult | null;
  /** observed runs of 2+ consecutive exceeded weeks */
  sustained: SustainedBreach[];
  /** for CONTINUE: what the decision would be if taken now (unforced); absent otherwise */
  provisional?: Exclude<Decision, 'CONTINUE'>;
}

export interface DecideOptions {
  /** decide now with what there is (the `decideNow` signal); the result is flagged incomplete when it would have been EXTEND */
  force?: boolean;
}

function byWeek(weeks: readonly WeekSummary[]): Map<number, WeekSummary> {
  const m = new Map<number, WeekSummary>();
  for (const w of weeks) m.set(w.week, w);
  return m;
}

/** Builds the triggers × weeks table from weekly summaries (missing weeks become `no_data`). */
export function buildTriggersTable(weeks: readonly WeekSummary[], config: ValidationConfig): TriggersTable {
  const map = byWeek(weeks);
  const last = weeks.length === 0 ? 0 : Math.max(...weeks.map((w) => w.week));
  const weekNos = Array.from({ length: last }, (_, i) => i + 1);
  const rows = TRIGGER_NAMES.map((name): TriggersTableRow => {
    const def = TRIGGERS[name];
    const cells = weekNos.map((week): TriggersTableCell => {
      const r = map.get(week)?.triggers.find((t) => t.trigger === name);
      return r
        ? { week, status: r.status, breachHours: r.breachHours, max: r.max }
        : { week, status: 'no_data', breachHours: 0, max: null };
    });
    const run = firstRun(cells, (s) => s === 'exceeded');
    return {
      trigger: name,
      label: def.label,
      unit: def.unit,
      threshold: def.threshold(config),
      cells,
      sustainedWeeks: run,
    };
  });
  return { weeks: weekNos, rows };
}

/** The first run of 2+ consecutive weeks whose status satisfies `hit`, or null. */
function firstRun(cells: readonly TriggersTableCell[], hit: (s: TriggerStatus) => boolean): number[] | null {
  let run: number[] = [];
  for (const c of cells) {
    if (hit(c.status)) {
      run.push(c.week);
    } else {
      if (run.length >= 2) return run;
      run = [];
    }
  }
  return run.length >= 2 ? run : null;
}

/**
 * Runs of 2+ consecutive weeks in which a trigger was exceeded. With `pessimistic`, weeks with
 * missing data count as exceeded — used to ask whether the gaps could hide a sustained breach.
 */
export function sustainedBreaches(table: TriggersTable, pessimistic = false): SustainedBreach[] {
  const out: SustainedBreach[] = [];
  for (const row of table.rows) {
    const run = firstRun(row.cells, (s) => s === 'exceeded' || (pessimistic && s === 'no_data'));
    if (run) out.push({ trigger: row.trigger, weeks: run });
  }
  return out;
}

const fmtWeeks = (ws: readonly number[]): string =>
  ws.length === 2 ? `weeks ${ws[0]} and ${ws[1]}` : `weeks ${ws[0]}–${ws[ws.length - 1]}`;

interface Assessment {
  /** reasons the data cannot support STAY yet */
  doubts: string[];
  /** unstable metrics, as reasons */
  unstable: string[];
  stability: StabilityResult | null;
  missingData: boolean;
  gaps: string[];
}

function assess(
  weeks: readonly WeekSummary[],
  table: TriggersTable,
  last: number,
  config: ValidationConfig,
): Assessment {
  const map = byWeek(weeks);
  const doubts: string[] = [];
  const unstable: string[] = [];
  const gaps: string[] = [];

  for (const w of table.weeks) {
    const s = map.get(w);
    if (!s) gaps.push(`week ${w} has no summary`);
    else if (s.missingDays.length > 0)
      gaps.push(`week ${w} is missing data for day${s.missingDays.length > 1 ? 's' : ''} ${s.missingDays.join(', ')}`);
  }

  // Missing data is never read as a pass: if the gaps, read as breaches, would complete a
  // sustained breach, the data cannot support STAY.
  const observed = new Set(sustainedBreaches(table).map((b) => b.trigger));
  for (const b of sustainedBreaches(table, true)) {
    if (!observed.has(b.trigger)) {
      doubts.push(`${TRIGGERS[b.trigger].label}: missing data in ${fmtWeeks(b.weeks)} could hide a sustained breach`);
    }
  }
  // seed 000: "if data inconclusive → EXTEND" — too many missing days in the decision window
  // (the two weeks compared) leave the question open, whatever the rest says
  const windowWeeks = [last - 1, last].filter((w) => w >= 1);
  const missingInWindow = windowWeeks.flatMap((w) => (map.get(w)?.missingDays ?? []).map((d) => ({ w, d })));
  if (missingInWindow.length > config.maxMissingDecisionDays) {
    const byW = windowWeeks
      .map((w) => ({ w, days: missingInWindow.filter((m) => m.w === w).map((m) => m.d) }))
      .filter((x) => x.days.length > 0);
    doubts.push(
      `${missingInWindow.length} days of the decision window (${fmtWeeks(windowWeeks)}) are missing, more than the ${config.maxMissingDecisionDays} allowed: ${byW.map((x) => `week ${x.w} day${x.days.length > 1 ? 's' : ''} ${x.days.join(', ')}`).join('; ')}`,
    );
  }
  const lastWeek = map.get(last);
  if (!lastWeek || lastWeek.missingDays.length > 0) {
    doubts.push(
      `the latest week (${last}) has missing data${lastWeek ? ` (day${lastWeek.missingDays.length > 1 ? 's' : ''} ${lastWeek.missingDays.join(', ')})` : ''}`,
    );
  }
  for (const row of table.rows) {
    const cell = row.cells[row.cells.length - 1];
    const prev = row.cells[row.cells.length - 2];
    if (cell?.status === 'exceeded' && prev?.status !== 'exceeded') {
      doubts.push(
        `${row.label} exceeded ${fmtThreshold(row.threshold, row.unit)} in week ${last} only: another week tells a spike from a sustained breach`,
      );
    }
  }

  let stability: StabilityResult | null = null;
  const prevWeek = map.get(last - 1);
  if (lastWeek && prevWeek) {
    stability = compareWeeks(prevWeek, lastWeek, config);
    for (const c of stability.checks) {
      if (c.status === 'unstable') {
        unstable.push(
          `${stabilityLabel(c.metric)} unstable week ${last - 1} → ${last}: ${fmtChange(c.metric, c.change)} (band ${c.band})`,
        );
      } else if (c.status === 'no_data') {
        doubts.push(
          `${stabilityLabel(c.metric)} has no data in week ${c.previous === null ? last - 1 : last}: stability cannot be judged`,
        );
      }
    }
  } else if (last >= 1) {
    doubts.push(
      last < 2
        ? 'fewer than 2 weeks: week-over-week stability not measured'
        : `week ${last - 1} has no summary: stability cannot be judged`,
    );
  }
  return { doubts, unstable, stability, missingData: gaps.length > 0, gaps };
}

function stabilityLabel(m: string): string {
  switch (m) {
    case 'costPerOp':
      return 'Cost per operation';
    case 'p95Latency':
      return 'P95 latency';
    case 'errorRate':
      return 'Error rate';
    default:
      return 'Peak concurrency';
  }
}

function fmtChange(metric: string, change: number | null): string {
  if (change === null) return 'n/a';
  if (!Number.isFinite(change)) return 'from 0';
  if (metric === 'errorRate') return `${change >= 0 ? '+' : ''}${(change * 100).toFixed(2)} points`;
  return `${change >= 0 ? '+' : ''}${(change * 100).toFixed(1)}%`;
}

/** Formats a threshold with its unit for reasons and reports. */
export function fmtThreshold(value: number, unit: string): string {
  switch (unit) {
    case '$':
      return `$${value}`;
    case '%':
      return `${Math.round(value * 1000) / 10}%`;
    case 's':
      return `${value} s`;
    default:
      return `${value} ${unit}`;
  }
}

/**
 * Decides STAY / MIGRATE / EXTEND (or CONTINUE) from the weekly summaries so far.
 *
 *   - before `minWeeks` (2): CONTINUE — no decision (unless `force`);
 *   - MIGRATE when any trigger was exceeded in 2+ consecutive weeks (a one-week spike is not
 *     enough). With `migrateEarly` (default) this is decided as soon as it is seen;
 *   - before the planned week `weeks` (4): CONTINUE, with `provisional` saying what it would be;
 *   - STAY when no trigger is sustained, the latest two weeks are stable (see `compareWeeks`),
 *     and the data is conclusive: missing data is read pessimistically (as a breach) and STAY
 *     stands only if it survives that; the latest week must be complete; a trigger exceeded in
 *     the latest week only leaves the question open;
 *   - EXTEND when unstable or inconclusive, until `maxWeeks` (6);
 *   - at `maxWeeks` (or with `force`), it decides with the data it has: MIGRATE if a breach was
 *     sustained, else STAY, flagged `incomplete` when it would otherwise have extended.
 * `incomplete` is also set when any week had missing data, even if the decision did not depend on it.
 */
export function decide(
  weeks: readonly WeekSummary[],
  config: ValidationConfig,
  opts: DecideOptions = {},
): DecisionResult {
  const force = opts.force === true;
  const sorted = [...weeks].sort((a, b) => a.week - b.week);
  const last = sorted.length === 0 ? 0 : sorted[sorted.length - 1].week;
  const table = buildTriggersTable(sorted, config);
  const sustained = sustainedBreaches(table);
  const a = assess(sorted, table, last, config);
  const base = { triggersTable: table, week: last, stability: a.stability, sustained, forced: false };

  if (last < config.minWeeks && !force) {
    return {
      ...base,
      decision: 'CONTINUE',
      reasons: [`week ${last} of a minimum ${config.minWeeks}: no decision before week ${config.minWeeks}`],
      incomplete: a.missingData,
    };
  }

  const gapNote = a.gaps.length > 0 ? [`data gaps: ${a.gaps.join('; ')}`] : [];
  if (sustained.length > 0) {
    const reasons = sustained.map((b) => {
      const row = table.rows.find((r) => r.trigger === b.trigger);
      return `${TRIGGERS[b.trigger].label} exceeded ${fmtThreshold(row?.threshold ?? 0, TRIGGERS[b.trigger].unit)} in ${fmtWeeks(b.weeks)} (sustained)`;
    });
    if (last < config.weeks && !config.migrateEarly && !force) {
      return {
        ...base,
        decision: 'CONTINUE',
        provisional: 'MIGRATE',
        reasons: [...reasons, `waiting for the planned decision at week ${config.weeks}`],
        incomplete: a.missingData,
      };
    }
    return {
      ...base,
      decision: 'MIGRATE',
      forced: force && last < config.weeks,
      reasons: [...reasons, ...gapNote],
      incomplete: a.missingData,
    };
  }

  const problems = [...a.unstable, ...a.doubts];
  const verdict: 'STAY' | 'EXTEND' = problems.length === 0 ? 'STAY' : 'EXTEND';
  const stayReasons = [
    'no trigger exceeded in 2 consecutive weeks',
    a.stability ? `metrics stable week ${a.stability.previousWeek} → ${a.stability.currentWeek}` : '',
  ].filter((r) => r !== '');

  if (last < config.weeks && !force) {
    return {
      ...base,
      decision: 'CONTINUE',
      provisional: verdict,
      reasons: [
        `week ${last}: the planned decision is at week ${config.weeks}`,
        ...(verdict === 'STAY' ? stayReasons : problems),
      ],
      incomplete: a.missingData,
    };
  }
  if (verdict === 'STAY') {
    return {
      ...base,
      decision: 'STAY',
      forced: force && last < config.weeks,
      reasons: [...stayReasons, ...gapNote],
      incomplete: a.missingData,
    };
  }
  if (last < config.maxWeeks && !force) {
    return { ...base, decision: 'EXTEND', reasons: problems, incomplete: a.missingData };
  }
  const why =
    last >= config.maxWeeks
      ? `week ${last} is the last allowed (maximum ${config.maxWeeks})`
      : `decision forced at week ${last}`;
  return {
    ...base,
    decision: 'STAY',
    forced: true,
    incomplete: true,
    reasons: [
      `${why}: decided with incomplete data`,
      'no trigger exceeded in 2 consecutive weeks in the data available',
      ...problems,
      ...gapNote,
    ],
  };
}
