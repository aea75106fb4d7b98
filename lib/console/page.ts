/**
 * The operators' console at `/` (issue 11 item 2): server-rendered HTML, usable without
 * JavaScript — phases with their state, flags and the kill latch, recent rollbacks, the latest
 * reports, links into Temporal UI, and for admins the kill switch (and unlatch) as plain forms
 * carrying the session's CSRF token. Pure: a view model in, a page out. Every value goes through
 * the escaping `html` template (lib/html.ts): reasons, actor names, report titles and workflow
 * ids are agent- or operator-controlled text.
 */
import { html, trusted, type SafeHtml } from '../html.js';

export type ConsoleRole = 'operator' | 'admin';

export interface ConsoleFlag {
  operation: string;
  percent: number;
  shadow: boolean;
  version: number;
  updatedAt: Date;
  updatedBy: string;
}

export interface ConsoleLatch {
  latched: boolean;
  reason: string | null;
  actor: string | null;
  since: Date | null;
}

export interface ConsolePhaseRun {
  phase: string;
  workflowId: string;
  execution: string;
  summary: string;
  startTime: Date;
  closeTime: Date | null;
  /** Temporal UI page of the workflow */
  temporalUrl: string;
}

export interface ConsoleRollback {
  id: number;
  source: string;
  actor: string;
  reason: string;
  decidedAt: Date;
  durationMs: number | null;
  missingProcesses: string[] | null;
}

export interface ConsoleReport {
  id: string;
  kind: string;
  runId: string;
  title: string;
  createdAt: Date;
}

/** A section's data, or why it could not be read (the page renders either way). */
export type Loaded<T> = { ok: true; value: T } | { ok: false; error: string };

export interface ConsoleView {
  principal: { name: string; role: ConsoleRole };
  /** the session's CSRF token, put in every form */
  csrf: string;
  notice?: { kind: 'ok' | 'error'; text: string };
  /** what the kill form had, re-shown after a refused submission */
  killForm?: { reason: string };
  flags: Loaded<{ flags: ConsoleFlag[]; latch: ConsoleLatch }>;
  phases: Loaded<ConsolePhaseRun[]>;
  rollbacks: Loaded<ConsoleRollback[]>;
  reports: Loaded<ConsoleReport[]>;
  links: { temporalUi: string; runbook: string; docs: string };
  generatedAt: Date;
}

const CSS = `
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827; background: #f3f4f6; margin: 0; }
header { background: #111827; color: #f9fafb; padding: 10px 24px; display: flex; gap: 18px; align-items: center; flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0 12px 0 0; } header a { color: #93c5fd; } header .who { margin-left: auto; }
header form { display: inline; } header button { font: inherit; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 24px 48px; }
section { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 12px 18px 16px; margin: 14px 0; }
h2 { font-size: 18px; margin: 4px 0 10px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #f9fafb; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; }
.notice { padding: 10px 14px; border-radius: 6px; margin: 12px 0; }
.notice.ok { background: #ecfdf5; border: 1px solid #10b981; } .notice.error { background: #fef2f2; border: 1px solid #ef4444; }
.latched { background: #fef2f2; border: 2px solid #dc2626; padding: 8px 12px; border-radius: 6px; font-weight: 600; }
.unlatched { color: #047857; }
.danger { border: 2px solid #dc2626; }
form.kill { margin-top: 12px; display: grid; gap: 8px; max-width: 560px; }
form.kill input[type=text] { font: inherit; padding: 6px; }
form.kill button { font: inherit; font-weight: 700; background: #dc2626; color: #fff; border: 0; padding: 8px 14px; border-radius: 6px; cursor: pointer; justify-self: start; }
.muted { color: #6b7280; font-size: 13px; }
.unavailable { color: #b91c1c; }
`;

function when(d: Date | null): string {
  return d === null
    ? '—'
    : d
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d{3}Z$/, 'Z');
}

function reportHref(id: string): string {
  return `/v1/reports/${encodeURIComponent(id)}?format=html`;
}

function unavailable(what: string, error: string): SafeHtml {
  return html`<p class="unavailable">${what} unavailable: ${error}</p>`;
}

function flagsSection(v: ConsoleView): SafeHtml {
  if (!v.flags.ok)
    return html`<section id="flags"><h2>Flags and kill switch</h2>${unavailable('Flags', v.flags.error)}</section>`;
  const { flags, latch } = v.flags.value;
  const latchLine = latch.latched
    ? html`<p class="latched" id="latch">Kill switch LATCHED since ${when(latch.since)} by ${latch.actor ?? '?'}: ${latch.reason ?? ''}. Every flag write is refused until an admin unlatches.</p>`
    : html`<p class="unlatched" id="latch">Not latched: flag writes are accepted.</p>`;
  const rows = flags.map(
    (f) =>
      html`<tr data-operation="${f.operation}"><td><code>${f.operation}</code></td><td class="percent">${f.percent}%</td><td>${f.shadow ? 'on' : 'off'}</td><td>v${f.version}</td><td>${when(f.updatedAt)}</td><td>${f.updatedBy}</td></tr>`,
  );
  const admin = v.principal.role === 'admin';
  const killForm = admin
    ? html`<form class="kill danger" method="post" action="/console/kill" id="kill-form">
<strong>Kill switch</strong>
<span class="muted">Every flag to 0% and shadow off in every process at once, latched until an admin unlatches (the same action as <code>POST /v1/flags/kill</code>; audited).</span>
<input type="hidden" name="csrf" value="${v.csrf}">
<label>Reason (required) <input type="text" name="reason" required maxlength="500" size="60" value="${v.killForm?.reason ?? ''}"></label>
<label><input type="checkbox" name="confirm" value="yes" required> I confirm: move every agent to approach 1 now</label>
<button type="submit">Pull the kill switch</button>
</form>`
    : html`<p class="muted">The kill switch needs an admin token.</p>`;
  const unlatchForm =
    admin && latch.latched
      ? html`<form class="kill" method="post" action="/console/unlatch" id="unlatch-form">
<strong>Unlatch</strong>
<span class="muted">Flag writes are accepted again; the flags stay at 0% until changed.</span>
<input type="hidden" name="csrf" value="${v.csrf}">
<label>Reason (required) <input type="text" name="reason" required maxlength="500" size="60"></label>
<label><input type="checkbox" name="confirm" value="yes" required> I confirm the cause is understood</label>
<button type="submit">Unlatch</button>
</form>`
      : null;
  return html`<section id="flags"><h2>Flags and kill switch</h2>
${latchLine}
<table><thead><tr><th>Flag</th><th>To approach 2</th><th>Shadow</th><th>Version</th><th>Changed</th><th>By</th></tr></thead><tbody>${rows}</tbody></table>
${killForm}${unlatchForm}</section>`;
}

function phasesSection(v: ConsoleView): SafeHtml {
  if (!v.phases.ok)
    return html`<section id="phases"><h2>Phases</h2>${unavailable('Temporal', v.phases.error)}</section>`;
  const runs = v.phases.value;
  const body =
    runs.length === 0
      ? html`<p class="muted">No phase has run yet. Start one: <code>npm run cli -- validation start …</code>, <code>rollout start</code>, <code>baseline start</code>, <code>drift start</code>.</p>`
      : html`<table><thead><tr><th>Phase</th><th>Workflow</th><th>State</th><th>Where it is</th><th>Started</th><th>Closed</th></tr></thead><tbody>${runs.map((r) => html`<tr class="phase-${r.phase}"><td>${r.phase}</td><td><a href="${r.temporalUrl}">${r.workflowId}</a></td><td>${r.execution}</td><td>${r.summary}</td><td>${when(r.startTime)}</td><td>${when(r.closeTime)}</td></tr>`)}</tbody></table>`;
  return html`<section id="phases"><h2>Phases</h2>${body}</section>`;
}

function rollbacksSection(v: ConsoleView): SafeHtml {
  if (!v.rollbacks.ok)
    return html`<section id="rollbacks"><h2>Recent rollbacks</h2>${unavailable('Rollback events', v.rollbacks.error)}</section>`;
  const events = v.rollbacks.value;
  const body =
    events.length === 0
      ? html`<p class="muted">No kill switch or rollback yet.</p>`
      : html`<table><thead><tr><th>#</th><th>Source</th><th>Decided</th><th>By</th><th>Reason</th><th>Switched</th></tr></thead><tbody>${events.map((e) => html`<tr id="rollback-${e.id}"><td>${e.id}</td><td>${e.source}</td><td>${when(e.decidedAt)}</td><td>${e.actor}</td><td>${e.reason}</td><td>${e.durationMs !== null ? `${e.durationMs.toFixed(1)} ms` : e.missingProcesses && e.missingProcesses.length > 0 ? `not acknowledged by ${e.missingProcesses.join(', ')}` : '—'}</td></tr>`)}</tbody></table>`;
  return html`<section id="rollbacks"><h2>Recent rollbacks</h2>${body}</section>`;
}

function reportsSection(v: ConsoleView): SafeHtml {
  if (!v.reports.ok)
    return html`<section id="reports"><h2>Latest reports</h2>${unavailable('Reports', v.reports.error)}</section>`;
  const reports = v.reports.value;
  const body =
    reports.length === 0
      ? html`<p class="muted">No reports yet: every phase writes its reports here.</p>`
      : html`<table><thead><tr><th>Report</th><th>Kind</th><th>Run</th><th>Created</th></tr></thead><tbody>${reports.map((r) => html`<tr><td><a class="report" href="${reportHref(r.id)}">${r.title}</a></td><td>${r.kind}</td><td>${r.runId}</td><td>${when(r.createdAt)}</td></tr>`)}</tbody></table>`;
  return html`<section id="reports"><h2>Latest reports</h2>${body}</section>`;
}

function page(title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title><style>${trusted(CSS)}</style></head>
<body>${body}</body></html>`.value;
}

/** The console for a signed-in operator or admin. */
export function renderConsolePage(v: ConsoleView): string {
  const notice = v.notice
    ? html`<p class="notice ${v.notice.kind}" id="notice" role="status">${v.notice.text}</p>`
    : null;
  return page(
    'sandbox-git-control console',
    html`<header><h1>sandbox-git-control</h1>
<a href="/">Refresh</a><a href="${v.links.temporalUi}">Temporal UI</a><a href="${v.links.runbook}">Rollback runbook</a><a href="${v.links.docs}">API docs</a>
<span class="who">${v.principal.name} (${v.principal.role})</span>
<form method="post" action="/console/logout"><input type="hidden" name="csrf" value="${v.csrf}"><button type="submit">Sign out</button></form>
</header>
<main>${notice}
${flagsSection(v)}
${phasesSection(v)}
${rollbacksSection(v)}
${reportsSection(v)}
<p class="muted">Rendered ${when(v.generatedAt)}. Reload the page for fresh state.</p>
</main>`,
  );
}

/** The sign-in page: one field for the bearer token, kept in an HttpOnly SameSite=Strict cookie. */
export function renderLoginPage(o: { error?: string } = {}): string {
  return page(
    'Sign in — sandbox-git-control',
    html`<header><h1>sandbox-git-control</h1></header>
<main><section><h2>Sign in</h2>
${o.error ? html`<p class="notice error" id="notice" role="alert">${o.error}</p>` : null}
<form method="post" action="/console/login" id="login-form">
<p><label>API token (operator or admin) <input type="password" name="token" required autocomplete="off" size="50"></label></p>
<p class="muted">The token is kept in a cookie only this site reads (HttpOnly, SameSite=Strict) and is accepted for the console and the report pages it links to.</p>
<button type="submit">Sign in</button>
</form></section></main>`,
  );
}
