/**
 * Default PromQL for the baseline phase, one per CSV column (lib/baseline/csv.ts), keyed
 * `baseline.<column>`; overridable under `queries:` in temporal.yaml or per run.
 *
 * Placeholders (replaced by `renderBaselineQuery` before the query is sent):
 * - `$window` — the sample interval as a PromQL duration, e.g. `600s`. Every rate/increase in a
 *   row covers exactly the window that row reports, so a row is that window, not the run so far.
 * - `$job` — a regex of the scrape jobs whose process metrics (CPU, RSS) count, default
 *   `sgc-.*` (our API and worker); set it when baselining another service.
 *
 * Each query returns the column's value in the column's unit (ratios as fractions, latencies in
 * ms, RSS in MiB, CPU in percent of one core, counts as increases over the window). A query that
 * returns no sample, NaN (0/0: no traffic) or ±Inf becomes NA in the CSV.
 *
 * Mapping onto DESIGN.md metrics:
 * - success / errors: `gitops_operations_total` by `error_category` (`none` is success). The
 *   seed's 4xx/5xx split becomes caller-side categories (conflict, auth, rate_limit) versus
 *   service-side ones (network, timeout, other).
 * - cache: the pool — `gitops_pool_acquisitions_total{result="reused"}` is a hit, `created` a miss.
 * - fallback: `gitops_fallback_total` (approach 2 → approach 1) is effective fallback; raw adds
 *   the cache misses, as the seed's raw ratio does.
 * - plugin/snapshot columns: push and clone operations (`operation="push"|"clone"`).
 *
 * The `seed-v3` profile's columns that have no counterpart in our service (fallback_http,
 * fallback_message, http_adapter_ops, message_bus_rpc_attempts, fb_http_ratio, fb_message_ratio,
 * plugin_*, snapshot_*) read the series of the service seed 003 was written for: its
 * `metasheet_plugin_reload_total{result}` and reload histogram, snapshot create/restore counters
 * and operation histogram, and `metasheet_fallback_total{reason}` (http_* and message_* reasons).
 * Seed 003 names no metric for the HTTP adapter's operations or the message bus's RPC attempts;
 * those two defaults (`metasheet_http_adapter_ops_total`, `metasheet_message_rpc_attempts_total`)
 * are our naming, to override with the service's own. The git service exports none of these, so
 * there they are NA (a series that does not exist is no data, never a zero): docs/baseline-columns.md.
 */

const OPS = 'gitops_operations_total';
const DUR = 'gitops_operation_duration_seconds';
const ACQ = 'gitops_pool_acquisitions_total';
const FALLBACK = 'gitops_fallback_total';
const CLIENT_CATEGORIES = 'conflict|auth|rate_limit|client';
const SERVICE_CATEGORIES = 'network|timeout|other';

const inc = (metric: string, matchers = ''): string =>
  `sum(increase(${metric}${matchers ? `{${matchers}}` : ''}[$window]))`;
/** a count that is 0 (not absent) when the series has not appeared yet */
const inc0 = (metric: string, matchers = ''): string => `(${inc(metric, matchers)} or vector(0))`;
const ratio = (num: string, den: string): string => `${num} / ${den}`;
const quantileMs = (q: number, matchers = ''): string =>
  `1000 * histogram_quantile(${q}, sum by (le) (rate(${DUR}_bucket${matchers ? `{${matchers}}` : ''}[$window])))`;

const TOTAL = inc(OPS);
const CACHE_MISSES = inc0(ACQ, 'result="created"');
const CACHE_HITS = inc0(ACQ, 'result="reused"');

function operation(op: string): Record<string, string> {
  const m = `operation="${op}"`;
  return {
    [`baseline.${op}_success`]: inc0(OPS, `${m},error_category="none"`),
    [`baseline.${op}_failure`]: inc0(OPS, `${m},error_category!="none"`),
    [`baseline.${op}_p95`]: quantileMs(0.95, m),
    [`baseline.${op}_p99`]: quantileMs(0.99, m),
    [`baseline.${op}_success_rate`]: ratio(inc0(OPS, `${m},error_category="none"`), inc(OPS, m)),
  };
}

/** The seed service's series behind the seed-v3 columns our service has no counterpart for (absent → NA). */
const SEED_FALLBACK = 'metasheet_fallback_total';
const SEED_RELOAD = 'metasheet_plugin_reload_total';
const SEED_CREATE = 'metasheet_snapshot_create_total';
const SEED_RESTORE = 'metasheet_snapshot_restore_total';
const seedQuantileMs = (q: number, histogram: string): string =>
  `1000 * histogram_quantile(${q}, sum by (le) (rate(${histogram}_bucket[$window])))`;

const SEED_SERVICE_QUERIES: Record<string, string> = {
  'baseline.fallback_http': inc(SEED_FALLBACK, 'reason=~"http_.*"'),
  'baseline.fallback_message': inc(SEED_FALLBACK, 'reason=~"message_.*"'),
  'baseline.http_adapter_ops': inc('metasheet_http_adapter_ops_total'),
  'baseline.message_bus_rpc_attempts': inc('metasheet_message_rpc_attempts_total'),
  // numerators count 0 while no fallback happened; an absent denominator leaves the ratio NA
  'baseline.fb_http_ratio': ratio(inc0(SEED_FALLBACK, 'reason=~"http_.*"'), inc('metasheet_http_adapter_ops_total')),
  'baseline.fb_message_ratio': ratio(
    inc0(SEED_FALLBACK, 'reason=~"message_.*"'),
    inc('metasheet_message_rpc_attempts_total'),
  ),
  'baseline.plugin_reload_success': inc(SEED_RELOAD, 'result="success"'),
  'baseline.plugin_reload_failure': inc(SEED_RELOAD, 'result="failure"'),
  'baseline.snapshot_create_success': inc(SEED_CREATE, 'result="success"'),
  'baseline.snapshot_create_failure': inc(SEED_CREATE, 'result="failure"'),
  'baseline.snapshot_restore_success': inc(SEED_RESTORE, 'result="success"'),
  'baseline.snapshot_restore_failure': inc(SEED_RESTORE, 'result="failure"'),
  'baseline.plugin_reload_p95': seedQuantileMs(0.95, 'metasheet_plugin_reload_duration_seconds'),
  'baseline.plugin_reload_p99': seedQuantileMs(0.99, 'metasheet_plugin_reload_duration_seconds'),
  // seed 003: success / (success + failure)
  'baseline.plugin_reload_success_rate': ratio(
    inc0(SEED_RELOAD, 'result="success"'),
    inc(SEED_RELOAD, 'result=~"success|failure"'),
  ),
  'baseline.snapshot_operation_p95': seedQuantileMs(0.95, 'metasheet_snapshot_operation_duration_seconds'),
  'baseline.snapshot_operation_p99': seedQuantileMs(0.99, 'metasheet_snapshot_operation_duration_seconds'),
  // seed 003: (create_success + restore_success) / all snapshot operations; a service that has only
  // created snapshots so far has a rate, one without any snapshot series 0/0 = NA
  'baseline.snapshot_success_rate': ratio(
    `(${inc0(SEED_CREATE, 'result="success"')} + ${inc0(SEED_RESTORE, 'result="success"')})`,
    `(${inc0(SEED_CREATE)} + ${inc0(SEED_RESTORE)})`,
  ),
};

export const BASELINE_QUERIES: Record<string, string> = {
  'baseline.http_success_rate': ratio(inc0(OPS, 'error_category="none"'), TOTAL),
  'baseline.p50_latency': quantileMs(0.5),
  'baseline.p90_latency': quantileMs(0.9),
  'baseline.p95_latency': quantileMs(0.95),
  'baseline.p99_latency': quantileMs(0.99),
  'baseline.raw_fallback_ratio': ratio(`(${inc0(FALLBACK)} + ${CACHE_MISSES})`, TOTAL),
  'baseline.effective_fallback_ratio': ratio(inc0(FALLBACK), TOTAL),
  'baseline.error_rate': ratio(inc0(OPS, 'error_category!="none"'), TOTAL),
  'baseline.error_rate_4xx': ratio(inc0(OPS, `error_category=~"${CLIENT_CATEGORIES}"`), TOTAL),
  'baseline.error_rate_5xx': ratio(inc0(OPS, `error_category=~"${SERVICE_CATEGORIES}"`), TOTAL),
  // the busiest / largest of the selected processes: the seed's limits are per process
  'baseline.cpu_percent': '100 * max(rate(process_cpu_seconds_total{job=~"$job"}[$window]))',
  'baseline.rss_mb': 'max(process_resident_memory_bytes{job=~"$job"}) / 1048576',
  'baseline.request_rate': `sum(rate(${OPS}[$window]))`,
  'baseline.raw_fallback_total': `${inc0(FALLBACK)} + ${CACHE_MISSES}`,
  'baseline.effective_fallback_total': inc0(FALLBACK),
  'baseline.fallback_service': inc0(FALLBACK),
  'baseline.fallback_cache': CACHE_MISSES,
  'baseline.service_ops': inc0('gitops_router_decisions_total', 'approach="pooled"'),
  'baseline.cache_get_attempts': inc0(ACQ),
  'baseline.fb_service_ratio': ratio(inc0(FALLBACK), inc('gitops_router_decisions_total', 'approach="pooled"')),
  'baseline.fb_cache_ratio': ratio(CACHE_MISSES, inc(ACQ)),
  ...operation('push'),
  ...operation('clone'),
  'baseline.cache_hit_rate': ratio(CACHE_HITS, inc(ACQ)),
  'baseline.cache_hits_raw': CACHE_HITS,
  'baseline.cache_misses_raw': CACHE_MISSES,
  ...SEED_SERVICE_QUERIES,
};

/** The query name for a CSV column. */
export function baselineQueryKey(column: string): string {
  return `baseline.${column}`;
}

/** Seconds → PromQL duration (`600s`). */
export function promDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new Error(`window must be a positive number of seconds, got ${seconds}`);
  return `${Math.max(1, Math.round(seconds))}s`;
}

/** Escapes a value for use inside a double-quoted PromQL string (regex or label value). */
export function promStringValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Replaces `$window` and `$job` in a baseline query. */
export function renderBaselineQuery(query: string, vars: { windowSeconds: number; job?: string }): string {
  return query
    .replace(/\$window\b/g, promDuration(vars.windowSeconds))
    .replace(/\$job\b/g, promStringValue(vars.job ?? 'sgc-.*'));
}
