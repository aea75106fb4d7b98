/**
 * CSV v3 (seed 003) for the production baseline: one row per sample window.
 *
 * The columns are data. A profile is a list of columns, each filled from a named PromQL query
 * (`query`: a name in `config.queries`, e.g. `baseline.p95_latency`) and/or a statistic of the
 * load engine's own window (`load`: `p95_ms`, `success_rate`, `rps`, …; `timestamp` and
 * `sample_num` identify the window). With both, the query's value is used and the engine's
 * statistic fills in when the query has none (the service exports no such series, or it was not
 * scraped). Profiles besides the built-in ones are declared in temporal.yaml
 * (`baseline.profiles.<name>.columns`); docs/baseline-columns.md maps every column.
 *
 * Two built-in profiles, whose headers are fixed byte for byte:
 * - `default` keeps the seed's column names and order wherever our service has the quantity and
 *   maps the seed's plugin-reload / snapshot columns onto our push / clone operations (seed 003's
 *   95% plugin and 99% snapshot success targets become push and clone targets). The pool's reuse
 *   is our cache: a hit is a reused sandbox, a miss is a created one. Cache misses count into the
 *   raw fallback ratio only, never the effective one (the seed's COUNT_CACHE_MISS_AS_FALLBACK=false).
 * - `seed-v3` reproduces the seed's exact header; every column has a named query, so a service
 *   that exports the series those queries read fills every column.
 *
 * Units: ratios and rates of success are fractions (0..1), latencies milliseconds, CPU percent of
 * one core, RSS MiB, request_rate operations per second, counts are increases over the window.
 * A missing value is `NA` (null in memory): no traffic in the interval, or the series is absent.
 *
 * Pure: no I/O and no clock; the sampler passes the window's timestamp in.
 */
import type { WindowStats } from '../load/engine.js';

/** The built-in profiles. */
export const CSV_PROFILES = ['default', 'seed-v3'] as const;
export type BuiltinCsvProfile = (typeof CSV_PROFILES)[number];

export type ColumnKind = 'timestamp' | 'sample_num' | 'ratio' | 'ms' | 'percent' | 'mb' | 'rate' | 'count';

/** Units a declared column may state (formatting and NA rules); timestamp and sample_num come with their statistic. */
export const COLUMN_UNITS = ['ratio', 'ms', 'percent', 'mb', 'rate', 'count'] as const;
export type ColumnUnit = (typeof COLUMN_UNITS)[number];

/**
 * Statistics of the load engine's window a column can take (`load:`): the window's end and
 * number, and what the engine measured from the client side over it.
 */
export const LOAD_STATISTICS = [
  'timestamp',
  'sample_num',
  'success_rate',
  'error_rate',
  'error_rate_4xx',
  'error_rate_5xx',
  'p50_ms',
  'p90_ms',
  'p95_ms',
  'p99_ms',
  'rps',
  'requests',
] as const;
export type LoadStatistic = (typeof LOAD_STATISTICS)[number];

const LOAD_STATISTIC_KIND: Record<LoadStatistic, ColumnKind> = {
  timestamp: 'timestamp',
  sample_num: 'sample_num',
  success_rate: 'ratio',
  error_rate: 'ratio',
  error_rate_4xx: 'ratio',
  error_rate_5xx: 'ratio',
  p50_ms: 'ms',
  p90_ms: 'ms',
  p95_ms: 'ms',
  p99_ms: 'ms',
  rps: 'rate',
  requests: 'count',
};

/** A column as a profile declares it. */
export interface ColumnSpec {
  /** the CSV header cell */
  name: string;
  /** a named PromQL query (a key of config.queries) */
  query?: string;
  /** a statistic of the load engine's window; with `query`, it fills in when the query has no value */
  load?: LoadStatistic;
  /** formatting unit (default: from the name, as the built-in columns) */
  unit?: ColumnUnit;
}

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

/** A profile declared in temporal.yaml (`baseline.profiles.<name>`). */
export interface CsvProfileSpec {
  columns: ColumnSpec[];
  /** operations judged by their success rate (`criteria.operationSuccessMin` keyed by rateColumn) */
  operations?: OperationColumns[];
}

/**
 * The profile a run writes: a built-in profile by name, or a declared one carried whole (the
 * starter resolves it from config, so a config change never alters a running baseline's CSV).
 */
export type CsvProfile = BuiltinCsvProfile | (CsvProfileSpec & { name: string });

export interface CsvColumn {
  name: string;
  kind: ColumnKind;
  /** NA when the window carried no requests (seed 003: NA when TOTAL_REQUESTS=0) */
  trafficDependent: boolean;
  query?: string;
  load?: LoadStatistic;
}

/** A profile with every column's kind resolved. */
export interface ResolvedProfile {
  name: string;
  columns: readonly CsvColumn[];
  operations: readonly OperationColumns[];
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
  'timestamp',
  'http_success_rate',
  'p50_latency',
  'p90_latency',
  'p95_latency',
  'p99_latency',
  'raw_fallback_ratio',
  'effective_fallback_ratio',
  'error_rate',
  'error_rate_4xx',
  'error_rate_5xx',
  'cpu_percent',
  'rss_mb',
  'request_rate',
  'raw_fallback_total',
  'effective_fallback_total',
  'fallback_http',
  'fallback_message',
  'fallback_cache',
  'http_adapter_ops',
  'message_bus_rpc_attempts',
  'cache_get_attempts',
  'fb_http_ratio',
  'fb_message_ratio',
  'fb_cache_ratio',
  'plugin_reload_success',
  'plugin_reload_failure',
  'snapshot_create_success',
  'snapshot_create_failure',
  'snapshot_restore_success',
  'snapshot_restore_failure',
  'cache_hit_rate',
  'plugin_reload_p95',
  'plugin_reload_p99',
  'plugin_reload_success_rate',
  'snapshot_operation_p95',
  'snapshot_operation_p99',
  'snapshot_success_rate',
  'cache_hits_raw',
  'cache_misses_raw',
  'sample_num',
];

/**
 * Our default header: the seed's order, the http/message fallback kinds replaced by our one
 * service fallback kind (approach 2 → approach 1), plugin → push, snapshot → clone.
 */
export const DEFAULT_HEADER: readonly string[] = [
  'timestamp',
  'http_success_rate',
  'p50_latency',
  'p90_latency',
  'p95_latency',
  'p99_latency',
  'raw_fallback_ratio',
  'effective_fallback_ratio',
  'error_rate',
  'error_rate_4xx',
  'error_rate_5xx',
  'cpu_percent',
  'rss_mb',
  'request_rate',
  'raw_fallback_total',
  'effective_fallback_total',
  'fallback_service',
  'fallback_cache',
  'service_ops',
  'cache_get_attempts',
  'fb_service_ratio',
  'fb_cache_ratio',
  'push_success',
  'push_failure',
  'clone_success',
  'clone_failure',
  'cache_hit_rate',
  'push_p95',
  'push_p99',
  'push_success_rate',
  'clone_p95',
  'clone_p99',
  'clone_success_rate',
  'cache_hits_raw',
  'cache_misses_raw',
  'sample_num',
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

/** A column name that needs no quoting in a CSV header and reads as an identifier. */
export const COLUMN_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

function resolveColumn(c: ColumnSpec): CsvColumn {
  const kind: ColumnKind =
    c.load === 'timestamp' || c.load === 'sample_num'
      ? c.load
      : (c.unit ?? (c.query === undefined && c.load ? LOAD_STATISTIC_KIND[c.load] : kindOf(c.name)));
  return {
    name: c.name,
    kind,
    trafficDependent: !TRAFFIC_INDEPENDENT.has(c.name) && (kind === 'ratio' || kind === 'ms'),
    ...(c.query !== undefined ? { query: c.query } : {}),
    ...(c.load !== undefined ? { load: c.load } : {}),
  };
}

/** The engine statistic that fills a built-in column when its query has no value. */
const BUILTIN_LOAD_FALLBACK: Record<string, LoadStatistic> = {
  timestamp: 'timestamp',
  sample_num: 'sample_num',
  http_success_rate: 'success_rate',
  error_rate: 'error_rate',
  error_rate_4xx: 'error_rate_4xx',
  error_rate_5xx: 'error_rate_5xx',
  p50_latency: 'p50_ms',
  p90_latency: 'p90_ms',
  p95_latency: 'p95_ms',
  p99_latency: 'p99_ms',
  request_rate: 'rps',
};

/** A built-in column: the query `baseline.<name>`, with the engine's statistic where it measures the same thing. */
function builtinColumn(name: string): ColumnSpec {
  const load = BUILTIN_LOAD_FALLBACK[name];
  if (load === 'timestamp' || load === 'sample_num') return { name, load };
  return { name, query: `baseline.${name}`, ...(load ? { load } : {}) };
}

/** The built-in profiles as data (the same shape temporal.yaml declares). */
export const BUILTIN_PROFILES: Record<BuiltinCsvProfile, CsvProfileSpec> = {
  default: {
    columns: DEFAULT_HEADER.map(builtinColumn),
    operations: [
      {
        label: 'push',
        rateColumn: 'push_success_rate',
        successColumns: ['push_success'],
        failureColumns: ['push_failure'],
        p95Column: 'push_p95',
        p99Column: 'push_p99',
      },
      {
        label: 'clone',
        rateColumn: 'clone_success_rate',
        successColumns: ['clone_success'],
        failureColumns: ['clone_failure'],
        p95Column: 'clone_p95',
        p99Column: 'clone_p99',
      },
    ],
  },
  'seed-v3': {
    columns: SEED_V3_HEADER.map(builtinColumn),
    operations: [
      {
        label: 'plugin reload',
        rateColumn: 'plugin_reload_success_rate',
        successColumns: ['plugin_reload_success'],
        failureColumns: ['plugin_reload_failure'],
        p95Column: 'plugin_reload_p95',
        p99Column: 'plugin_reload_p99',
      },
      {
        label: 'snapshot',
        rateColumn: 'snapshot_success_rate',
        successColumns: ['snapshot_create_success', 'snapshot_restore_success'],
        failureColumns: ['snapshot_create_failure', 'snapshot_restore_failure'],
        p95Column: 'snapshot_operation_p95',
        p99Column: 'snapshot_operation_p99',
      },
    ],
  },
};

export function isCsvProfile(p: string): p is BuiltinCsvProfile {
  return (CSV_PROFILES as readonly string[]).includes(p);
}

/** Problems of a declared profile, each naming the field (empty when it is fine). */
export function profileProblems(spec: CsvProfileSpec): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  const seen = new Set<string>();
  spec.columns.forEach((c, i) => {
    if (!COLUMN_NAME.test(c.name))
      out.push({
        path: ['columns', i, 'name'],
        message: `"${c.name}" must be letters, digits and "_" (at most 64), not starting with a digit`,
      });
    if (seen.has(c.name)) out.push({ path: ['columns', i, 'name'], message: `"${c.name}" is declared twice` });
    seen.add(c.name);
    if (c.query === undefined && c.load === undefined)
      out.push({ path: ['columns', i], message: `column "${c.name}" needs a query or a load statistic` });
    if ((c.load === 'timestamp' || c.load === 'sample_num') && c.query !== undefined)
      out.push({
        path: ['columns', i, 'query'],
        message: `column "${c.name}" takes the window's ${c.load}; it cannot also have a query`,
      });
  });
  if (spec.columns.length === 0) out.push({ path: ['columns'], message: 'a profile needs at least one column' });
  (spec.operations ?? []).forEach((op, i) => {
    for (const col of [op.rateColumn, ...op.successColumns, ...op.failureColumns]) {
      if (!seen.has(col))
        out.push({
          path: ['operations', i],
          message: `operation "${op.label}" names column "${col}", which the profile does not declare`,
        });
    }
  });
  return out;
}

const builtinResolved = new Map<string, ResolvedProfile>();

/** A profile with its columns resolved; an unknown built-in name or a broken declared profile throws, naming it. */
export function resolveProfile(profile: CsvProfile): ResolvedProfile {
  if (typeof profile === 'string') {
    const hit = builtinResolved.get(profile);
    if (hit) return hit;
    if (!isCsvProfile(profile))
      throw new Error(
        `unknown CSV profile "${profile}": built-in ${CSV_PROFILES.join(', ')}, or a profile declared under baseline.profiles`,
      );
    const spec = BUILTIN_PROFILES[profile];
    const r: ResolvedProfile = {
      name: profile,
      columns: spec.columns.map(resolveColumn),
      operations: spec.operations ?? [],
    };
    builtinResolved.set(profile, r);
    return r;
  }
  const problems = profileProblems(profile);
  if (problems.length > 0)
    throw new Error(
      `CSV profile "${profile.name}": ${problems.map((p) => `${p.path.join('.')}: ${p.message}`).join('; ')}`,
    );
  return { name: profile.name, columns: profile.columns.map(resolveColumn), operations: profile.operations ?? [] };
}

/** A profile's name (a built-in name, or the declared profile's). */
export function profileName(profile: CsvProfile): string {
  return typeof profile === 'string' ? profile : profile.name;
}

export function columns(profile: CsvProfile): readonly CsvColumn[] {
  return resolveProfile(profile).columns;
}

/** Columns whose value comes from a PromQL query. */
export function queriedColumns(profile: CsvProfile): string[] {
  return resolveProfile(profile)
    .columns.filter((c) => c.query !== undefined)
    .map((c) => c.name);
}

/**
 * Seed 003: "production Go/No-Go requires metrics to be non-NA for all mandatory SLO categories
 * (success rate, latency P95/P99, effective fallback, error, memory, cache hit)". Same names in
 * both built-in profiles; a declared profile without one of them has no data for that criterion.
 */
export const MANDATORY_COLUMNS: readonly string[] = [
  'http_success_rate',
  'p95_latency',
  'p99_latency',
  'effective_fallback_ratio',
  'error_rate',
  'rss_mb',
  'cache_hit_rate',
];

/** The operations of a built-in profile (kept for callers that index by name). */
export const OPERATION_COLUMNS: Record<BuiltinCsvProfile, readonly OperationColumns[]> = {
  default: BUILTIN_PROFILES.default.operations ?? [],
  'seed-v3': BUILTIN_PROFILES['seed-v3'].operations ?? [],
};

/** The engine's statistics of one window, by name (null: not measurable, e.g. no requests completed). */
export function loadStatistics(
  w: Pick<
    WindowStats,
    'completed' | 'rps' | 'successRate' | 'errorRate' | 'errorRate4xx' | 'errorRate5xx' | 'latencyMs'
  >,
): Record<Exclude<LoadStatistic, 'timestamp' | 'sample_num'>, number | null> {
  const none = w.completed === 0;
  return {
    success_rate: none ? null : w.successRate,
    error_rate: none ? null : w.errorRate,
    error_rate_4xx: none ? null : w.errorRate4xx,
    error_rate_5xx: none ? null : w.errorRate5xx,
    p50_ms: w.latencyMs.p50,
    p90_ms: w.latencyMs.p90,
    p95_ms: w.latencyMs.p95,
    p99_ms: w.latencyMs.p99,
    rps: w.rps,
    requests: w.completed,
  };
}

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
export function normalizeValues(
  profile: CsvProfile,
  raw: Record<string, number | string | null | undefined>,
): Record<string, SampleValue> {
  const out: Record<string, SampleValue> = {};
  const cols = resolveProfile(profile).columns;
  for (const c of cols) {
    if (c.kind === 'timestamp' || c.kind === 'sample_num') continue;
    out[c.name] = toSampleValue(raw[c.name]);
  }
  if (out.request_rate === 0) {
    for (const c of cols) if (c.trafficDependent) out[c.name] = null;
  }
  return out;
}

const DECIMALS: Record<ColumnKind, number> = {
  timestamp: 0,
  sample_num: 0,
  ratio: 6,
  ms: 2,
  percent: 2,
  mb: 2,
  rate: 3,
  count: 3,
};

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
  return resolveProfile(profile)
    .columns.map((c) => escapeField(c.name))
    .join(',');
}

export function row(profile: CsvProfile, sample: BaselineSample): string {
  return resolveProfile(profile)
    .columns.map((c) => {
      if (c.kind === 'timestamp') return escapeField(formatTimestamp(sample.timestamp));
      if (c.kind === 'sample_num') return String(sample.sampleNum);
      const v = sample.values[c.name];
      return v === null || v === undefined || !Number.isFinite(v) ? NA : escapeField(formatNumber(c.kind, v));
    })
    .join(',');
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
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      field += ch;
      i++;
      continue;
    }
    if (ch === '"' && field === '') {
      quoted = true;
      sawAny = true;
      i++;
      continue;
    }
    if (ch === ',') {
      rec.push(field);
      field = '';
      sawAny = true;
      i++;
      continue;
    }
    if (ch === '\r' || ch === '\n') {
      if (sawAny || field !== '' || rec.length > 0) {
        rec.push(field);
        records.push(rec);
      }
      rec = [];
      field = '';
      sawAny = false;
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
      continue;
    }
    field += ch;
    sawAny = true;
    i++;
  }
  if (quoted) throw new Error('unterminated quoted field');
  if (sawAny || field !== '' || rec.length > 0) {
    rec.push(field);
    records.push(rec);
  }
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
