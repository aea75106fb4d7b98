/**
 * The rollback runbook (seed 002 step 5 "Test Rollback Mechanism" and step 8 "Document Migration
 * Plan": roles, triggers, procedure), rendered from the live configuration so the thresholds,
 * queries, addresses and cadences it names are the ones the services run with. Pure: config in,
 * markdown out (GET /v1/runbook renders it to HTML for browsers; `npm run cli -- runbook` prints
 * it). Nothing secret is read: tokens appear only as shell variables the reader fills in.
 */
import type { Config } from '../config/index.js';
import { CANARY_QUERY_NAMES } from '../canary/queries.js';

export type RunbookConfig = Pick<Config, 'canary' | 'queries' | 'temporal' | 'schedules'>;

export interface RunbookOptions {
  /** base URL of the API the curl commands call, e.g. http://127.0.0.1:8080 */
  apiUrl: string;
  /** when the text was generated (shown, so a printed copy says how old it is) */
  generatedAt?: Date;
}

/** 0.05 → "5%", 0.9999 → "99.99%" (no float noise). */
export function percentText(fraction: number): string {
  return `${Number((fraction * 100).toPrecision(6))}%`;
}

function seconds(s: number): string {
  if (s % 86_400 === 0 && s >= 86_400) return `${s / 86_400} d`;
  if (s % 3_600 === 0 && s >= 3_600) return `${s / 3_600} h`;
  if (s % 60 === 0 && s >= 60) return `${s / 60} min`;
  return `${s} s`;
}

/** A shell word: single-quoted unless it is plainly safe. */
function sh(word: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function temporalFlags(t: RunbookConfig['temporal']): string {
  const parts = [`--address ${sh(t.address)}`, `--namespace ${sh(t.namespace)}`];
  if (t.tls.enabled || t.apiKey) parts.push('--tls');
  if (t.apiKey) parts.push('--api-key "$TEMPORAL_API_KEY"');
  return parts.join(' ');
}

/** The rollback triggers as the canary analysis judges them, with their configured thresholds. */
export function triggerRows(
  config: Pick<RunbookConfig, 'canary' | 'queries'>,
): { trigger: string; rule: string; query: string }[] {
  const t = config.canary.thresholds;
  const q = (name: string): string => config.queries[name] ?? '(not configured)';
  return [
    {
      trigger: 'error_rate',
      rule: `approach-2 error rate (conflicts excluded) above ${percentText(t.errorRate)}; windows with fewer than ${t.minOperations} approach-2 operations cannot breach`,
      query: q(CANARY_QUERY_NAMES.errorRate),
    },
    {
      trigger: 'p95_latency',
      rule: `approach-2 P95 above ${t.p95Ratio}× approach-1 P95 over the same window (at 100% stages: the last approach-1 P95 measured); a P95 over fewer than ${t.minLatencyOperations} operations is too few to judge (approach 1's few calls right after the cutover: the last approach-1 P95 measured over enough of them judges instead)`,
      query: `${q(CANARY_QUERY_NAMES.p95PooledSeconds)}  ÷  ${q(CANARY_QUERY_NAMES.p95SimpleSeconds)}`,
    },
    {
      trigger: 'consistency',
      rule: `dual-write consistency (1 − reconciliation divergence) below ${percentText(t.consistency)}`,
      query: q(CANARY_QUERY_NAMES.consistency),
    },
  ];
}

/** The runbook as markdown. */
export function renderRunbook(config: RunbookConfig, opts: RunbookOptions): string {
  const c = config.canary;
  const api = opts.apiUrl.replace(/\/+$/, '');
  const tf = temporalFlags(config.temporal);
  const interval = c.analysisIntervalSeconds;
  const window = c.analysisWindowSeconds ?? interval;
  const worstCase = c.consecutiveBreaches * interval;
  const stages = c.stages
    .map((s) => `${s.name} (${s.percent}%${s.shadow ? ', shadow' : ''}, held ${seconds(s.holdSeconds)})`)
    .join(' → ');
  const lines: string[] = [
    '# Rollback runbook',
    '',
    `Seed 002 steps 5 and 8, generated from the live configuration${opts.generatedAt ? ` at ${opts.generatedAt.toISOString()}` : ''}. ` +
      'Every threshold, query and address below is the one the services run with; change temporal.yaml (or its environment overrides) and this text follows.',
    '',
    '## Roles',
    '',
    '| Role | Token role | May |',
    '|---|---|---|',
    '| Migration lead | `operator` | start, advance, pause, resume and roll back a rollout; read reports and the console |',
    '| Rollback authority | `admin` | everything the lead may, plus the kill switch, unlatching it, and setting flags by hand |',
    '| On-call | `operator` (and an `admin` token when also the rollback authority) | watches the alerts and the dashboard; rolls back a rollout on a trigger or a critical incident without asking; pages the rollback authority for the kill switch |',
    '',
    "Anyone holding the role may act: a rollback never waits for an approval. The audit records who (the token's name) and why (the reason is required).",
    '',
    '## Automatic rollback triggers',
    '',
    `The rollout (${stages}) is analysed every ${seconds(interval)} over a window of ${seconds(window)}. ` +
      `A trigger that breaches in ${c.consecutiveBreaches} consecutive analyses rolls the rollout back by itself (within about ${seconds(worstCase)} of the regression starting). ` +
      'A trigger without data makes the analysis inconclusive and pauses the rollout with the reason: no data is never a pass.',
    '',
    '| Trigger | Rolls back when | PromQL (`$window` = the analysis window) |',
    '|---|---|---|',
    ...triggerRows(config).map((r) => `| ${r.trigger} | ${r.rule} | \`${r.query.replace(/\|/g, '\\|')}\` |`),
    '| any critical incident | the on-call or the lead decides (seed 002 step 7) | — |',
    '',
    '## Roll back a rollout (operator)',
    '',
    'Any one of these ends the rollout as rolled back: every flag goes to 0% in one audited change and the rollout records the trigger, the reason and the measured switch time.',
    '',
    '```sh',
    'npm run cli -- rollout rollback <id> --reason "<why>"',
    `temporal workflow signal ${tf} --workflow-id canary-<id> --name rollback --input '{"reason":"<why>"}'`,
    `curl -sS -X POST -H "Authorization: Bearer $SGC_OPERATOR_TOKEN" -H 'content-type: application/json' -d '{"reason":"<why>"}' ${api}/v1/rollouts/<id>/rollback`,
    '```',
    '',
    '`<id>` is the rollout id (`npm run cli -- rollout status <id>`, the console, or Temporal UI: workflow id `canary-<id>`).',
    '',
    '## Kill switch (admin)',
    '',
    'When no rollout is running, when one is stuck, or when approach 2 must be off everywhere now:',
    '',
    '```sh',
    'npm run cli -- flags kill --reason "<why>"',
    `curl -sS -X POST -H "Authorization: Bearer $SGC_ADMIN_TOKEN" -H 'content-type: application/json' -d '{"reason":"<why>"}' ${api}/v1/flags/kill`,
    '```',
    '',
    `or the **Kill switch** form on the console (${api}/), with the confirmation box ticked and a reason.`,
    '',
    'What it does:',
    '',
    '- every flag goes to 0% with shadow off, in one transaction and one audited change, and a rollback event is recorded (who, why, when);',
    `- every API and worker process hears it at once (Postgres LISTEN/NOTIFY) and acknowledges; the answer gives the measured time from the decision until every process switched (it waits up to ${c.switchTimeoutMs} ms and names the processes that did not answer; seed 002: under 30 s);`,
    `- it moves live work: every live approach-2 workspace is re-homed to approach 1 under the same id (\`rehomeWorkflow\` on the git worker; HEAD, index, working tree and unpushed commits carried), and \`GET ${api}/v1/flags/kill/<eventId>/rehome\` lists the carried, the not carried (with the reason; they stay on approach 2 as they were) and those in progress;`,
    '- it **latches**: every later flag write — by hand, by a rollout moving to its next stage, by the weekly drill — is refused (HTTP 409 `latched`) until an admin unlatches. A running rollout cannot turn the flags back on; roll it back too so it ends;',
    '- unlatching leaves the flags at 0%: turning approach 2 on again is a separate, deliberate change (a new rollout).',
    '',
    'Unlatch, once the cause is understood (admin, reason required and audited):',
    '',
    '```sh',
    'npm run cli -- flags unlatch --reason "<why it is safe again>"',
    `curl -sS -X POST -H "Authorization: Bearer $SGC_ADMIN_TOKEN" -H 'content-type: application/json' -d '{"reason":"<why>"}' ${api}/v1/flags/unlatch`,
    '```',
    '',
    '## Verify',
    '',
    '1. Flags: every flag at 0%, shadow off — `npm run cli -- flags list`, or `curl -sS -H "Authorization: Bearer $SGC_ADMIN_TOKEN" ' +
      `${api}/v1/flags\`.`,
    `2. Latch (after a kill): \`curl -sS -H "Authorization: Bearer $SGC_ADMIN_TOKEN" ${api}/v1/flags/latch\` answers \`"latched": true\` with the reason.`,
    "3. Switch time: the kill's answer (`switched`, `durationMs`, `missing`), or for a rollout `npm run cli -- rollout status <id>` (rolled back, switched yes, in N ms).",
    '4. Audit: `npm run cli -- flags audit --limit 20` shows the change with its actor and reason.',
    '5. Traffic: in Prometheus or the Grafana dashboard, approach-2 operations fall to zero — `sum by (approach) (rate(gitops_operations_total[1m]))` — and `max by (operation) (gitops_flag_percent)` reads 0; the rollback appears as an annotation (`gitops_rollback_events_total`).',
    `6. Temporal UI: the rollout's workflow \`canary-<id>\` shows the rollback signal and its outcome (${config.temporal.uiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows).`,
    '',
    '## Drill',
    '',
    `The kill switch is exercised by a Schedule (\`${config.schedules.rollbackDrillCron}\`, UTC${config.schedules.enabled ? '' : '; schedules are disabled in this configuration'}): ` +
      `flags flip every ${seconds(c.drill.flipEverySeconds)} for ${seconds(c.drill.durationSeconds)}, each flip must take effect within ${c.drill.switchBoundMs} ms, and the drill leaves the flags as it found them (it never writes over a kill). ` +
      "Its report is in the console's report list.",
    '',
  ];
  return lines.join('\n');
}
