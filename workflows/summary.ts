/**
 * One-line human summaries of each phase's `status` (week/day and decision, stage and percent,
 * sample n of N, verdict). Pure and deterministic: the console and the CLI's `--wait` progress
 * print them, and the workflows put them in their memo (`summary`) so Temporal UI's list says
 * where each run is. Takes only the status fields it prints, so it stays valid across status
 * shape changes that do not touch them.
 */
import type { CanaryStatus } from './canary-rollout/messages.js';
import type { DriftStatus } from './drift-review/messages.js';
import type { BaselineStatus } from './production-baseline/messages.js';
import type { ValidationStatus } from './validation-period/messages.js';

/** The memo key the summary is kept under. */
export const SUMMARY_MEMO_KEY = 'summary';

/** A memo value is shown in one line of Temporal UI's list: keep it short. */
export const SUMMARY_MAX_LENGTH = 200;

export function clip(s: string, max = SUMMARY_MAX_LENGTH): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

export type ValidationSummaryInput = Pick<
  ValidationStatus,
  'mode' | 'phase' | 'week' | 'day' | 'daysPerWeek' | 'plannedWeeks' | 'provisional' | 'decision'
> & { lastDecision: Pick<NonNullable<ValidationStatus['lastDecision']>, 'week' | 'decision'> | null };

export function validationSummary(s: ValidationSummaryInput): string {
  const where = `week ${s.week} day ${Math.min(s.day, s.daysPerWeek)}/${s.daysPerWeek}`;
  if (s.decision) return clip(`${s.mode} validation: decided ${s.decision} at week ${s.lastDecision?.week ?? s.week}`);
  const last = s.lastDecision
    ? `last checkpoint week ${s.lastDecision.week}: ${s.lastDecision.decision}`
    : 'no checkpoint yet';
  return clip(
    `${s.mode} validation: ${where} (decision planned at week ${s.plannedWeeks}), ${s.phase}; ${last}${s.provisional ? `, if decided now ${s.provisional}` : ''}`,
  );
}

export interface CanarySummaryInput {
  status: CanaryStatus['status'];
  stage: Pick<CanaryStatus['stage'], 'index' | 'name' | 'percent' | 'shadow'>;
  stages: readonly unknown[];
  paused?: Pick<NonNullable<CanaryStatus['paused']>, 'reason'> | null;
  rollback?: Pick<NonNullable<CanaryStatus['rollback']>, 'source' | 'reason'> | null;
}

export function canarySummary(s: CanarySummaryInput): string {
  const stage = `stage ${s.stage.index + 1}/${s.stages.length} ${s.stage.name}: ${s.stage.percent}% to approach 2${s.stage.shadow ? ' + shadow' : ''}`;
  if (s.rollback) return clip(`canary rolled back (${s.rollback.source}) at ${s.stage.name}: ${s.rollback.reason}`);
  if (s.status === 'paused' && s.paused) return clip(`canary paused at ${stage} — ${s.paused.reason}`);
  return clip(`canary ${s.status.replace('_', ' ')}, ${stage}`);
}

export type BaselineSummaryInput = Pick<
  BaselineStatus,
  'status' | 'stage' | 'phase' | 'sampleNum' | 'samplesTotal' | 'decision'
> & { breaker: Pick<BaselineStatus['breaker'], 'state' | 'reason'> };

export function baselineSummary(s: BaselineSummaryInput): string {
  const sample = s.phase ? `, ${s.phase} sample ${s.sampleNum} of ${s.samplesTotal}` : '';
  const tail =
    s.breaker.state === 'tripped'
      ? `; breaker tripped: ${s.breaker.reason}`
      : s.decision
        ? `; decision ${s.decision.toUpperCase()}`
        : '';
  return clip(`baseline ${s.status}, ${s.stage}${sample}${tail}`);
}

export type DriftSummaryInput = Pick<DriftStatus, 'stage' | 'sampleNum' | 'samplesTotal'> & {
  verdict: Pick<NonNullable<DriftStatus['verdict']>, 'passed' | 'summary'> | null;
};

export function driftSummary(s: DriftSummaryInput): string {
  if (s.verdict) {
    // a review's verdict summary may already lead with PASS/FAIL (several processes)
    const v = s.verdict.summary;
    return clip(`drift review ${/^(PASS|FAIL)\b/.test(v) ? v : `${s.verdict.passed ? 'PASS' : 'FAIL'}: ${v}`}`);
  }
  return clip(`drift review ${s.stage}, sample ${s.sampleNum} of ${s.samplesTotal}`);
}

/** The memo a phase run starts with (the workflow replaces it as it goes): `{ summary }`. */
export function startMemo(summary: string): Record<string, string> {
  return { [SUMMARY_MEMO_KEY]: clip(summary) };
}
