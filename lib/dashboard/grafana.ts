/**
 * The Grafana dashboard (issue 11 item 4), built from the configuration: operations and errors by
 * approach and category, latency quantiles by approach, approach 2's pool and push lock, the
 * merge queue's wait and batch size (push.mode queue, issue 13), the flags per operation, the kill latch and canary stage, the canary's rollback triggers and the
 * validation period's migration triggers against their thresholds, and kill switches and
 * rollbacks as annotations. The trigger panels run the phases' own named queries
 * (config.queries) with their thresholds from config, so the dashboard shows what the workflows
 * judge. monitoring/grafana/dashboards/sandbox-git-control.json is this function's output for the
 * shipped defaults (`npm run --silent cli -- dashboard` prints it for the live configuration; a unit test
 * keeps the file current). Pure: config in, JSON out.
 */
import type { Config } from '../config/index.js';
import { CANARY_QUERY_NAMES } from '../canary/queries.js';
import { promDuration, substituteQuery } from '../prom/client.js';

export type DashboardConfig = Pick<Config, 'validation' | 'canary' | 'queries'>;

/** The datasource uid the provisioning file (monitoring/grafana/provisioning/datasources) gives Prometheus. */
export const DATASOURCE_UID = 'sgc-prometheus';
export const DASHBOARD_UID = 'sgc-overview';

const DS = { type: 'prometheus', uid: DATASOURCE_UID } as const;

export interface Target {
  refId: string;
  expr: string;
  legendFormat: string;
  datasource: typeof DS;
}

export interface Panel {
  id: number;
  type: 'timeseries' | 'stat' | 'state-timeline' | 'row';
  title: string;
  description?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: typeof DS;
  targets?: Target[];
  fieldConfig?: Record<string, unknown>;
  options?: Record<string, unknown>;
  collapsed?: boolean;
  panels?: Panel[];
}

export interface Annotation {
  name: string;
  datasource: typeof DS | { type: 'grafana'; uid: string };
  enable: boolean;
  hide?: boolean;
  iconColor: string;
  expr?: string;
  step?: string;
  titleFormat?: string;
  textFormat?: string;
  type?: string;
  builtIn?: number;
}

export interface Dashboard {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  timezone: string;
  schemaVersion: number;
  version: number;
  editable: boolean;
  refresh: string;
  time: { from: string; to: string };
  annotations: { list: Annotation[] };
  templating: { list: never[] };
  panels: Panel[];
}

type Threshold = { value: number; label: string };

interface PanelSpec {
  title: string;
  description: string;
  targets: { expr: string; legend: string }[];
  unit: string;
  type?: Panel['type'];
  threshold?: Threshold;
  width?: number;
}

/** Every PromQL expression of the dashboard (panels and annotations), for tests and checks. */
export function dashboardQueries(d: Dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const p of d.panels)
    for (const t of p.targets ?? []) out.push({ where: `${p.title} / ${t.refId}`, expr: t.expr });
  for (const a of d.annotations.list) if (a.expr) out.push({ where: `annotation ${a.name}`, expr: a.expr });
  return out;
}

function fieldConfig(unit: string, threshold?: Threshold): Record<string, unknown> {
  return {
    defaults: {
      unit,
      ...(threshold
        ? {
            thresholds: {
              mode: 'absolute',
              steps: [
                { color: 'green', value: null },
                { color: 'red', value: threshold.value },
              ],
            },
            custom: { thresholdsStyle: { mode: 'line+area' }, lineWidth: 2 },
          }
        : { custom: { lineWidth: 1 } }),
    },
    overrides: [],
  };
}

/**
 * The dashboard for this configuration. `$__rate_interval` is Grafana's; the phases' `$window`
 * placeholders are filled here (the canary's analysis window, the validation's hourly points).
 */
export function grafanaDashboard(config: DashboardConfig): Dashboard {
  const v = config.validation;
  const c = config.canary;
  const q = config.queries;
  const rate = (selector: string): string => `rate(${selector}[$__rate_interval])`;
  const canaryWindow = promDuration(c.analysisWindowSeconds ?? c.analysisIntervalSeconds);
  const canaryQ = (name: string): string => substituteQuery(q[name] ?? '', { window: canaryWindow });
  const hour = promDuration(v.resolutionSeconds);
  const vq = (name: string, window = hour): string =>
    substituteQuery(q[name] ?? '', { window, subquery_step: promDuration(v.subqueryStepSeconds) });
  const quantiles = (metric: string, by: string, legend: string) =>
    [0.5, 0.95, 0.99].map((qq) => ({
      expr: `histogram_quantile(${qq}, sum by (${by}) (${rate(metric)}))`,
      legend: `P${Math.round(qq * 100)}${legend}`,
    }));

  /** a validation trigger: the hourly `metric` against its `validation.thresholds` entry */
  const trigger = (
    title: string,
    unit: string,
    key: keyof typeof v.thresholds,
    metric: string,
    legend: string,
    o: { window?: string; description?: string } = {},
  ): PanelSpec => ({
    title,
    unit,
    threshold: { value: v.thresholds[key], label: 'trigger above' },
    description: o.description ?? `${metric} per hour vs validation.thresholds.${key}.`,
    targets: [{ expr: vq(metric, o.window), legend }],
  });

  const rows: { title: string; panels: PanelSpec[] }[] = [
    {
      title: 'Operations (both approaches)',
      panels: [
        {
          title: 'Operations by approach and outcome',
          unit: 'ops',
          description: 'Agent git operations per second (gitops_operations_total).',
          targets: [
            {
              expr: `sum by (approach, outcome) (${rate('gitops_operations_total')})`,
              legend: '{{approach}} {{outcome}}',
            },
          ],
        },
        {
          title: 'Errors by approach and category',
          unit: 'ops',
          description:
            'Failed operations per second by error_category (network, timeout, conflict, auth, rate_limit, client, other).',
          targets: [
            {
              expr: `sum by (approach, error_category) (${rate('gitops_operations_total{outcome="error"}')})`,
              legend: '{{approach}} {{error_category}}',
            },
          ],
        },
        {
          title: 'Error rate by approach',
          unit: 'percentunit',
          description: 'Failed / all operations; an approach without failures reads 0.',
          targets: [
            {
              expr: `(sum by (approach) (${rate('gitops_operations_total{outcome="error"}')}) or 0 * sum by (approach) (${rate('gitops_operations_total')})) / sum by (approach) (${rate('gitops_operations_total')})`,
              legend: '{{approach}}',
            },
          ],
        },
        {
          title: 'Latency P50 / P95 / P99 by approach',
          unit: 's',
          description: 'gitops_operation_duration_seconds quantiles per approach.',
          targets: quantiles('gitops_operation_duration_seconds_bucket', 'le, approach', ' {{approach}}'),
        },
        {
          title: 'Operations in flight',
          unit: 'short',
          description: 'gitops_operations_in_flight summed over processes.',
          targets: [{ expr: 'sum by (approach) (gitops_operations_in_flight)', legend: '{{approach}}' }],
        },
        {
          title: 'Router decisions',
          unit: 'ops',
          description: 'Where the router sent operations (mode: primary, shadow …).',
          targets: [
            {
              expr: `sum by (approach, mode) (${rate('gitops_router_decisions_total')})`,
              legend: '{{approach}} {{mode}}',
            },
          ],
        },
      ],
    },
    {
      title: 'Approach 2: pool and push lock',
      panels: [
        {
          title: 'Pool sandboxes by state',
          unit: 'short',
          description: 'gitops_pool_sandboxes: idle, in use, unhealthy (seed 004: min 3, max 10).',
          targets: [{ expr: 'sum by (state) (gitops_pool_sandboxes)', legend: '{{state}}' }],
        },
        {
          title: 'Pool acquisitions and reuse',
          unit: 'ops',
          description:
            'Acquisitions per second by result (reused a warm sandbox or created one), and the share reused.',
          targets: [
            { expr: `sum by (result) (${rate('gitops_pool_acquisitions_total')})`, legend: '{{result}}' },
            {
              expr: `sum(${rate('gitops_pool_acquisitions_total{result="reused"}')}) / sum(${rate('gitops_pool_acquisitions_total')})`,
              legend: 'reuse ratio',
            },
          ],
        },
        {
          title: 'Push lock wait',
          unit: 's',
          description: 'Time waiting for the push lock (seed 004: acquire timeout 5 s), and acquisitions by outcome.',
          targets: [
            {
              expr: `histogram_quantile(0.5, sum by (le) (${rate('gitops_lock_wait_seconds_bucket')}))`,
              legend: 'P50 wait',
            },
            {
              expr: `histogram_quantile(0.95, sum by (le) (${rate('gitops_lock_wait_seconds_bucket')}))`,
              legend: 'P95 wait',
            },
            { expr: `sum by (outcome) (${rate('gitops_lock_wait_seconds_count')})`, legend: '{{outcome}} /s' },
          ],
        },
      ],
    },
    {
      title: 'Merge queue (push.mode queue)',
      panels: [
        {
          title: 'Merge queue wait',
          unit: 's',
          description:
            'gitops_queue_wait_seconds: from a commit staged on its own ref to its answer (landed or conflict), and answers per second by outcome.',
          targets: [
            {
              expr: `histogram_quantile(0.5, sum by (le) (${rate('gitops_queue_wait_seconds_bucket')}))`,
              legend: 'P50 wait',
            },
            {
              expr: `histogram_quantile(0.95, sum by (le) (${rate('gitops_queue_wait_seconds_bucket')}))`,
              legend: 'P95 wait',
            },
            { expr: `sum by (outcome) (${rate('gitops_queue_wait_seconds_count')})`, legend: '{{outcome}} /s' },
          ],
        },
        {
          title: 'Merge queue batch size',
          unit: 'short',
          description:
            'gitops_queue_batch_size: staged commits one batch applied and pushed at once (push.maxBatch caps it), and batches per second.',
          targets: [
            {
              expr: `histogram_quantile(0.5, sum by (le) (${rate('gitops_queue_batch_size_bucket')}))`,
              legend: 'P50 batch',
            },
            {
              expr: `histogram_quantile(0.95, sum by (le) (${rate('gitops_queue_batch_size_bucket')}))`,
              legend: 'P95 batch',
            },
            {
              expr: `sum(${rate('gitops_queue_batch_size_sum')}) / sum(${rate('gitops_queue_batch_size_count')})`,
              legend: 'mean batch',
            },
            { expr: `sum(${rate('gitops_queue_batch_size_count')})`, legend: 'batches /s' },
          ],
        },
      ],
    },
    {
      title: 'Rollout: flags, kill switch, canary',
      panels: [
        {
          title: 'Flag percent per operation',
          unit: 'percent',
          description:
            'Share of agents routed to approach 2 per flag, as stored (gitops_flag_percent, read by the API at each scrape).',
          targets: [{ expr: 'max by (operation) (gitops_flag_percent)', legend: '{{operation}}' }],
        },
        {
          title: 'Kill switch latched',
          unit: 'bool',
          type: 'stat',
          width: 4,
          description: '1 while the kill latch refuses every flag write (until an admin unlatches).',
          targets: [{ expr: 'max(gitops_kill_latched)', legend: 'latched' }],
        },
        {
          title: 'Canary stage',
          unit: 'short',
          type: 'state-timeline',
          width: 12,
          description:
            'The stage the last rollout applied, or rolled_back (gitops_canary_stage, set by the phases worker).',
          targets: [{ expr: 'max by (stage) (gitops_canary_stage) == 1', legend: '{{stage}}' }],
        },
        {
          title: 'Canary trigger: approach-2 error rate',
          unit: 'percentunit',
          threshold: { value: c.thresholds.errorRate, label: 'roll back above' },
          description: `The canary's error_rate query over its ${canaryWindow} analysis window; above ${c.thresholds.errorRate} in ${c.consecutiveBreaches} consecutive analyses rolls back.`,
          targets: [{ expr: canaryQ(CANARY_QUERY_NAMES.errorRate), legend: 'approach-2 error rate' }],
        },
        {
          title: 'Canary trigger: P95 approach 2 ÷ approach 1',
          unit: 'short',
          threshold: { value: c.thresholds.p95Ratio, label: 'roll back above' },
          description: `Approach-2 P95 over approach-1 P95 (same ${canaryWindow} window); above ${c.thresholds.p95Ratio}× rolls back.`,
          targets: [
            {
              expr: `(${canaryQ(CANARY_QUERY_NAMES.p95PooledSeconds)}) / (${canaryQ(CANARY_QUERY_NAMES.p95SimpleSeconds)})`,
              legend: 'P95 ratio',
            },
          ],
        },
        {
          title: 'Canary trigger: dual-write consistency',
          unit: 'percentunit',
          threshold: { value: c.thresholds.consistency, label: 'roll back below' },
          description: `1 − reconciliation divergence; below ${c.thresholds.consistency} rolls back.`,
          targets: [{ expr: canaryQ(CANARY_QUERY_NAMES.consistency), legend: 'consistency' }],
        },
      ],
    },
    {
      title: 'Validation period: migration triggers (hourly points)',
      panels: [
        trigger('Trigger: peak concurrency', 'short', 'concurrency', 'validation.peak_concurrency', 'peak concurrency'),
        trigger(
          'Trigger: cost per operation',
          'currencyUSD',
          'costPerOp',
          'validation.cost_per_operation',
          'USD per operation',
        ),
        trigger('Trigger: P95 latency', 's', 'p95Seconds', 'validation.latency_p95_seconds', 'P95'),
        trigger('Trigger: error rate', 'percentunit', 'errorRate', 'validation.error_rate', 'error rate'),
        trigger('Trigger: monthly cost', 'currencyUSD', 'monthlyCost', 'validation.monthly_cost', 'monthly cost', {
          window: '1d',
          description:
            'validation.monthly_cost (trailing day projected to 30 days) vs validation.thresholds.monthlyCost.',
        }),
        trigger('Trigger: throughput', 'opm', 'throughputOpsPerMin', 'validation.throughput_ops_per_min', 'ops/min'),
      ],
    },
  ];

  const panels: Panel[] = [];
  let id = 1;
  let y = 0;
  for (const row of rows) {
    panels.push({
      id: id++,
      type: 'row',
      title: row.title,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y: y++ },
      panels: [],
    });
    let x = 0;
    let rowHeight = 0;
    for (const p of row.panels) {
      const w = p.width ?? 8;
      if (x + w > 24) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      const h = p.type === 'stat' ? 6 : 8;
      panels.push({
        id: id++,
        type: p.type ?? 'timeseries',
        title: p.title,
        description: p.threshold
          ? `${p.description} Threshold line: ${p.threshold.label} ${p.threshold.value}.`
          : p.description,
        datasource: DS,
        gridPos: { h, w, x, y },
        targets: p.targets.map((t, i) => ({
          refId: String.fromCharCode(65 + i),
          expr: t.expr,
          legendFormat: t.legend,
          datasource: DS,
        })),
        fieldConfig: fieldConfig(p.unit, p.threshold),
        options:
          p.type === 'stat'
            ? { reduceOptions: { calcs: ['lastNotNull'] }, colorMode: 'background' }
            : { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi' } },
      });
      x += w;
      rowHeight = Math.max(rowHeight, h);
    }
    y += rowHeight;
  }

  return {
    uid: DASHBOARD_UID,
    title: 'sandbox-git-control',
    description:
      "Agents' git service (approach 1 simple, approach 2 pooled) and its migration phases. Generated by lib/dashboard/grafana.ts from the configuration.",
    tags: ['sandbox-git-control', 'gitops'],
    timezone: 'utc',
    schemaVersion: 39,
    version: 1,
    editable: true,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
        {
          name: 'Kill switch',
          datasource: DS,
          enable: true,
          iconColor: 'red',
          step: '30s',
          expr: 'max by (source) (changes(gitops_rollback_events{source="kill"}[1m])) > 0',
          titleFormat: 'Kill switch',
          textFormat: 'every flag to 0%, latched',
        },
        {
          name: 'Rollbacks',
          datasource: DS,
          enable: true,
          iconColor: 'orange',
          step: '30s',
          expr: 'max by (source) (changes(gitops_rollback_events{source=~"rollback|auto"}[1m])) > 0',
          titleFormat: 'Rollback ({{source}})',
          textFormat: 'a rollout rolled back: every flag to 0%',
        },
      ],
    },
    templating: { list: [] },
    panels,
  };
}
