/**
 * SLO draft from a baseline run (seed 003 "SLO calibration: P95/P99 targets from production
 * data"): targets with headroom and the reasoning behind each, an error budget per period, as
 * markdown and as a Sloth spec (`version: "prometheus/v1"`) over our metrics.
 *
 * Method:
 * - latency: the worst window's P95 (P99) × (1 + headroom), snapped UP to a histogram bucket
 *   of gitops_operation_duration_seconds so the Sloth query can count "slower than" exactly;
 *   objective 95% (99%) of operations under it.
 * - availability: the highest objective on a ladder whose budget (1 − objective) is at least
 *   `budgetHeadroom` × the observed error rate, so normal operation burns at most half the
 *   budget; it is always below the observed success rate.
 *
 * Pure: no I/O, no clock.
 */
import { stringify } from 'yaml';
import type { BaselineSample } from './csv.js';
import { aggregateRun, max } from './criteria.js';

export interface SloOptions {
  service?: string;
  latencyHeadroom?: number;
  budgetHeadroom?: number;
  periodDays?: number;
  latencyBucketsSeconds?: number[];
  /** extra label matchers for the SLI queries, e.g. `approach="pooled"` */
  matchers?: string;
  /** availability objectives to choose from, percent, any order */
  ladder?: number[];
}

export const DEFAULT_LADDER = [99.99, 99.95, 99.9, 99.5, 99, 98, 95, 90];
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface ErrorBudget {
  /** allowed bad fraction (1 − objective) */
  fraction: number;
  periodDays: number;
  /** the budget as full-outage minutes per period */
  minutesPerPeriod: number;
  /** bad operations allowed per period at the observed request rate; null when the rate is unknown */
  operationsPerPeriod: number | null;
}

export interface SloTarget {
  /** Sloth SLO name */
  name: 'requests-availability' | 'requests-latency-p95' | 'requests-latency-p99';
  kind: 'availability' | 'latency';
  /** percent of good events */
  objective: number;
  /** latency SLOs: "good" means faster than this */
  thresholdMs?: number;
  /** the observed good fraction (availability) or the worst window percentile in ms (latency) */
  observed: number;
  reasoning: string;
  errorBudget: ErrorBudget;
}

export interface SloRecommendation {
  service: string;
  periodDays: number;
  samples: number;
  targets: SloTarget[];
  /** what could not be recommended, and why */
  notes: string[];
  matchers: string;
}

function budget(objective: number, periodDays: number, rps: number | null): ErrorBudget {
  const fraction = Number((1 - objective / 100).toPrecision(12));
  const periodSeconds = periodDays * 86_400;
  return {
    fraction,
    periodDays,
    minutesPerPeriod: Number(((fraction * periodSeconds) / 60).toFixed(2)),
    operationsPerPeriod: rps === null ? null : Math.floor(fraction * rps * periodSeconds),
  };
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const values = (samples: readonly BaselineSample[], col: string): number[] =>
  samples.map((s) => s.values[col]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));

export function recommendSlo(samples: readonly BaselineSample[], opts: SloOptions = {}): SloRecommendation {
  const service = opts.service ?? 'sandbox-git-control';
  const headroom = opts.latencyHeadroom ?? 0.2;
  const burn = opts.budgetHeadroom ?? 2;
  const periodDays = opts.periodDays ?? 30;
  const buckets = [...(opts.latencyBucketsSeconds ?? DEFAULT_BUCKETS)].sort((a, b) => a - b);
  const ladder = [...(opts.ladder ?? DEFAULT_LADDER)].sort((a, b) => b - a);
  const agg = aggregateRun(samples);
  const rps = agg.requestRateAvg;
  const targets: SloTarget[] = [];
  const notes: string[] = [];

  if (agg.successRate === null) {
    notes.push('availability: no success-rate data in any window, no objective recommended');
  } else {
    const observedErr = Math.max(0, 1 - agg.successRate);
    const fitting = ladder.filter((o) => o / 100 < agg.successRate! && 1 - o / 100 >= burn * observedErr);
    const objective = fitting[0] ?? ladder[ladder.length - 1];
    let reasoning =
      `observed success ${(agg.successRate * 100).toFixed(3)}% over ${samples.length} windows ` +
      `(error ${(observedErr * 100).toFixed(3)}%); ${objective}% leaves a budget of ${(100 - objective).toFixed(2)}%, ` +
      `at least ${burn}× the observed error rate, so steady state burns at most ${Math.round(100 / burn)}% of it.`;
    if (fitting.length === 0) {
      reasoning =
        `observed success ${(agg.successRate * 100).toFixed(3)}% is too low for any objective on the ladder ` +
        `with ${burn}× headroom; ${objective}% is a placeholder until the error rate is fixed.`;
      notes.push('availability: the observed error rate is too high for a meaningful objective');
    }
    targets.push({
      name: 'requests-availability',
      kind: 'availability',
      objective,
      observed: agg.successRate,
      reasoning,
      errorBudget: budget(objective, periodDays, rps),
    });
  }

  for (const [q, col, name] of [
    [95, 'p95_latency', 'requests-latency-p95'],
    [99, 'p99_latency', 'requests-latency-p99'],
  ] as const) {
    const xs = values(samples, col);
    const worst = max(xs);
    if (worst === null) {
      notes.push(`latency P${q}: no data in any window, no target recommended`);
      continue;
    }
    const wanted = worst * (1 + headroom);
    const bucket = buckets.find((b) => b * 1000 >= wanted - 1e-9);
    if (bucket === undefined) {
      notes.push(
        `latency P${q}: worst window ${worst.toFixed(1)} ms + headroom exceeds the largest histogram bucket (${buckets[buckets.length - 1]} s)`,
      );
      continue;
    }
    const thresholdMs = Number((bucket * 1000).toPrecision(12));
    const reasoning =
      `worst ${samples.length > 1 ? 'of ' + xs.length + ' windows' : 'window'} P${q} ${worst.toFixed(1)} ms ` +
      `(median ${median(xs)!.toFixed(1)} ms); +${Math.round(headroom * 100)}% headroom → ${wanted.toFixed(1)} ms, ` +
      `rounded up to the ${thresholdMs} ms histogram bucket so the SLI counts it exactly.`;
    targets.push({
      name,
      kind: 'latency',
      objective: q,
      thresholdMs,
      observed: worst,
      reasoning,
      errorBudget: budget(q, periodDays, rps),
    });
  }
  return { service, periodDays, samples: samples.length, targets, notes, matchers: opts.matchers ?? '' };
}

const pctText = (f: number): string => `${(f * 100).toFixed(3)}%`;

export function renderSloMarkdown(rec: SloRecommendation): string {
  const lines = [
    `# SLO draft — ${rec.service}`,
    '',
    `From ${rec.samples} baseline sample windows. Error budgets per ${rec.periodDays} days.`,
    '',
    '| SLO | Objective | Good event | Observed | Error budget |',
    '|---|---|---|---|---|',
  ];
  for (const t of rec.targets) {
    const good = t.kind === 'availability' ? 'operation succeeds' : `operation faster than ${t.thresholdMs} ms`;
    const observed =
      t.kind === 'availability' ? pctText(t.observed) : `worst P${t.objective} ${t.observed.toFixed(1)} ms`;
    const ops = t.errorBudget.operationsPerPeriod === null ? '' : `, ≈ ${t.errorBudget.operationsPerPeriod} operations`;
    lines.push(
      `| ${t.name} | ${t.objective}% | ${good} | ${observed} | ${(t.errorBudget.fraction * 100).toFixed(2)}% = ${t.errorBudget.minutesPerPeriod} min${ops} |`,
    );
  }
  lines.push('', '## Reasoning', '');
  for (const t of rec.targets) lines.push(`- **${t.name}**: ${t.reasoning}`);
  if (rec.notes.length > 0) lines.push('', '## Not recommended', '', ...rec.notes.map((n) => `- ${n}`));
  lines.push(
    '',
    'The Sloth spec beside this file (`slo.sloth.yaml`) generates recording and multi-window burn-rate alert rules.',
  );
  return lines.join('\n') + '\n';
}

function withMatchers(metric: string, matchers: string, extra?: string): string {
  const all = [matchers, extra].filter((m) => m !== undefined && m !== '').join(',');
  return all ? `${metric}{${all}}` : metric;
}

/** The Sloth `prometheus/v1` spec as an object (see renderSlothYaml). */
export function buildSlothSpec(rec: SloRecommendation): Record<string, unknown> {
  const ops = 'gitops_operations_total';
  const dur = 'gitops_operation_duration_seconds';
  const m = rec.matchers;
  const slos = rec.targets.map((t) => {
    const base = {
      name: t.name,
      objective: t.objective,
      description: t.reasoning,
    };
    if (t.kind === 'availability') {
      return {
        ...base,
        sli: {
          events: {
            error_query: `sum(rate(${withMatchers(ops, m, 'error_category!="none"')}[{{.window}}]))`,
            total_query: `sum(rate(${withMatchers(ops, m)}[{{.window}}]))`,
          },
        },
        alerting: {
          name: 'GitopsAvailabilityBudgetBurn',
          labels: { category: 'availability' },
          annotations: {
            summary: `${rec.service} operations are failing faster than the ${t.objective}% objective allows`,
          },
          page_alert: { labels: { severity: 'critical' } },
          ticket_alert: { labels: { severity: 'warning' } },
        },
      };
    }
    const le = String(Number(((t.thresholdMs ?? 0) / 1000).toPrecision(12)));
    return {
      ...base,
      sli: {
        events: {
          error_query: `(sum(rate(${withMatchers(`${dur}_count`, m)}[{{.window}}])) - sum(rate(${withMatchers(`${dur}_bucket`, m, `le="${le}"`)}[{{.window}}])))`,
          total_query: `sum(rate(${withMatchers(`${dur}_count`, m)}[{{.window}}]))`,
        },
      },
      alerting: {
        name: t.name === 'requests-latency-p95' ? 'GitopsLatencyP95BudgetBurn' : 'GitopsLatencyP99BudgetBurn',
        labels: { category: 'latency' },
        annotations: {
          summary: `${rec.service} operations slower than ${t.thresholdMs} ms exceed the ${t.objective}% objective`,
        },
        page_alert: { labels: { severity: 'critical' } },
        ticket_alert: { labels: { severity: 'warning' } },
      },
    };
  });
  return {
    version: 'prometheus/v1',
    service: rec.service,
    labels: { owner: 'sandbox-git-control', source: 'production-baseline' },
    slos,
  };
}

/** The Sloth spec as YAML text. */
export function renderSlothYaml(rec: SloRecommendation): string {
  return stringify(buildSlothSpec(rec), { lineWidth: 0 });
}
