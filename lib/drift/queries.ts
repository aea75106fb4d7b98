/**
 * Default PromQL for the drift review (seed 001), keyed `drift.<quantity>`; overridable under
 * `queries:` in temporal.yaml or per run.
 *
 * Placeholders (replaced by `renderDriftQuery`):
 * - `$job` — the scrape job of the reviewed process (exact label value), e.g. `sgc-worker`.
 * - `$instance` — a regex of its instances, default `.+` (all). Select one instance to review one
 *   process; several are summed (RSS, CPU, handles) or take the latest start (restarts).
 * - `$window` — the sample interval as a PromQL duration (`300s`), for rates.
 *
 * Each query returns one number:
 * - uptime_seconds: seconds since the (latest) process start.
 * - start_time_seconds: `process_start_time_seconds`; a change between samples is a restart.
 * - rss_bytes, cpu_percent (of one core, averaged over the window), open_fds, active_handles.
 * - heap_used_bytes, eventloop_lag_p99_seconds: prom-client's V8 heap and event-loop gauges, shown
 *   in the review's T0 / T+N table beside the criteria's resources (the worst instance's lag).
 * - critical_errors_total: the error-log counter `gitops_log_errors_total{level="error"|"fatal"}`
 *   (cumulative; the verdict takes increases and handles resets). Our processes must export it,
 *   with both levels initialised to 0 so that "absent" means "not exported", not "no errors".
 * - background_tasks_healthy: 1 when every scrape of the process in the window succeeded
 *   (`up`), else 0 — the process's background loops (Temporal pollers, schedules' chores) run in it.
 */

const sel = 'job="$job",instance=~"$instance"';

export const DRIFT_QUERIES: Record<string, string> = {
  'drift.uptime_seconds': `time() - max(process_start_time_seconds{${sel}})`,
  'drift.start_time_seconds': `max(process_start_time_seconds{${sel}})`,
  'drift.rss_bytes': `sum(process_resident_memory_bytes{${sel}})`,
  'drift.cpu_percent': `100 * sum(rate(process_cpu_seconds_total{${sel}}[$window]))`,
  'drift.open_fds': `sum(process_open_fds{${sel}})`,
  'drift.active_handles': `sum(nodejs_active_handles_total{${sel}})`,
  'drift.heap_used_bytes': `sum(nodejs_heap_size_used_bytes{${sel}})`,
  'drift.eventloop_lag_p99_seconds': `max(nodejs_eventloop_lag_p99_seconds{${sel}})`,
  'drift.critical_errors_total': `sum(gitops_log_errors_total{${sel},level=~"error|fatal"})`,
  'drift.background_tasks_healthy': `min(min_over_time(up{${sel}}[$window]))`,
};

function promStringValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Replaces `$job`, `$instance` and `$window` in a drift query. */
export function renderDriftQuery(
  query: string,
  vars: { job: string; instance?: string; windowSeconds: number },
): string {
  if (!Number.isFinite(vars.windowSeconds) || vars.windowSeconds <= 0) {
    throw new Error(`window must be a positive number of seconds, got ${vars.windowSeconds}`);
  }
  return query
    .replace(/\$window\b/g, `${Math.max(1, Math.round(vars.windowSeconds))}s`)
    .replace(/\$job\b/g, promStringValue(vars.job))
    .replace(/\$instance\b/g, promStringValue(vars.instance ?? '.+'));
}
