/**
 * CSV v3 (seed 003) for the production baseline: one row per sample window.
 *
 * Two profiles:
 * - `default` keeps the seed's column names and order wherever our service has the quantity and
 *   maps the seed's plugin-reload / snapshot columns onto our push / clone operations (seed 003's
 *   95% plugin and 99% snapshot success targets become push and clone targets). The pool's reuse
 *   is our cache: a hit is a reused sandbox, a miss is a created one. Cache misses count into the
 *   raw fallback ratio only, never the effective one (the seed's COUNT_CACHE_MISS_AS_FALLBACK=false).
 * - `seed-v3` reproduces the seed's exact header, for services that export those series.
 *
 * Units: ratios and rates of success are fractions (0..1), latencies milliseconds, CPU percent of
 * one core, RSS MiB, request_rate operations per second, counts are increases over the window.
 * A missing value is `NA` (null in memory): no traffic in the interval, or the series is absent.
 *
 * Pure: no I/O and no clock; the sampler passes the window's timestamp in.
 */

export const CSV_PROFILES = ['default', 'seed-v3'] as const;
export type CsvProfile = (typeof CSV_PROFILES)[number];

export type ColumnKind = 'timestamp' | 'sample_num' | 'ratio' | 'ms' | 'percent' | 'mb' | 'rate' | 'count';

export interface CsvColumn {
  name: string;
  kind: ColumnKind;
  /** NA when the window carried no requests (seed 003: NA when TOTAL_REQUESTS=0) */
  trafficDependent: boolean;
}

/** A sample value: a number, or null for NA. */
export type SampleValue = number | null;

/** One sample window as the sampler produced it; `values` is keyed by column name. */
export interface BaselineSample {
  /** 1..N within a run phase */
  sampleNum: number;
  /** end of the window, unix seconds */
  timestamp: number;
  values: Partial<Record<string, SampleValue>>;
}

export const NA = 'NA';

/** The seed's exact header, in order. */
export const SEED_V3_HEADER: readonly string[] = [
  'timestamp', 'http_success_rate', 'p50_latency', 'p90_latency', 'p95_latency', 'p99_latency',
  'raw_fallback_ratio', 'effective_fallback_ratio', 'error_rate', 'error_rate_4xx', 'error_rate_5xx',
  'cpu_percent', 'rss_mb', 'request_rate', 'raw_fallback_total', 'effective_fallback_total',
  'fallback_http', 'fallback_message', 'fallback_cache', 'http_adapter_ops', 'message_bus_rpc_attempts',
  'cache_get_attempts', 'fb_http_ratio', 'fb_message_ratio', 'fb_cache_ratio', 'plugin_reload_success',
  'plugin_reload_failure', 'snapshot_create_success', 'snapshot_create_failure', 'snapshot_restore_success',
  'snapshot_restore_failure', 'cache_hit_rate', 'plugin_reload_p95', 'plugin_reload_p99',
  'plugin_reload_success_rate', 'snapshot_operation_p95', 'snapshot_operation_p99', 'snapshot_success_rate',
  'cache_hits_raw', 'cache_misses_raw', 'sample_num',
];

/**
 * Our default header: the seed's order, the http/message fallback kinds replaced by our one
 * service fallback kind (approach 2 → approach 1), plugin → push, snapshot → clone.
 */
export const DEFAULT_HEADER: readonly string[] = [
  'timestamp', 'http_success_rate', 'p50_latency', 'p90_latency', 'p95_latency', 'p99_latency',
  'raw_fallback_ratio', 'effective_fallback_ratio', 'error_rate', 'error_rate_4xx', 'error_rate_5xx',
  'cpu_percent', 'rss_mb', 'request_rate', 'raw_fallback_total', 'effective_fallback_total',
  'fallback_service', 'fallback_cache', 'service_ops', 'cache_get_attempts', 'fb_service_ratio', 'fb_cache_ratio',
  'push_success', 'push_failure', 'clone_success', 'clone_failure', 'cache_hit_rate',
  'push_p95', 'push_p99', 'push_success_rate', 'clone_p95', 'clone_p99', 'clone_success_rate',
  'cache_hits_raw', 'cache_misses_raw', 'sample_num',
];

function kindOf(name: string): ColumnKind {
  if (name === 'timestamp') return 'timestamp';
  if (name === 'sample_num') return 'sample_num';
  if (name === 'cpu_percent') return 'percent';
  if (name === 'rss_mb') return 'mb';
  if (name === 'request_rate') return 'rate';
  if (/_latency$|_p9[59]$/.test(name)) return 'ms';
  if (/(_rate|_ratio)(_4xx|_5xx)?$/.test(name)) return 'ratio';
  return 'count';
}

/** Columns that stay meaningful without traffic (process resources, counters, identity). */
const TRAFFIC_INDEPENDENT = new Set(['timestamp', 'sample_num', 'cpu_percent', 'rss_mb', 'request_rate']);

function columnsOf(names: readonly string[]): readonly CsvColumn[] {
  return names.map((name) => {
    const kind = kindOf(name);
    return { name, kind, trafficDependent: !TRAFFIC_INDEPENDENT.has(name) && (kind === 'ratio' || kind === 'ms') };
  });
}

const PROFILE_COLUMNS: Record<CsvProfile, readonly CsvColumn[]> = {
  default: columnsOf(DEFAULT_HEADER),
  'seed-v3': columnsOf(SEED_V3_HEADER),
};

export function isCsvProfile(p: string): p is CsvProfile {
  return (CSV_PROFILES as readonly string[]).includes(p);
}

export function columns(profile: CsvProfile): readonly CsvColumn[] {
  return PROFILE_COLUMNS[profile];
}

/** Columns whose value comes from a PromQL query (all but timestamp and sample_num). */
export function queriedColumns(profile: CsvProfile): string[] {
  return PROFILE_COLUMNS[profile].filter((c) => c.kind !== 'timestamp' && c.kind !== 'sample_num').map((c) => c.name);
}

/**
 * Seed 003: "production Go/No-Go requires metrics to be non-NA for all mandatory SLO categories
 * (success rate, latency P95/P99, effective fallback, error, memory, cache hit)". Same names in
 * both profiles.
 */
export const MANDATORY_COLUMNS: readonly string[] = [
  'http_success_rate', 'p95_latency', 'p99_latency', 'effective_fallback_ratio', 'error_rate', 'rss_mb', 'cache_hit_rate',
];

/** An operation whose success rate is a criterion, with the count columns behind it. */
export interface OperationColumns {
  /** our operation (or the seed's category in the seed-v3 profile) */
  label: string;
  rateColumn: string;
  successColumns: string[];
  failureColumns: string[];
  p95Column: string;
  p99Column: string;
}

export const OPERATION_COLUMNS: Record<CsvProfile, readonly OperationColumns[]> = {
  default: [
    { label: 'push', rateColumn: 'push_success_rate', successColumns: ['push_success'], failureColumns: ['push_failure'], p95Column: 'push_p95', p99Column: 'push_p99' },
    { label: 'clone', rateColumn: 'clone_success_rate', successColumns: ['clone_success'], failureColumns: ['clone_failure'], p95Column: 'clone_p95', p99Column: 'clone_p99' },
  ],
  'seed-v3': [
    { label: 'plugin reload', rateColumn: 'plugin_reload_success_rate', successColumns: ['plugin_reload_success'], failureColumns: ['plugin_reload_failure'], p95Column: 'plugin_reload_p95', p99Column: 'plugin_reload_p99' },
    {
      label: 'snapshot', rateColumn: 'snapshot_success_rate',
      successColumns: ['snapshot_create_success', 'snapshot_restore_success'],
      failureColumns: ['snapshot_create_failure', 'snapshot_restore_failure'],
      p95Column: 'snapshot_operation_p95', p99Column: 'snapshot_operation_p99',
    },
  ],
};

/** Turns a raw query result into a sample value: NaN, ±Inf, undefined → NA. */
export function toSampleValue(v: number | string | null | undefined): SampleValue {
  if (v === null || v === undefined || v === '') return null;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : null;
}

/**
 * Normalises a window's values for a profile: non-finite → NA, and when the window had no
 * requests (request_rate 0) every traffic-dependent column is NA even if a query returned 0.
 */
export function normalizeValues(profile: CsvProfile, raw: Record<string, number | string | null | undefined>): Record<string, SampleValue> {
  const out: Record<string, SampleValue> = {};
  for (const c of PROFILE_COLUMNS[profile]) {
    if (c.kind === 'timestamp' || c.kind === 'sample_num') continue;
    out[c.name] = toSampleValue(raw[c.name]);
  }
  if (out.request_rate === 0) {
    for (const c of PROFILE_COLUMNS[profile]) if (c.trafficDependent) out[c.name] = null;
  }
  return out;
}

const DECIMALS: Record<ColumnKind, number> = { timestamp: 0, sample_num: 0, ratio: 6, ms: 2, percent: 2, mb: 2, rate: 3, count: 3 };

/** Formats one number for a column kind; trailing zeros dropped ("0.5", "12", "43.21"). */
export function formatNumber(kind: ColumnKind, v: number): string {
  const rounded = Number(v.toFixed(DECIMALS[kind]));
  return Object.is(rounded, -0) ? '0' : String(rounded);
}

/** RFC 4180 escaping: quote a field holding a comma, quote, CR or LF; double inner quotes. */
export function escapeField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function formatTimestamp(unixSeconds: number): string {
  return new Date(Math.round(unixSeconds * 1000)).toISOString().replace(/\.000Z$/, 'Z');
}

export function header(profile: CsvProfile): string {
  return PROFILE_COLUMNS[profile].map((c) => escapeField(c.name)).join(',');
}

export function row(profile: CsvProfile, sample: BaselineSample): string {
  return PROFILE_COLUMNS[profile].map((c) => {
    if (c.kind === 'timestamp') return escapeField(formatTimestamp(sample.timestamp));
    if (c.kind === 'sample_num') return String(sample.sampleNum);
    const v = sample.values[c.name];
    return v === null || v === undefined || !Number.isFinite(v) ? NA : escapeField(formatNumber(c.kind, v));
  }).join(',');
}

/** Whole file: header plus one line per sample, newline-terminated. */
export function toCsv(profile: CsvProfile, samples: readonly BaselineSample[]): string {
  return [header(profile), ...samples.map((s) => row(profile, s))].join('\n') + '\n';
}

/** RFC 4180 parser (quoted fields, doubled quotes, CRLF or LF). */
export function parse(text: string): { header: string[]; records: string[][] } {
  const records: string[][] = [];
  let field = '';
  let rec: string[] = [];
  let quoted = false;
  let i = 0;
  let sawAny = false;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
        quoted = false; i++; continue;
      }
      field += ch; i++; continue;
    }
    if (ch === '"' && field === '') { quoted = true; sawAny = true; i++; continue; }
    if (ch === ',') { rec.push(field); field = ''; sawAny = true; i++; continue; }
    if (ch === '\r' || ch === '\n') {
      if (sawAny || field !== '' || rec.length > 0) { rec.push(field); records.push(rec); }
      rec = []; field = ''; sawAny = false;
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
      continue;
    }
    field += ch; sawAny = true; i++;
  }
  if (quoted) throw new Error('unterminated quoted field');
  if (sawAny || field !== '' || rec.length > 0) { rec.push(field); records.push(rec); }
  const [head, ...rest] = records;
  return { header: head ?? [], records: rest };
}

/** Parses a CSV written by `toCsv` back into samples (NA → null). */
export function parseSamples(text: string): BaselineSample[] {
  const { header: head, records } = parse(text);
  return records.map((r, idx) => {
    if (r.length !== head.length) throw new Error(`row ${idx + 1} has ${r.length} fields, header has ${head.length}`);
    const values: Record<string, SampleValue> = {};
    let timestamp = NaN;
    let sampleNum = idx + 1;
    head.forEach((name, j) => {
      const cell = r[j];
      if (name === 'timestamp') timestamp = Date.parse(cell) / 1000;
      else if (name === 'sample_num') sampleNum = Number(cell);
      else values[name] = cell === NA ? null : toSampleValue(cell);
    });
    return { sampleNum, timestamp, values };
  });
}
