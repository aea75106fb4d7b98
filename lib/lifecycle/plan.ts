/**
 * The pure parts of the lifecycle `npm start` walks (issue 11 item 1): which phases run and in
 * what order, what each phase's end means (the outcome line and whether it is the one the demo
 * expects), and the summary table. The runner with its Temporal calls is scripts/lifecycle/.
 */
import { LIFECYCLE_PHASES, type LifecyclePhase } from '../config/demo.js';

export { LIFECYCLE_PHASES, type LifecyclePhase };

/**
 * The phases to run: `spec` (the `--phases` option, comma-separated) or else the configured
 * list, always in the seeds' order (validation → canary → baseline → drift), each once. An
 * unknown or empty name throws an error naming the phases there are.
 */
export function selectPhases(spec: string | undefined, configured: readonly LifecyclePhase[]): LifecyclePhase[] {
  let wanted: string[] = [...configured];
  if (spec !== undefined) {
    wanted = spec
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    if (wanted.length === 0) throw new Error(`--phases: name at least one of ${LIFECYCLE_PHASES.join(', ')}`);
  }
  for (const p of wanted)
    if (!(LIFECYCLE_PHASES as readonly string[]).includes(p))
      throw new Error(`--phases: unknown phase "${p}"; the phases are ${LIFECYCLE_PHASES.join(', ')}`);
  return LIFECYCLE_PHASES.filter((p) => wanted.includes(p));
}

/** How one phase of the lifecycle ended. */
export interface PhaseRecord {
  phase: LifecyclePhase;
  /** one line: the decision, the final stage or the reason of a rollback, the verdict */
  outcome: string;
  /** the end the demo expects (a smoke run exits 0 only when every phase has it) */
  expected: boolean;
  durationMs: number;
  /** Temporal UI pages of the phase's workflows */
  workflows: string[];
  /** report pages (or, without a report, where to read the phase's end) */
  reports: string[];
}

/** A validation period's end, from its result. */
export interface ValidationEnd {
  decision: string;
  week: number;
  incomplete: boolean;
  reasons: string[];
}

/**
 * A validation period is expected to end with a decision: STAY or MIGRATE are both the product
 * of the rules; a period that failed or ended without a result is not.
 */
export function validationOutcome(
  mode: 'backtest' | 'live',
  r: ValidationEnd | null,
  state: string,
): { outcome: string; expected: boolean } {
  if (!r) return { outcome: `${mode} ended ${state} without a decision`, expected: false };
  return {
    outcome: `${mode} ${r.decision} at week ${r.week}${r.incomplete ? ' (incomplete data)' : ''}`,
    expected: true,
  };
}

/** A canary rollout's end, from its final status. */
export interface CanaryEnd {
  status: string;
  stage: { name: string; percent: number };
  rollback: { stage: string; reason: string; source?: string } | null;
}

/** The demo expects the rollout to complete; a rollback is reported with its stage and reason. */
export function canaryOutcome(s: CanaryEnd | null, state: string): { outcome: string; expected: boolean } {
  if (!s) return { outcome: `ended ${state} without a status`, expected: false };
  if (s.status === 'completed')
    return { outcome: `completed at ${s.stage.name} (${s.stage.percent}% on approach 2)`, expected: true };
  if (s.rollback)
    return {
      outcome: `rolled back at ${s.rollback.stage}${s.rollback.source ? ` (${s.rollback.source})` : ''}: ${s.rollback.reason}`,
      expected: false,
    };
  return { outcome: `${s.status} at ${s.stage.name} (workflow ${state})`, expected: false };
}

/** A production baseline's end, from its result. */
export interface BaselineEnd {
  outcome: string;
  decision: string;
  reason: string | null;
  reportIds: string[];
  archive: { name: string } | null;
}

/**
 * The demo expects the baseline to run to its end and leave its artifacts (CSV, report, SLO
 * draft, archive). GO or NO-GO is the seed's criteria applied to a laptop-sized run: reported,
 * not required. A tripped breaker, a cancel or a failure is not the expected end.
 */
export function baselineOutcome(r: BaselineEnd | null, state: string): { outcome: string; expected: boolean } {
  if (!r) return { outcome: `ended ${state} without a result`, expected: false };
  const archive = r.archive ? `, archive ${r.archive.name}` : ', no archive';
  if (r.outcome !== 'completed')
    return { outcome: `${r.outcome}${r.reason ? `: ${r.reason}` : ''}${archive}`, expected: false };
  return { outcome: `completed, ${r.decision.toUpperCase()}${archive}`, expected: r.archive !== null };
}

/** A drift review's end, from its result. */
export interface DriftEnd {
  summary: string;
  passed: boolean;
}

/**
 * The demo expects a verdict (the N/7 table per process). PASS or FAIL is the seed's criteria on
 * a one-minute soak of a busy 2-core machine: reported, not required.
 */
export function driftOutcome(r: DriftEnd | null, state: string): { outcome: string; expected: boolean } {
  if (!r) return { outcome: `ended ${state} without a verdict`, expected: false };
  return { outcome: r.summary, expected: true };
}

/** `1m05s`, `42s`. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** True when every phase ran and ended as the demo expects. */
export function lifecycleOk(records: readonly PhaseRecord[], planned: readonly LifecyclePhase[]): boolean {
  return planned.every((p) => records.some((r) => r.phase === p && r.expected));
}

/** Outcomes longer than this are cut in the table (the phase's own end line has them whole). */
export const OUTCOME_WIDTH = 80;

/**
 * The summary table: one row per planned phase (a phase that never ran says so), then the total.
 * Columns: phase, outcome (✓ expected / ✗ not), duration, report link.
 */
export function summaryTable(
  records: readonly PhaseRecord[],
  planned: readonly LifecyclePhase[],
  totalMs: number,
): string[] {
  const rows = planned.map((phase) => {
    const r = records.find((x) => x.phase === phase);
    if (!r) return [phase, '✗ not run', '—', '—'];
    const outcome = r.outcome.length > OUTCOME_WIDTH ? `${r.outcome.slice(0, OUTCOME_WIDTH - 1)}…` : r.outcome;
    return [phase, `${r.expected ? '✓' : '✗'} ${outcome}`, formatDuration(r.durationMs), r.reports[0] ?? '—'];
  });
  const head = ['phase', 'outcome', 'duration', 'report'];
  const all = [head, ...rows];
  const width = head.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const line = (row: string[]): string =>
    `| ${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(width[i]!))).join(' | ')} |`;
  const ok = lifecycleOk(records, planned);
  return [
    line(head),
    `|${width.map((w, i) => '-'.repeat(i === width.length - 1 ? 8 : w + 2)).join('|')}|`,
    ...rows.map(line),
    `lifecycle ${ok ? 'completed as expected' : 'did NOT end as expected'} in ${formatDuration(totalMs)}`,
  ];
}
