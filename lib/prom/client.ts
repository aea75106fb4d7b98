import { z } from 'zod';
import { DomainError, ErrorType } from '../errors.js';
import { sanitizeUrl } from '../log.js';

/**
 * A small Prometheus HTTP API client (`/api/v1/query`, `/api/v1/query_range`) on fetch + zod.
 *
 * Error translation happens here, once:
 *   - HTTP 400 / `bad_data`, HTTP 422 / `execution`, other 4xx → `PromBadQuery` (non-retryable:
 *     the query or the request is wrong and will stay wrong);
 *   - unreachable, timeout (our AbortSignal or Prometheus' own `timeout`/`canceled`), 429 and
 *     5xx → `PromUnavailable` (retryable);
 *   - 401/403 → `PromUnavailable` with category `auth`, non-retryable.
 *
 * No data is explicit: an empty result is `{ kind: 'nodata' }` (`queryScalar`) or an empty
 * series list, never 0. Values arrive as strings and are parsed to numbers, keeping NaN and ±Inf
 * (PromQL returns NaN for 0/0, +Inf for a quantile in the +Inf bucket).
 */

/** One sample of a series; `value` may be NaN or ±Infinity. */
export interface PromSample {
  /** unix seconds */
  t: number;
  value: number;
}

export interface PromInstantSeries {
  metric: Record<string, string>;
  sample: PromSample;
}

export interface PromRangeSeries {
  metric: Record<string, string>;
  samples: PromSample[];
}

export interface PromInstantResult {
  resultType: 'vector' | 'scalar';
  /** empty = no data */
  series: PromInstantSeries[];
}

export interface PromRangeResult {
  resultType: 'matrix';
  /** empty = no data */
  series: PromRangeSeries[];
}

/** A single number or an explicit "no data" (empty result, or NaN such as 0/0). */
export type PromScalar = { kind: 'value'; value: number; t: number } | { kind: 'nodata'; reason: 'empty' | 'nan' };

export interface PromClientOptions {
  /** base URL, e.g. http://127.0.0.1:9090 (a path prefix is kept) */
  url: string;
  /** per-call timeout, also sent to Prometheus as `timeout` (default 10 s) */
  timeoutMs?: number;
  /** extra headers (e.g. Authorization for a hosted Prometheus) */
  headers?: Record<string, string>;
  /** injectable for tests; defaults to the global fetch */
  fetch?: typeof fetch;
}

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

const sampleTuple = z.tuple([z.number(), z.string()]);
const metricSchema = z.record(z.string(), z.string());

const dataSchema = z.discriminatedUnion('resultType', [
  z.object({
    resultType: z.literal('vector'),
    result: z.array(z.object({ metric: metricSchema, value: sampleTuple })),
  }),
  z.object({
    resultType: z.literal('matrix'),
    result: z.array(z.object({ metric: metricSchema, values: z.array(sampleTuple) })),
  }),
  z.object({ resultType: z.literal('scalar'), result: sampleTuple }),
  z.object({ resultType: z.literal('string'), result: sampleTuple }),
]);

const responseSchema = z.object({
  status: z.enum(['success', 'error']),
  data: z.unknown().optional(),
  errorType: z.string().optional(),
  error: z.string().optional(),
  warnings: z.array(z.string()).optional(),
});

type QueryData = z.infer<typeof dataSchema>;

/** Parses a Prometheus sample value ("1.5", "NaN", "+Inf", "-Inf"). */
export function parsePromValue(raw: string): number {
  switch (raw) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
    default: {
      const n = Number(raw);
      return n;
    }
  }
}

/** Formats seconds as a PromQL duration: 3600 → "1h", 86400 → "1d", 90 → "90s". */
export function promDuration(seconds: number): string {
  if (!Number.isInteger(seconds) || seconds <= 0)
    throw new RangeError(`duration must be a positive whole number of seconds, got ${seconds}`);
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3_600 === 0) return `${seconds / 3_600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/**
 * Replaces `$name` placeholders (e.g. `$window`) with the given values. Throws a non-retryable
 * PromBadQuery if a placeholder is left without a value, so a typo in an override fails loudly.
 */
export function substituteQuery(promql: string, vars: Record<string, string>): string {
  const out = promql.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, name: string) =>
    name in vars ? vars[name] : whole,
  );
  const left = out.match(/\$[A-Za-z_][A-Za-z0-9_]*/);
  if (left)
    throw new DomainError(ErrorType.PromBadQuery, `query placeholder ${left[0]} has no value`, {
      retryable: false,
      details: { placeholder: left[0] },
    });
  return out;
}

export class PromClient {
  /** number of HTTP queries issued (instant + range), for benchmarks */
  queriesIssued = 0;
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;
  /** the URL without credentials, for error messages */
  readonly displayUrl: string;

  constructor(opts: PromClientOptions) {
    this.base = opts.url.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.headers = opts.headers ?? {};
    this.fetchImpl = opts.fetch ?? fetch;
    this.displayUrl = sanitizeUrl(this.base);
  }

  /** Instant query at `time` (unix seconds; default: Prometheus' now). */
  async query(promql: string, time?: number, opts: CallOptions = {}): Promise<PromInstantResult> {
    const params: Record<string, string> = { query: promql };
    if (time !== undefined) params.time = String(time);
    const data = await this.call('/api/v1/query', params, opts);
    switch (data.resultType) {
      case 'vector':
        return {
          resultType: 'vector',
          series: data.result.map((r) => ({
            metric: r.metric,
            sample: { t: r.value[0], value: parsePromValue(r.value[1]) },
          })),
        };
      case 'scalar':
        return {
          resultType: 'scalar',
          series: [{ metric: {}, sample: { t: data.result[0], value: parsePromValue(data.result[1]) } }],
        };
      default:
        throw new DomainError(
          ErrorType.PromBadQuery,
          `instant query returned ${data.resultType}, expected a vector or scalar`,
          { retryable: false },
        );
    }
  }

  /** Range query over [start, end] (unix seconds) at `stepSeconds`. */
  async queryRange(
    promql: string,
    start: number,
    end: number,
    stepSeconds: number,
    opts: CallOptions = {},
  ): Promise<PromRangeResult> {
    if (!(stepSeconds > 0) || end < start) {
      throw new DomainError(ErrorType.PromBadQuery, `bad range: start ${start}, end ${end}, step ${stepSeconds}`, {
        retryable: false,
      });
    }
    const points = Math.floor((end - start) / stepSeconds) + 1;
    // Prometheus refuses more than 11,000 points per series; say so before sending.
    if (points > 11_000) {
      throw new DomainError(
        ErrorType.PromBadQuery,
        `range query would return ${points} points per series (limit 11000)`,
        { retryable: false },
      );
    }
    const data = await this.call(
      '/api/v1/query_range',
      { query: promql, start: String(start), end: String(end), step: String(stepSeconds) },
      opts,
    );
    if (data.resultType !== 'matrix') {
      throw new DomainError(ErrorType.PromBadQuery, `range query returned ${data.resultType}, expected a matrix`, {
        retryable: false,
      });
    }
    return {
      resultType: 'matrix',
      series: data.result.map((r) => ({
        metric: r.metric,
        samples: r.values.map(([t, v]) => ({ t, value: parsePromValue(v) })),
      })),
    };
  }

  /**
   * Instant query that must return at most one series: its value, or explicit no data (empty
   * result, or NaN). ±Infinity is returned as a value. More than one series is a bad query.
   */
  async queryScalar(promql: string, time?: number, opts: CallOptions = {}): Promise<PromScalar> {
    const res = await this.query(promql, time, opts);
    return toScalar(res, promql);
  }

  /** Looks `name` up in `queries`, substitutes `vars` (`$window` …) and runs an instant query. */
  async queryNamed(
    queries: Record<string, string>,
    name: string,
    vars: Record<string, string>,
    time?: number,
    opts: CallOptions = {},
  ): Promise<PromInstantResult> {
    return this.query(namedQuery(queries, name, vars), time, opts);
  }

  private async call(path: string, params: Record<string, string>, opts: CallOptions): Promise<QueryData> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const body = new URLSearchParams({ ...params, timeout: `${Math.max(1, Math.floor(timeoutMs / 1000))}s` });
    const signals = [AbortSignal.timeout(timeoutMs)];
    if (opts.signal) signals.push(opts.signal);
    const signal = signals.length === 1 ? signals[0] : AbortSignal.any(signals);
    this.queriesIssued++;
    let res: Response;
    let text: string;
    try {
      res = await this.fetchImpl(`${this.base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...this.headers },
        body,
        signal,
      });
      text = await res.text();
    } catch (e) {
      throw this.transportError(e, timeoutMs);
    }
    let parsed: z.infer<typeof responseSchema> | undefined;
    try {
      const r = responseSchema.safeParse(JSON.parse(text));
      if (r.success) parsed = r.data;
    } catch {
      parsed = undefined;
    }
    if (!res.ok || parsed?.status !== 'success') throw this.httpError(res.status, parsed, text);
    const data = dataSchema.safeParse(parsed.data);
    if (!data.success) {
      throw new DomainError(
        ErrorType.PromUnavailable,
        `Prometheus at ${this.displayUrl} answered with an unexpected body`,
        {
          retryable: false,
          category: 'other',
          details: { issues: data.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`) },
        },
      );
    }
    return data.data;
  }

  private transportError(e: unknown, timeoutMs: number): DomainError {
    const err = e as { name?: string; cause?: { code?: string } };
    if (err?.name === 'TimeoutError' || err?.name === 'AbortError') {
      return new DomainError(
        ErrorType.PromUnavailable,
        `Prometheus at ${this.displayUrl} did not answer within ${timeoutMs} ms`,
        {
          category: 'timeout',
          retryable: true,
          cause: e,
        },
      );
    }
    return new DomainError(
      ErrorType.PromUnavailable,
      `Prometheus at ${this.displayUrl} is unreachable${err?.cause?.code ? ` (${err.cause.code})` : ''}`,
      {
        category: 'network',
        retryable: true,
        cause: e,
      },
    );
  }

  private httpError(status: number, body: z.infer<typeof responseSchema> | undefined, text: string): DomainError {
    const errorType = body?.errorType;
    const message = body?.error ?? text.slice(0, 200);
    const details = { status, errorType, error: message };
    if (errorType === 'bad_data' || errorType === 'execution' || status === 400 || status === 422) {
      return new DomainError(
        ErrorType.PromBadQuery,
        `Prometheus rejected the query (${errorType ?? status}): ${message}`,
        { retryable: false, details },
      );
    }
    if (status === 401 || status === 403) {
      return new DomainError(
        ErrorType.PromUnavailable,
        `Prometheus at ${this.displayUrl} refused the credentials (HTTP ${status})`,
        { category: 'auth', retryable: false, details },
      );
    }
    if (errorType === 'timeout' || errorType === 'canceled') {
      return new DomainError(ErrorType.PromUnavailable, `Prometheus query ${errorType}: ${message}`, {
        category: 'timeout',
        retryable: true,
        details,
      });
    }
    if (status === 429) {
      return new DomainError(
        ErrorType.PromUnavailable,
        `Prometheus at ${this.displayUrl} is rate limiting (HTTP 429)`,
        { category: 'rate_limit', retryable: true, details },
      );
    }
    if (status >= 500 || status < 400) {
      return new DomainError(
        ErrorType.PromUnavailable,
        `Prometheus at ${this.displayUrl} failed (HTTP ${status}${errorType ? `, ${errorType}` : ''}): ${message}`,
        { retryable: true, details },
      );
    }
    return new DomainError(ErrorType.PromBadQuery, `Prometheus request rejected (HTTP ${status}): ${message}`, {
      retryable: false,
      details,
    });
  }
}

/** Resolves a named query and substitutes its placeholders. Unknown names are bad queries. */
export function namedQuery(queries: Record<string, string>, name: string, vars: Record<string, string>): string {
  const promql = queries[name];
  if (promql === undefined)
    throw new DomainError(ErrorType.PromBadQuery, `no query named ${name}`, { retryable: false, details: { name } });
  return substituteQuery(promql, vars);
}

/** Reduces an instant result to one value or explicit no data. */
export function toScalar(res: PromInstantResult, promql = ''): PromScalar {
  if (res.series.length === 0) return { kind: 'nodata', reason: 'empty' };
  if (res.series.length > 1) {
    throw new DomainError(
      ErrorType.PromBadQuery,
      `query must return one series, got ${res.series.length}: ${promql.slice(0, 120)}`,
      { retryable: false },
    );
  }
  const { t, value } = res.series[0].sample;
  if (Number.isNaN(value)) return { kind: 'nodata', reason: 'nan' };
  return { kind: 'value', value, t };
}
