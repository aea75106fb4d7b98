/**
 * The weekly rollback drill's rules and report (seed 002 step 5: "Run chaos test (flip flag
 * on/off every 30s for 5 mins) — verify no lock leaks or session issues — validate rollback
 * time"). Pure, so rollbackDrillWorkflow builds its verdict and report page deterministically.
 */

export interface FlagSetting {
  operation: string;
  percent: number;
  shadow: boolean;
  /** the shadow share; absent in snapshots taken before it existed (shadow on = every agent) */
  shadowPercent?: number;
}

export interface FlipResult {
  flip: number;
  direction: 'on' | 'off';
  changeId: string | null;
  version: number;
  /** every expected flag-caching process acknowledged within the wait */
  switched: boolean;
  /** decision → last process switched, ms; null when nothing changed or not every process acked */
  durationMs: number | null;
  processes: number;
  missing: string[];
  /** flags the flip changed (0: they already had the target, nothing to switch) */
  changed: number;
}

export interface LoadSummary {
  /** synthetic agents routed every tick */
  agents: number;
  ticks: number;
  decisions: number;
  pooled: number;
  simple: number;
  /** flag versions this process applied during the load */
  versionsSeen: number;
  /**
   * Agent/operation pairs whose approach changed while the flag they read did not: routing must
   * be sticky, so anything above 0 is a router fault.
   */
  flapping: number;
  /** decisions routed to approach 2 while this process's flags said 0% (must be 0) */
  pooledWhileOff: number;
}

export interface DrillInvariants {
  /** push locks acquired since the drill started and still held past their expiry */
  leakedLocks: { lockKey: string; holder: string; expiresAt: string }[];
  leakedLockCount: number;
  /** sandboxes in use without activity for longer than the bound */
  stuckSandboxes: { sandboxId: string; agentId: string; lastActivityAt: string }[];
  stuckSandboxCount: number;
}

export interface DrillJudgement {
  /** aborted: a real kill switch was pulled during the drill, which stopped and left the flags killed */
  verdict: 'pass' | 'fail' | 'aborted';
  failures: string[];
}

/**
 * Pass when every flip switched every process within the bound, routing stayed sound and nothing
 * leaked. `interruptedBy` (a real kill switch pulled during the drill) makes it aborted: the
 * flips stopped, so the figures say nothing about the switch.
 */
export function judgeDrill(
  flips: FlipResult[],
  load: LoadSummary,
  inv: DrillInvariants,
  switchBoundMs: number,
  interruptedBy: string | null = null,
): DrillJudgement {
  if (interruptedBy !== null) return { verdict: 'aborted', failures: [`stopped by the kill switch: ${interruptedBy}`] };
  const failures: string[] = [];
  if (flips.length === 0) failures.push('no flip was made');
  for (const f of flips) {
    if (f.changed === 0) continue;
    if (!f.switched)
      failures.push(
        `flip ${f.flip} (${f.direction}): ${f.missing.length} process(es) did not switch: ${f.missing.join(', ')}`,
      );
    else if (f.durationMs === null)
      failures.push(`flip ${f.flip} (${f.direction}): switch time not measurable (no flag-caching process was live)`);
    else if (f.durationMs >= switchBoundMs)
      failures.push(`flip ${f.flip} (${f.direction}): took ${f.durationMs.toFixed(1)} ms (bound ${switchBoundMs} ms)`);
  }
  if (load.decisions === 0) failures.push('the synthetic load made no routing decisions');
  if (load.flapping > 0) failures.push(`${load.flapping} agent/operation pairs changed approach without a flag change`);
  if (load.pooledWhileOff > 0)
    failures.push(`${load.pooledWhileOff} decisions went to approach 2 while the flags were off`);
  if (inv.leakedLockCount > 0) failures.push(`${inv.leakedLockCount} push lock(s) held past expiry`);
  if (inv.stuckSandboxCount > 0) failures.push(`${inv.stuckSandboxCount} sandbox(es) stuck in use`);
  return { verdict: failures.length === 0 ? 'pass' : 'fail', failures };
}

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const ms = (v: number | null): string => (v === null ? '—' : v.toFixed(1));

export interface DrillReportInput {
  drillId: string;
  startedAt: string;
  finishedAt: string;
  flipEverySeconds: number;
  durationSeconds: number;
  switchBoundMs: number;
  flips: FlipResult[];
  load: LoadSummary;
  invariants: DrillInvariants;
  judgement: DrillJudgement;
  restored: boolean;
  /** why the pre-drill flags were not restored (the kill switch was pulled meanwhile) */
  restoreSkipped?: string | null;
}

/** The drill's report page (markdown; the report store renders the HTML). */
export function renderDrillReport(r: DrillReportInput): string {
  const times = r.flips
    .map((f) => f.durationMs)
    .filter((d): d is number => d !== null)
    .sort((a, b) => a - b);
  const lines = [
    `# Rollback drill ${r.drillId}: ${r.judgement.verdict.toUpperCase()}`,
    '',
    `Flags flipped on/off every ${r.flipEverySeconds} s for ${r.durationSeconds} s under a synthetic load of ${r.load.agents} agents`,
    `(seed 002 step 5). Started ${r.startedAt}, finished ${r.finishedAt}. Every flip must reach every flag-caching process in`,
    `< ${r.switchBoundMs} ms.`,
    '',
    '## Result',
    '',
    r.judgement.failures.length === 0 ? '- every check passed' : r.judgement.failures.map((f) => `- ${f}`).join('\n'),
    `- switch time p50 ${ms(quantile(times, 0.5))} ms, max ${ms(times.length ? times[times.length - 1]! : null)} ms over ${times.length} measured flips`,
    `- flags restored to their pre-drill values: ${r.restored ? 'yes' : `no${r.restoreSkipped ? ` — ${r.restoreSkipped}` : ''}`}`,
    '',
    '## Flips',
    '',
    '| # | direction | changed flags | processes | switched | ms |',
    '|---|---|---|---|---|---|',
    ...r.flips.map(
      (f) =>
        `| ${f.flip} | ${f.direction} | ${f.changed} | ${f.processes} | ${f.switched ? 'yes' : `no (${f.missing.length} missing)`} | ${ms(f.durationMs)} |`,
    ),
    '',
    '## Synthetic load',
    '',
    `${r.load.decisions} routing decisions in ${r.load.ticks} ticks (${r.load.pooled} approach 2, ${r.load.simple} approach 1);`,
    `${r.load.versionsSeen} flag versions applied; ${r.load.flapping} flapping agent/operation pairs; ${r.load.pooledWhileOff} approach-2`,
    'decisions while off.',
    '',
    '## Locks and sandboxes',
    '',
    `- push locks held past expiry: ${r.invariants.leakedLockCount}`,
    ...r.invariants.leakedLocks.map((l) => `  - ${l.lockKey} held by ${l.holder}, expired ${l.expiresAt}`),
    `- sandboxes stuck in use: ${r.invariants.stuckSandboxCount}`,
    ...r.invariants.stuckSandboxes.map(
      (s) => `  - ${s.sandboxId} (agent ${s.agentId}), last activity ${s.lastActivityAt}`,
    ),
    '',
  ];
  return lines.join('\n');
}
