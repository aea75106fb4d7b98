/**
 * The lifecycle `npm start` walks once the stack is up and the agent workload runs (issue 11
 * item 1): validation (a backtest over generated history, then a short live period over the
 * workload's own metrics), a canary rollout of the configured plan advancing by itself, a
 * production baseline with short windows, a short drift review of the API and the worker — each
 * phase its real workflow on the stack's phases worker, started and followed through the same
 * clients/ helpers as the API and the CLI (input builders, start, status), with the compressed
 * timings of temporal.yaml's `demo:` key. Progress lines carry links into Temporal UI and to each
 * report; the summary table comes from lib/lifecycle/plan.ts.
 */
import type { Client } from '@temporalio/client';
import { baselineInputFromConfig, baselineStatus, cancelBaseline, startBaseline } from '../../clients/baseline.js';
import { controlRollout, rolloutStatus, startRollout } from '../../clients/canary.js';
import { driftInputFromConfig, driftStatus, startDrift } from '../../clients/drift.js';
import { temporalUiUrl } from '../../clients/phases.js';
import {
  buildValidationInput,
  decideValidationNow,
  getValidationPeriod,
  startValidationPeriod,
  type StartValidationRequest,
} from '../../clients/validation.js';
import type { Config } from '../../lib/config/index.js';
import {
  baselineOutcome,
  canaryOutcome,
  driftOutcome,
  formatDuration,
  lifecycleOk,
  summaryTable,
  validationOutcome,
  type LifecyclePhase,
  type PhaseRecord,
} from '../../lib/lifecycle/plan.js';
import { baselineSummary, canarySummary, driftSummary, validationSummary } from '../../workflows/summary.js';
import { waitWithProgress, type Progress } from '../cli/wait.js';
import type { DemoHistory } from './history.js';

export interface LifecycleDeps {
  /** the configuration the stack's processes run with (the API port, task queues, demo remote) */
  config: Config;
  client: Client;
  temporalUiUrl: string;
  apiUrl: string;
  /** the generated history of the backtest (prepared before Prometheus started); null skips the backtest */
  history: DemoHistory | null;
  say: (line: string) => void;
  /** between status polls; default 3 s */
  pollMs?: number;
}

export interface LifecycleResult {
  records: PhaseRecord[];
  ok: boolean;
  totalMs: number;
  table: string[];
}

export class Lifecycle {
  /** the runs in flight, so a stop (Ctrl-C) ends them cleanly instead of leaving them running */
  private readonly inFlight = new Set<(reason: string) => Promise<void>>();
  private stopped = false;
  private running: Promise<LifecycleResult> | null = null;
  private readonly stamp = new Date()
    .toISOString()
    .replace(/[-:T]/g, '')
    .replace(/\..*$/, '')
    .replace(/^(\d{8})/, '$1-');

  constructor(private readonly d: LifecycleDeps) {}

  private ui(workflowId: string): string {
    return temporalUiUrl(this.d.temporalUiUrl, this.d.config.temporal.namespace, workflowId);
  }

  private report(id: string): string {
    return `${this.d.apiUrl}/v1/reports/${encodeURIComponent(id)}`;
  }

  private get temporal() {
    return { client: this.d.client, taskQueue: this.d.config.temporal.taskQueues.phases };
  }

  /** Follows a run until it ends, with a progress line per change; past `deadlineMs` the run is stopped. */
  private async follow(
    label: string,
    poll: () => Promise<Progress>,
    deadlineMs: number,
    stop: (reason: string) => Promise<void>,
  ): Promise<void> {
    const until = Date.now() + deadlineMs;
    let timedOut = false;
    this.inFlight.add(stop);
    try {
      await waitWithProgress({
        out: (l) => this.d.say(`${label}: ${l}`),
        intervalMs: this.d.pollMs ?? 3_000,
        heartbeatMs: 30_000,
        poll: async () => {
          const p = await poll();
          if (!p.done && !timedOut && Date.now() > until) {
            timedOut = true;
            this.d.say(`${label}: not ended within ${formatDuration(deadlineMs)}; stopping it`);
            await stop(`the demo's ${label} did not end within ${formatDuration(deadlineMs)}`);
          }
          // on a stop the run was asked to end (stop() below); its end is read once more after this
          if (this.stopped && !p.done) return { done: true, line: `${p.line} (asked to stop)` };
          return p;
        },
      });
    } finally {
      this.inFlight.delete(stop);
    }
  }

  private async validation(): Promise<PhaseRecord> {
    const t0 = Date.now();
    const { config, history } = this.d;
    const demo = config.demo.validation;
    const workflows: string[] = [];
    const run = async (
      mode: 'backtest' | 'live',
      req: StartValidationRequest,
      deadlineMs: number,
    ): Promise<{ outcome: string; expected: boolean; report?: string }> => {
      const input = buildValidationInput(req, config.validation, config.queries, Math.floor(Date.now() / 1000));
      const started = await startValidationPeriod(this.temporal, input, `demo-${mode}-${this.stamp}`);
      workflows.push(this.ui(started.workflowId));
      this.d.say(`validation ${mode}: ${started.id} started — ${this.ui(started.workflowId)}`);
      await this.follow(
        `validation ${mode}`,
        async () => {
          const v = await getValidationPeriod(this.d.client, started.id);
          if (v.execution !== 'RUNNING') return { done: true, line: `${v.execution.toLowerCase()}` };
          return { done: false, line: v.status ? validationSummary(v.status) : v.execution };
        },
        deadlineMs,
        (reason) => decideValidationNow(this.d.client, started.id, { reason, by: 'npm start' }),
      );
      const v = await getValidationPeriod(this.d.client, started.id);
      const o = validationOutcome(mode, v.result, v.execution);
      this.d.say(`validation ${mode}: ${o.outcome}`);
      for (const r of v.result?.reasons ?? []) this.d.say(`validation ${mode}:   - ${r}`);
      // the last report is the readiness report; the weekly ones come before it
      const ids = v.result?.reportIds ?? [];
      const report = ids.length > 0 ? this.report(ids[ids.length - 1]!) : undefined;
      if (report) this.d.say(`validation ${mode}: readiness report ${report}`);
      if (ids.length > 1) this.d.say(`validation ${mode}: weekly reports ${ids.slice(0, -1).join(', ')}`);
      return { ...o, ...(report ? { report } : {}) };
    };
    // The live period measures the workload from now on and the backtest reads weeks past: they
    // share nothing, so the live period starts beside the backtest instead of after it (the demo
    // would otherwise wait for both in turn).
    const backtest = history
      ? run(
          'backtest',
          {
            weeks: history.weeks,
            minWeeks: 2,
            maxWeeks: history.weeks,
            dayLengthSeconds: 0,
            backtest: { start: history.start, end: history.end },
          },
          5 * 60_000,
        )
      : null;
    const liveSeconds = demo.liveWeeks * demo.liveDaysPerWeek * (demo.liveDaySeconds + demo.liveSettleSeconds + 5);
    const live = run(
      'live',
      {
        weeks: demo.liveWeeks,
        minWeeks: demo.liveWeeks,
        maxWeeks: demo.liveWeeks,
        dayLengthSeconds: demo.liveDaySeconds,
        settleSeconds: demo.liveSettleSeconds,
        config: {
          daysPerWeek: demo.liveDaysPerWeek,
          resolutionSeconds: demo.liveResolutionSeconds,
          // the peak subqueries sample every scrape (5 s) inside a day that lasts seconds
          subqueryStepSeconds: 5,
        },
      },
      liveSeconds * 1000 + 3 * 60_000,
    );
    const ends = await Promise.all(backtest ? [backtest, live] : [live]);
    return {
      phase: 'validation',
      outcome: ends.map((o) => o.outcome).join('; '),
      expected: ends.every((o) => o.expected),
      durationMs: Date.now() - t0,
      workflows,
      reports: ends.flatMap((o) => (o.report ? [o.report] : [])),
    };
  }

  private async canary(): Promise<PhaseRecord> {
    const t0 = Date.now();
    const { config } = this.d;
    const demo = config.demo.canary;
    const deps = { ...this.temporal, defaults: config.canary };
    // the configured plan with each hold compressed and the shadow stages' share of agents set for
    // the demo's few agents; percents, shadow and modes stay the plan's
    const stages = config.canary.stages.map((s) => ({
      ...s,
      holdSeconds: Math.min(s.holdSeconds, demo.holdSeconds),
      ...(s.mode === 'shadow' ? { shadowPercent: demo.shadowPercent } : {}),
    }));
    const started = await startRollout(
      deps,
      {
        rolloutId: `demo-${this.stamp}`,
        stages,
        analysisIntervalSeconds: demo.analysisIntervalSeconds,
        thresholds: { ...config.canary.thresholds, p95Ratio: demo.p95Ratio },
        autoAdvance: true,
      },
      'npm start',
    );
    const ui = this.ui(started.workflowId);
    this.d.say(
      `canary: rollout ${started.rolloutId} started (${stages.map((s) => `${s.name} ${s.percent}%`).join(' → ')}) — ${ui}`,
    );
    const planned = stages.reduce((n, s) => n + s.holdSeconds + 2 * demo.analysisIntervalSeconds, 0);
    let pausedSince: number | null = null;
    await this.follow(
      'canary',
      async () => {
        const s = await rolloutStatus(deps, started.rolloutId);
        // an operator does not leave a rollout paused on missing data: it is rolled back with the reason
        pausedSince = s.paused ? (pausedSince ?? Date.now()) : null;
        if (s.paused && pausedSince !== null && Date.now() - pausedSince > demo.maxPausedSeconds * 1000) {
          pausedSince = null;
          this.d.say(`canary: paused for more than ${demo.maxPausedSeconds} s; rolling it back`);
          await controlRollout(deps, started.rolloutId, {
            name: 'rollback',
            reason: `paused for more than ${demo.maxPausedSeconds} s (${s.paused.reason})`,
            actor: 'npm start',
          });
        }
        return { done: s.status === 'completed' || s.status === 'rolled_back', line: canarySummary(s) };
      },
      planned * 1000 + 3 * 60_000,
      async (reason) => {
        await controlRollout(deps, started.rolloutId, { name: 'rollback', reason, actor: 'npm start' });
      },
    );
    const s = await rolloutStatus(deps, started.rolloutId).catch(() => null);
    const state = (await this.d.client.workflow.getHandle(started.workflowId).describe()).status.name;
    const o = canaryOutcome(s, state);
    return {
      phase: 'canary',
      ...o,
      durationMs: Date.now() - t0,
      workflows: [ui],
      // a rollout writes no report: its stages, analyses and any rollback are in Temporal UI and the console
      reports: [ui],
    };
  }

  private async baseline(): Promise<PhaseRecord> {
    const t0 = Date.now();
    const { config } = this.d;
    const b = config.demo.baseline;
    const load = { rps: b.rps, connections: b.connections };
    const id = `demo-${this.stamp}`;
    const input = baselineInputFromConfig(config, {
      // the demo remote (baseline.load.repoUrl, set by npm start) as the demo-load agent
      target: { mix: { kind: 'git', workspaces: b.workspaces } },
      warmup: { ...load, durationSeconds: b.warmupSeconds },
      baseline: { ...load, samples: b.samples, intervalSeconds: b.intervalSeconds },
      day2: { enabled: false },
      fallbackScenario: { enabled: false },
    });
    const started = await startBaseline(this.temporal, input, id);
    const ui = this.ui(started.workflowId);
    this.d.say(`baseline: ${id} started (${b.samples} samples × ${b.intervalSeconds} s at ${b.rps} req/s) — ${ui}`);
    const planned = b.warmupSeconds + b.samples * b.intervalSeconds;
    await this.follow(
      'baseline',
      async () => {
        const v = await baselineStatus(this.d.client, id);
        if (v.state === 'RUNNING' && v.status) return { done: false, line: baselineSummary(v.status) };
        return { done: v.state !== 'RUNNING', line: `${id} ${v.state.toLowerCase()}` };
      },
      planned * 1000 + 4 * 60_000,
      (reason) => cancelBaseline(this.d.client, id, reason),
    );
    const v = await baselineStatus(this.d.client, id);
    const o = baselineOutcome(v.result, v.state);
    const reports = (v.result?.reportIds ?? []).map((r) => this.report(r));
    for (const r of reports) this.d.say(`baseline: report ${r}`);
    if (v.result?.archive) this.d.say(`baseline: archive ${v.result.archive.name} (${v.result.archive.bytes} bytes)`);
    return { phase: 'baseline', ...o, durationMs: Date.now() - t0, workflows: [ui], reports };
  }

  private async drift(): Promise<PhaseRecord> {
    const t0 = Date.now();
    const { config } = this.d;
    const dr = config.demo.drift;
    const id = `demo-${this.stamp}`;
    const started = await startDrift(
      this.temporal,
      driftInputFromConfig(config, { durationSeconds: dr.durationSeconds, intervalSeconds: dr.intervalSeconds }),
      id,
    );
    const ui = this.ui(started.workflowId);
    this.d.say(`drift: review ${id} of ${config.drift.targets.map((t) => t.name).join(' and ')} started — ${ui}`);
    await this.follow(
      'drift',
      async () => {
        const v = await driftStatus(this.d.client, id);
        if (v.state === 'RUNNING' && v.status) return { done: false, line: driftSummary(v.status) };
        return { done: v.state !== 'RUNNING', line: v.result ? v.result.summary : `${id} ${v.state.toLowerCase()}` };
      },
      dr.durationSeconds * 1000 + 3 * 60_000,
      async (reason) => {
        await this.d.client.workflow.getHandle(started.workflowId).terminate(reason);
      },
    );
    const v = await driftStatus(this.d.client, id);
    const o = driftOutcome(v.result, v.state);
    for (const p of v.result?.processes ?? []) this.d.say(`drift:   ${p.name}: ${p.summary}`);
    const reports = v.result ? [this.report(v.result.reportId)] : [];
    return { phase: 'drift', ...o, durationMs: Date.now() - t0, workflows: [ui], reports };
  }

  /** Runs `phases` in order; a phase that throws is recorded with the error and the next one runs. */
  run(phases: readonly LifecyclePhase[]): Promise<LifecycleResult> {
    this.running = this.walk(phases);
    return this.running;
  }

  private async walk(phases: readonly LifecyclePhase[]): Promise<LifecycleResult> {
    const t0 = Date.now();
    const records: PhaseRecord[] = [];
    this.d.say(`lifecycle: ${phases.join(' → ')} (compressed timings: temporal.yaml demo:)`);
    for (const [i, phase] of phases.entries()) {
      if (this.stopped) break;
      this.d.say(`── ${i + 1}/${phases.length} ${phase} ──`);
      const p0 = Date.now();
      let r: PhaseRecord;
      try {
        r = await this[phase]();
      } catch (e) {
        r = {
          phase,
          outcome: `failed: ${(e as Error).message}`,
          expected: false,
          durationMs: Date.now() - p0,
          workflows: [],
          reports: [],
        };
      }
      records.push(r);
      this.d.say(
        `${phase}: ${r.expected ? 'done' : 'NOT as expected'} — ${r.outcome} (${formatDuration(r.durationMs)})`,
      );
    }
    const totalMs = Date.now() - t0;
    const table = summaryTable(records, phases, totalMs);
    return { records, ok: lifecycleOk(records, phases), totalMs, table };
  }

  /**
   * Ctrl-C: ends the runs in flight (a rollout rolls back, a baseline is cancelled, a validation
   * decides now, a drift review is terminated), starts no further phase, and waits (at most
   * `waitMs`) for the walk to read how they ended and print its summary.
   */
  async stop(waitMs = 30_000): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.inFlight].map((stop) => stop('npm start was stopped').catch(() => undefined)));
    if (this.running)
      await Promise.race([this.running.catch(() => undefined), new Promise((r) => setTimeout(r, waitMs))]);
  }
}
