/**
 * Notification events of the phases (issue 11 item 3) and their payloads, pure: no Temporal, no
 * I/O. Workflows build a {@link NotifyEvent} from their own state and hand it to the `notify`
 * activity (activities/notify.ts), which formats it here for each receiver of its kind and sends
 * it (lib/notify/send.ts). An event carries ids, names and numbers only: never a receiver's URL
 * (Slack's carry a secret), so nothing secret reaches workflow history.
 */

/** The event kinds a receiver may ask for (`notify.webhooks[].events`). */
export const NOTIFY_KINDS = [
  'validation_decision',
  'canary_stage',
  'rollback',
  'kill_switch',
  'breaker_trip',
  'baseline_done',
  'drift_verdict',
] as const;
export type NotifyKind = (typeof NOTIFY_KINDS)[number];

/** A measured value beside its threshold (a rollback trigger, a breaker rule). */
export interface NotifyValue {
  name: string;
  value: number | null;
  threshold: number;
  status?: string;
}

interface EventBase {
  /**
   * Stable per event (workflow id + what happened): a receiver can drop a repeat, since a retried
   * delivery sends the same id.
   */
  id: string;
  /** ISO time the event happened (the workflow's clock) */
  at: string;
  /** the workflow that raised it, for a Temporal UI link */
  workflowId?: string;
}

export interface ValidationDecisionEvent extends EventBase {
  kind: 'validation_decision';
  runId: string;
  mode: string;
  decision: string;
  /** the rules' own decision when an operator overrode it */
  ruleDecision: string;
  week: number;
  forced: boolean;
  incomplete: boolean;
  reasons: string[];
  overriddenBy?: string;
}

export interface CanaryStageEvent extends EventBase {
  kind: 'canary_stage';
  rolloutId: string;
  stage: string;
  /** 0-based index in the plan */
  stageIndex: number;
  stages: number;
  percent: number;
  shadow: boolean;
}

export interface RollbackEvent extends EventBase {
  kind: 'rollback';
  rolloutId: string;
  /** `auto` (a trigger fired), `manual` (an operator asked), `kill_switch` (the flags were latched) */
  source: 'auto' | 'manual' | 'kill_switch';
  stage: string;
  reason: string;
  actor: string;
  /** the trigger that fired (auto only) */
  trigger: string | null;
  /** the last analysis's values against their thresholds */
  values: NotifyValue[];
  switched: boolean;
  switchDurationMs: number | null;
}

export interface KillSwitchEvent extends EventBase {
  kind: 'kill_switch';
  reason: string;
  actor: string;
  eventId: number | null;
  switched: boolean;
  switchDurationMs: number | null;
}

export interface BreakerTripEvent extends EventBase {
  kind: 'breaker_trip';
  runId: string;
  phase: string;
  sampleNum: number;
  rule: string;
  value: number;
  threshold: number;
  reason: string;
}

export interface BaselineDoneEvent extends EventBase {
  kind: 'baseline_done';
  runId: string;
  outcome: string;
  decision: string;
  reason: string | null;
  reportIds: string[];
}

export interface DriftVerdictEvent extends EventBase {
  kind: 'drift_verdict';
  reviewId: string;
  passed: boolean;
  mode: string;
  summary: string;
  failedProcesses: string[];
}

export type NotifyEvent =
  | ValidationDecisionEvent
  | CanaryStageEvent
  | RollbackEvent
  | KillSwitchEvent
  | BreakerTripEvent
  | BaselineDoneEvent
  | DriftVerdictEvent;

/** Where links point: Temporal UI's base URL and namespace (no secrets). */
export interface NotifyLinks {
  uiUrl?: string;
  namespace?: string;
}

const pct = (x: number): string => `${Math.round(x * 10_000) / 100}%`;
const num = (x: number | null): string => (x === null ? 'no data' : String(Math.round(x * 10_000) / 10_000));

/** One line saying what happened, for humans (Slack's `text`, the JSON `summary`). */
export function summaryOf(e: NotifyEvent): string {
  switch (e.kind) {
    case 'validation_decision':
      return (
        `Validation ${e.runId} decided ${e.decision} at week ${e.week}` +
        (e.decision !== e.ruleDecision
          ? ` (rules said ${e.ruleDecision}, overridden by ${e.overriddenBy ?? 'an operator'})`
          : '') +
        (e.incomplete ? ' (incomplete data)' : '') +
        (e.mode !== 'live' ? ` [${e.mode}]` : '')
      );
    case 'canary_stage':
      return `Canary ${e.rolloutId} entered stage ${e.stage} (${e.stageIndex + 1}/${e.stages}): ${e.percent}% on approach 2${e.shadow ? ', shadow on' : ''}`;
    case 'rollback': {
      const why = e.trigger !== null ? `trigger ${e.trigger}` : e.reason;
      return `Canary ${e.rolloutId} rolled back (${e.source}) at ${e.stage}: ${why}; ${e.switched ? `every process switched in ${e.switchDurationMs ?? '?'} ms` : 'NOT every process switched'}`;
    }
    case 'kill_switch':
      return `Kill switch pulled by ${e.actor}: ${e.reason}; ${e.switched ? `every process switched in ${e.switchDurationMs ?? '?'} ms` : 'NOT every process switched'}`;
    case 'breaker_trip':
      return `Baseline ${e.runId} circuit breaker tripped in ${e.phase} sample ${e.sampleNum}: ${e.rule} ${pct(e.value)} > ${pct(e.threshold)}`;
    case 'baseline_done':
      return `Baseline ${e.runId} finished ${e.outcome}: ${e.decision}${e.reason ? ` (${e.reason})` : ''}`;
    case 'drift_verdict':
      return `Drift review ${e.reviewId} ${e.passed ? 'PASSED' : 'FAILED'} (${e.mode})${e.failedProcesses.length > 0 ? `: ${e.failedProcesses.join(', ')} failed` : ''}`;
  }
}

/** The Temporal UI page of the event's workflow, when both are known. */
export function workflowLink(e: NotifyEvent, links: NotifyLinks): string | undefined {
  if (!e.workflowId || !links.uiUrl) return undefined;
  const ns = encodeURIComponent(links.namespace ?? 'default');
  return `${links.uiUrl.replace(/\/+$/, '')}/namespaces/${ns}/workflows/${encodeURIComponent(e.workflowId)}`;
}

/** The generic JSON payload: the event's own fields plus `summary` (and `workflowUrl` when known). */
export function jsonPayload(e: NotifyEvent, links: NotifyLinks = {}): Record<string, unknown> {
  const url = workflowLink(e, links);
  return { ...e, summary: summaryOf(e), ...(url ? { workflowUrl: url } : {}) };
}

/** The fields shown under a Slack message, per kind: label → value. */
function factsOf(e: NotifyEvent): [string, string][] {
  switch (e.kind) {
    case 'validation_decision':
      return [
        ['Decision', e.decision],
        ['Rules', e.ruleDecision],
        ['Week', String(e.week)],
        ['Mode', e.mode],
        ['Forced', String(e.forced)],
        ['Incomplete', String(e.incomplete)],
      ];
    case 'canary_stage':
      return [
        ['Stage', e.stage],
        ['Percent', `${e.percent}%`],
        ['Shadow', String(e.shadow)],
        ['Step', `${e.stageIndex + 1}/${e.stages}`],
      ];
    case 'rollback':
      return [
        ['Source', e.source],
        ['Stage', e.stage],
        ['Trigger', e.trigger ?? '-'],
        ['Actor', e.actor],
        ['Switched', e.switched ? `yes, ${e.switchDurationMs ?? '?'} ms` : 'no'],
        ...e.values.map((v): [string, string] => [v.name, `${num(v.value)} (threshold ${num(v.threshold)})`]),
      ];
    case 'kill_switch':
      return [
        ['Actor', e.actor],
        ['Switched', e.switched ? `yes, ${e.switchDurationMs ?? '?'} ms` : 'no'],
        ['Event', String(e.eventId ?? '-')],
      ];
    case 'breaker_trip':
      return [
        ['Phase', e.phase],
        ['Sample', String(e.sampleNum)],
        ['Rule', e.rule],
        ['Value', `${pct(e.value)} (max ${pct(e.threshold)})`],
      ];
    case 'baseline_done':
      return [
        ['Outcome', e.outcome],
        ['Decision', e.decision],
        ['Reports', e.reportIds.length > 0 ? e.reportIds.join(', ') : '-'],
      ];
    case 'drift_verdict':
      return [
        ['Verdict', e.passed ? 'pass' : 'fail'],
        ['Mode', e.mode],
        ['Failed', e.failedProcesses.length > 0 ? e.failedProcesses.join(', ') : '-'],
      ];
  }
}

/** Slack's mrkdwn escapes (&, <, >): names and reasons are shown as written, never as links or mentions. */
export function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * A Slack-compatible payload (incoming webhooks, and Mattermost / Discord `/slack` endpoints):
 * `text` for notifications and clients without blocks, and blocks with the summary, up to ten
 * fields (Slack's limit per section) and a context line with the event id and time.
 */
export function slackPayload(e: NotifyEvent, links: NotifyLinks = {}): { text: string; blocks: unknown[] } {
  const text = slackEscape(summaryOf(e));
  const url = workflowLink(e, links);
  const fields = factsOf(e)
    .slice(0, 10)
    .map(([k, v]) => ({ type: 'mrkdwn', text: `*${slackEscape(k)}*\n${slackEscape(v)}` }));
  const context = [`${e.kind}`, e.at, e.id].map(slackEscape).join(' · ');
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      ...(fields.length > 0 ? [{ type: 'section', fields }] : []),
      {
        type: 'context',
        elements: [{ type: 'mrkdwn', text: url ? `${context} · <${url}|Temporal UI>` : context }],
      },
    ],
  };
}

export type NotifyFormat = 'json' | 'slack';

/** The request body for a receiver of `format`. */
export function formatPayload(e: NotifyEvent, format: NotifyFormat, links: NotifyLinks = {}): unknown {
  return format === 'slack' ? slackPayload(e, links) : jsonPayload(e, links);
}
