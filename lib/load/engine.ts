/**
 * Open-loop HTTP load engine: a fixed request rate over N keep-alive connections.
 *
 * Why undici + our own pacing rather than autocannon: autocannon with a rate set bursts within
 * each second and measures latency from when a connection became free, which hides queueing
 * (coordinated omission; FACTS.md "Load generation"). Here request i is due at
 * start + i / rate regardless of how earlier requests fared, and its latency is measured from
 * that scheduled instant to the end of its response body — so time spent waiting for a
 * connection, or behind the in-flight bound, counts. Latencies go into HDR histograms (µs).
 *
 * Secrets: `headers` (Authorization) are sent and never stored — results, progress snapshots
 * and error summaries hold only counts, status classes and error codes, never messages,
 * headers or bodies; the target URL is reported without userinfo or query.
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { Pool } from 'undici';
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One concrete request. `path` is appended to the target's base path. */
export interface RequestInit {
  method: HttpMethod;
  path: string;
  body?: string | Uint8Array;
  headers?: Record<string, string>;
  /** label for per-kind statistics; defaults to the spec's name */
  kind?: string;
}

export interface RequestContext {
  /** global request index in the run (0-based) */
  seq: number;
  /** how many times this spec has been picked before (0-based) */
  kindSeq: number;
}

/** A weighted entry of the request mix; `request` may build each call (e.g. write, then commit). */
export interface RequestSpec {
  name: string;
  weight: number;
  request: RequestInit | ((ctx: RequestContext) => RequestInit);
}

export interface LoadOptions {
  /** base URL, e.g. http://127.0.0.1:8080 (a path prefix is kept) */
  target: string;
  rps: number;
  connections: number;
  durationMs: number;
  mix: RequestSpec[];
  /** sent with every request (e.g. Authorization); never logged, stored or echoed */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** called about every `progressIntervalMs` (default 1000) with a small JSON-safe snapshot */
  onProgress?: (snapshot: LoadSnapshot) => void;
  progressIntervalMs?: number;
  /** bound on requests in flight; later requests wait (their latency still counts from the schedule) */
  maxInFlight?: number;
  /** per-request header/body timeout (default 30 s) */
  requestTimeoutMs?: number;
  /** after the last scheduled request, how long to wait for stragglers (default requestTimeoutMs) */
  drainTimeoutMs?: number;
}

export type StatusClass = '2xx' | '3xx' | '4xx' | '5xx' | 'other';

export interface StatusCounts {
  '2xx': number;
  '3xx': number;
  '4xx': number;
  '5xx': number;
  /** 1xx or non-standard codes */
  other: number;
  /** no response: connection refused, reset, timeout */
  errors: number;
}

export interface LatencyStats {
  /** responses measured */
  count: number;
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
  mean: number | null;
}

export interface KindStats {
  status: StatusCounts;
  latencyMs: LatencyStats;
}

/** Statistics over one window of time (the run, a sampler window, or a progress tick). */
export interface WindowStats {
  /** epoch ms */
  startedAt: number;
  endedAt: number;
  durationMs: number;
  /** requests whose response or error arrived in the window */
  completed: number;
  /** completed per second over the window */
  rps: number;
  status: StatusCounts;
  /** (2xx + 3xx) / (responses + errors), null without any */
  successRate: number | null;
  /** (4xx + 5xx + errors) / (responses + errors) */
  errorRate: number | null;
  errorRate4xx: number | null;
  errorRate5xx: number | null;
  /** milliseconds, from each request's scheduled start to the end of its response */
  latencyMs: LatencyStats;
  byKind: Record<string, KindStats>;
  /** error codes (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT, …) with counts — never messages */
  errorCodes: Record<string, number>;
}

export interface LoadSnapshot {
  elapsedMs: number;
  targetRps: number;
  /** requests sent so far */
  sent: number;
  inFlight: number;
  /** due but held back by maxInFlight */
  backlog: number;
  dropped: number;
  /** cumulative */
  status: StatusCounts;
  /** since the previous progress call */
  recent: { rps: number; errorRate: number | null; p95Ms: number | null; p99Ms: number | null };
}

export type StopReason = 'completed' | 'aborted';

export interface LoadResult extends WindowStats {
  /** target without userinfo or query */
  target: string;
  targetRps: number;
  connections: number;
  plannedDurationMs: number;
  /** responses per second: over max(planned duration, time to the last response), or the time run when aborted */
  achievedRps: number;
  scheduled: number;
  sent: number;
  /** due requests never sent: held by maxInFlight past the end, or cut by an abort */
  dropped: number;
  /** in flight when the run was aborted or the drain timed out */
  abandoned: number;
  stopReason: StopReason;
  /** the run's latency histogram (HDR, compressed base64, microseconds): windows merge exactly */
  latencyHistogram: string;
}

export interface LoadRun {
  /** resolves when the run ends (on abort too, with stopReason 'aborted'); never rejects for request failures */
  done: Promise<LoadResult>;
  /** cumulative statistics so far */
  snapshot(): WindowStats;
  /** statistics since the previous takeWindow() (or the start), then starts a new window */
  takeWindow(): WindowStats;
  /** stops now: no new requests, in-flight ones aborted */
  abort(): void;
}

const emptyStatus = (): StatusCounts => ({ '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, other: 0, errors: 0 });

function statusClass(code: number): StatusClass {
  if (code >= 200 && code < 300) return '2xx';
  if (code >= 300 && code < 400) return '3xx';
  if (code >= 400 && code < 500) return '4xx';
  if (code >= 500 && code < 600) return '5xx';
  return 'other';
}

function newHistogram(): Histogram {
  // µs resolution, 3 significant digits; auto-resizes past an hour
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });
}

/**
 * Latency over several windows from their encoded histograms (LoadResult.latencyHistogram): the
 * percentiles of all their requests together, not an average of each window's percentiles.
 */
export function mergeLatencyHistograms(encoded: readonly string[]): LatencyStats {
  const merged = newHistogram();
  for (const e of encoded) {
    const h = decodeFromCompressedBase64(e, 32, false);
    merged.add(h);
    h.destroy();
  }
  const out = latencyOf(merged);
  merged.destroy();
  return out;
}

function latencyOf(h: Histogram): LatencyStats {
  const count = h.totalCount;
  if (count === 0) return { count: 0, p50: null, p90: null, p95: null, p99: null, max: null, mean: null };
  const ms = (us: number): number => Math.round(us) / 1000;
  return {
    count,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p95: ms(h.getValueAtPercentile(95)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}

class KindAcc {
  status = emptyStatus();
  hist = newHistogram();
}

/** Accumulates outcomes over a window of time. */
class WindowAcc {
  status = emptyStatus();
  hist = newHistogram();
  byKind = new Map<string, KindAcc>();
  errorCodes = new Map<string, number>();
  completed = 0;
  constructor(
    public startedAt: number,
    private readonly perKind: boolean,
  ) {}

  record(kind: string, outcome: { cls: StatusClass; latencyUs: number } | { errorCode: string }): void {
    this.completed++;
    let k: KindAcc | undefined;
    if (this.perKind) {
      k = this.byKind.get(kind);
      if (!k) {
        k = new KindAcc();
        this.byKind.set(kind, k);
      }
    }
    if ('errorCode' in outcome) {
      this.status.errors++;
      if (k) k.status.errors++;
      this.errorCodes.set(outcome.errorCode, (this.errorCodes.get(outcome.errorCode) ?? 0) + 1);
      return;
    }
    this.status[outcome.cls]++;
    const us = Math.max(1, Math.round(outcome.latencyUs));
    this.hist.recordValue(us);
    if (k) {
      k.status[outcome.cls]++;
      k.hist.recordValue(us);
    }
  }

  stats(endedAt: number): WindowStats {
    const s = this.status;
    const total = s['2xx'] + s['3xx'] + s['4xx'] + s['5xx'] + s.other + s.errors;
    const frac = (n: number): number | null => (total === 0 ? null : n / total);
    const durationMs = Math.max(0, endedAt - this.startedAt);
    const byKind: Record<string, KindStats> = {};
    for (const [name, k] of this.byKind) byKind[name] = { status: { ...k.status }, latencyMs: latencyOf(k.hist) };
    return {
      startedAt: this.startedAt,
      endedAt,
      durationMs,
      completed: this.completed,
      rps: durationMs > 0 ? (this.completed * 1000) / durationMs : 0,
      status: { ...s },
      successRate: frac(s['2xx'] + s['3xx']),
      errorRate: frac(s['4xx'] + s['5xx'] + s.errors),
      errorRate4xx: frac(s['4xx']),
      errorRate5xx: frac(s['5xx']),
      latencyMs: latencyOf(this.hist),
      byKind,
      errorCodes: Object.fromEntries(this.errorCodes),
    };
  }
}

/** Deterministic weighted interleaving (smooth weighted round-robin): exact proportions, no bursts of one kind. */
class MixPicker {
  private readonly current: number[];
  private readonly total: number;
  constructor(private readonly weights: number[]) {
    this.current = weights.map(() => 0);
    this.total = weights.reduce((a, b) => a + b, 0);
  }
  next(): number {
    let best = -1;
    for (let i = 0; i < this.weights.length; i++) {
      if (this.weights[i] <= 0) continue;
      this.current[i] += this.weights[i];
      if (best < 0 || this.current[i] > this.current[best]) best = i;
    }
    this.current[best] -= this.total;
    return best;
  }
}

function errorCode(e: unknown): string {
  if (e && typeof e === 'object') {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code)) return code;
    const name = (e as { name?: unknown }).name;
    if (typeof name === 'string' && /^[A-Za-z]{1,64}$/.test(name)) return name;
  }
  return 'UNKNOWN';
}

/** Target URL without userinfo, query or fragment, for results. */
function safeTarget(u: URL): string {
  return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
}

function validate(opts: LoadOptions): URL {
  let url: URL;
  try {
    url = new URL(opts.target);
  } catch {
    throw new TypeError('load target is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError('load target must be http or https');
  if (!(opts.rps > 0) || !Number.isFinite(opts.rps)) throw new RangeError('rps must be a positive number');
  if (!Number.isInteger(opts.connections) || opts.connections < 1)
    throw new RangeError('connections must be a positive integer');
  if (!(opts.durationMs >= 0) || !Number.isFinite(opts.durationMs))
    throw new RangeError('durationMs must be a non-negative number');
  if (opts.mix.length === 0 || !opts.mix.some((s) => s.weight > 0))
    throw new RangeError('mix needs at least one spec with a positive weight');
  if (opts.mix.some((s) => !(s.weight >= 0))) throw new RangeError('mix weights must be non-negative');
  if (opts.maxInFlight !== undefined && (!Number.isInteger(opts.maxInFlight) || opts.maxInFlight < 1))
    throw new RangeError('maxInFlight must be a positive integer');
  return url;
}

/**
 * Starts a load run and returns a handle: `done` for the result, `takeWindow()` for a sampler
 * that wants the last interval only, `snapshot()` for the run so far, `abort()` to stop.
 * Throws (synchronously) only for invalid options, with messages that carry no option values.
 */
export function startLoad(opts: LoadOptions): LoadRun {
  const url = validate(opts);
  const basePath = url.pathname.replace(/\/+$/, '');
  const requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
  const drainTimeoutMs = opts.drainTimeoutMs ?? requestTimeoutMs;
  const maxInFlight = opts.maxInFlight ?? Math.max(opts.connections * 4, Math.ceil(opts.rps));
  const periodMs = 1000 / opts.rps;
  const scheduled = Math.floor((opts.durationMs * opts.rps) / 1000);
  const baseHeaders = { ...(opts.headers ?? {}) };
  const weights = opts.mix.map((s) => s.weight);
  const picker = new MixPicker(weights);
  const kindSeq = opts.mix.map(() => 0);

  const pool = new Pool(url.origin, {
    connections: opts.connections,
    pipelining: 1,
    headersTimeout: requestTimeoutMs,
    bodyTimeout: requestTimeoutMs,
    connectTimeout: Math.min(requestTimeoutMs, 10_000),
  });
  const controller = new AbortController();
  // every in-flight request listens on this one signal
  setMaxListeners(maxInFlight + 16, controller.signal);

  const startedAtEpoch = Date.now();
  const t0 = performance.now();
  const epochAt = (perfMs: number): number => startedAtEpoch + (perfMs - t0);
  const cumulative = new WindowAcc(startedAtEpoch, true);
  let samplerWindow = new WindowAcc(startedAtEpoch, true);
  let progressWindow = new WindowAcc(startedAtEpoch, false);

  let next = 0;
  let sent = 0;
  let inFlight = 0;
  let dropped = 0;
  let abandoned = 0;
  let lastCompletion = t0;
  let stopping = false;
  let stopReason: StopReason = 'completed';
  let timer: NodeJS.Timeout | undefined;
  let drainTimer: NodeJS.Timeout | undefined;
  const inflight = new Set<Promise<void>>();

  let resolveDone!: (r: LoadResult) => void;
  const done = new Promise<LoadResult>((r) => {
    resolveDone = r;
  });

  const record = (kind: string, outcome: { cls: StatusClass; latencyUs: number } | { errorCode: string }): void => {
    cumulative.record(kind, outcome);
    samplerWindow.record(kind, outcome);
    progressWindow.record(kind, outcome);
  };

  const buildRequest = (seq: number): { kind: string; init: RequestInit } | { kind: string; error: string } => {
    const idx = picker.next();
    const spec = opts.mix[idx];
    const ctx = { seq, kindSeq: kindSeq[idx]++ };
    try {
      const init = typeof spec.request === 'function' ? spec.request(ctx) : spec.request;
      return { kind: init.kind ?? spec.name, init };
    } catch {
      return { kind: spec.name, error: 'SPEC_ERROR' };
    }
  };

  const issue = (seq: number, dueAt: number): void => {
    const built = buildRequest(seq);
    sent++;
    if ('error' in built) {
      record(built.kind, { errorCode: built.error });
      return;
    }
    const { kind, init } = built;
    inFlight++;
    const p = (async () => {
      try {
        const res = await pool.request({
          method: init.method,
          path: basePath + init.path,
          headers: init.headers ? { ...baseHeaders, ...init.headers } : baseHeaders,
          body: init.body,
          signal: controller.signal,
        });
        // read the whole body: latency ends when the response has fully arrived
        await res.body.dump({ limit: Number.MAX_SAFE_INTEGER, signal: controller.signal });
        // dump() settles on close even when the body broke off; that response did not arrive
        if (res.body.errored) throw res.body.errored;
        const end = performance.now();
        lastCompletion = Math.max(lastCompletion, end);
        record(kind, { cls: statusClass(res.statusCode), latencyUs: (end - dueAt) * 1000 });
      } catch (e) {
        if (controller.signal.aborted) {
          // an abort() counted it already when it ended the run; the drain timeout counts it here
          if (!finished) abandoned++;
          return;
        }
        lastCompletion = Math.max(lastCompletion, performance.now());
        record(kind, { errorCode: errorCode(e) });
      }
    })().finally(() => {
      inFlight--;
      inflight.delete(p);
      if (!stopping) tick();
      else maybeFinish();
    });
    inflight.add(p);
  };

  const deadline = t0 + opts.durationMs;

  function tick(): void {
    if (stopping) return;
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    const now = performance.now();
    // catch up on everything due: a late timer must not lower the rate
    while (next < scheduled && t0 + next * periodMs <= now) {
      if (inFlight >= maxInFlight) {
        if (now >= deadline) {
          // the run is over; what is still held back was never sent
          dropped += scheduled - next;
          next = scheduled;
        }
        break; // a completion calls tick() again
      }
      issue(next, t0 + next * periodMs);
      next++;
    }
    if (next >= scheduled) {
      beginDrain();
      return;
    }
    if (inFlight < maxInFlight) {
      timer = setTimeout(tick, Math.max(0, t0 + next * periodMs - performance.now()));
    } else if (now < deadline) {
      // blocked by the in-flight bound: completions resume the schedule, the deadline ends it
      timer = setTimeout(tick, Math.max(0, deadline - now));
    }
  }

  function beginDrain(): void {
    if (stopping) return;
    stopping = true;
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (inFlight === 0) {
      void finish();
      return;
    }
    drainTimer = setTimeout(() => {
      controller.abort();
    }, drainTimeoutMs);
  }

  function maybeFinish(): void {
    if (stopping && inFlight === 0) void finish();
  }

  let finished = false;
  async function finish(): Promise<void> {
    if (finished) return;
    finished = true;
    if (timer) clearTimeout(timer);
    if (drainTimer) clearTimeout(drainTimer);
    if (progressTimer) clearInterval(progressTimer);
    opts.signal?.removeEventListener('abort', onAbort);
    const endPerf = performance.now();
    const stats = cumulative.stats(epochAt(endPerf));
    const responses = stats.completed - stats.status.errors;
    // a completed run is judged against its planned duration (late responses stretch it);
    // an aborted one against the time it actually ran
    const elapsedForRate = stopReason === 'aborted' ? endPerf - t0 : Math.max(opts.durationMs, lastCompletion - t0);
    // destroy, not close: an abort must not wait for sockets to drain
    await pool.destroy().catch(() => undefined);
    resolveDone({
      ...stats,
      target: safeTarget(url),
      targetRps: opts.rps,
      connections: opts.connections,
      plannedDurationMs: opts.durationMs,
      achievedRps: elapsedForRate > 0 ? (responses * 1000) / elapsedForRate : 0,
      scheduled,
      sent,
      dropped,
      abandoned,
      stopReason,
      latencyHistogram: encodeIntoCompressedBase64(cumulative.hist),
    });
  }

  function abort(): void {
    if (finished) return;
    if (stopReason !== 'aborted') {
      stopReason = 'aborted';
      // cut the schedule: what was due later is never sent
      dropped += scheduled - next;
      next = scheduled;
    }
    stopping = true;
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    controller.abort();
    // end the run now: what is in flight is abandoned, and waiting for each cut request to
    // settle would make the stop as slow as the busiest moment of the event loop
    abandoned += inFlight;
    void finish();
  }
  const onAbort = (): void => abort();

  let progressTimer: NodeJS.Timeout | undefined;
  if (opts.onProgress) {
    const cb = opts.onProgress;
    progressTimer = setInterval(() => {
      const nowEpoch = epochAt(performance.now());
      const w = progressWindow.stats(nowEpoch);
      progressWindow = new WindowAcc(nowEpoch, false);
      try {
        cb({
          elapsedMs: nowEpoch - startedAtEpoch,
          targetRps: opts.rps,
          sent,
          inFlight,
          backlog: Math.max(0, Math.min(scheduled, Math.floor((performance.now() - t0) / periodMs) + 1) - next),
          dropped,
          status: { ...cumulative.status },
          recent: { rps: w.rps, errorRate: w.errorRate, p95Ms: w.latencyMs.p95, p99Ms: w.latencyMs.p99 },
        });
      } catch {
        // a failing progress callback (e.g. a heartbeat after cancellation) must not stop the load
      }
    }, opts.progressIntervalMs ?? 1000);
  }

  if (opts.signal?.aborted) {
    abort();
  } else {
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (scheduled === 0) beginDrain();
    else tick();
  }

  return {
    done,
    snapshot: () => cumulative.stats(epochAt(performance.now())),
    takeWindow: () => {
      const nowEpoch = epochAt(performance.now());
      const w = samplerWindow.stats(nowEpoch);
      samplerWindow = new WindowAcc(nowEpoch, true);
      return w;
    },
    abort,
  };
}

/** Runs a load to the end (or until `signal` aborts) and returns the result. */
export function runLoad(opts: LoadOptions): Promise<LoadResult> {
  try {
    return startLoad(opts).done;
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Client-side values for the CSV columns a load window can vouch for (for targets without our
 * metrics, or to cross-check them): success and error rates by status class, latencies in ms,
 * request rate. Keys are CSV v3 column names.
 */
export function loadWindowValues(w: WindowStats): Record<string, number | null> {
  const none = w.completed === 0;
  return {
    http_success_rate: none ? null : w.successRate,
    error_rate: none ? null : w.errorRate,
    error_rate_4xx: none ? null : w.errorRate4xx,
    error_rate_5xx: none ? null : w.errorRate5xx,
    p50_latency: w.latencyMs.p50,
    p90_latency: w.latencyMs.p90,
    p95_latency: w.latencyMs.p95,
    p99_latency: w.latencyMs.p99,
    request_rate: w.rps,
  };
}

export interface GitMixOptions {
  /** workspaces the load uses (created beforehand by the caller) */
  workspaceIds: string[];
  /** weights; the seed states no operation distribution, so these are ours (read-heavy agent loop) */
  weights?: { status?: number; diff?: number; edit?: number };
  /** distinguishes this run's files, e.g. the run id */
  runTag?: string;
}

export const DEFAULT_GIT_MIX_WEIGHTS = { status: 40, diff: 30, edit: 30 } as const;

/**
 * The default mix against our git API (DESIGN.md routes): status, diff, and an "edit" spec that
 * alternates a file write (`PUT /v1/workspaces/:id/files/*`) with a commit + push of it
 * (`POST /v1/workspaces/:id/commits`) on the same workspace. Workspaces rotate round-robin.
 */
export function defaultGitMix(opts: GitMixOptions): RequestSpec[] {
  const ids = opts.workspaceIds;
  if (ids.length === 0) throw new RangeError('defaultGitMix needs at least one workspace id');
  const w = { ...DEFAULT_GIT_MIX_WEIGHTS, ...opts.weights };
  const tag = (opts.runTag ?? 'load').replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40) || 'load';
  const ws = (i: number): string => `/v1/workspaces/${encodeURIComponent(ids[i % ids.length])}`;
  const json = { 'content-type': 'application/json' };
  // seq and kindSeq restart with every load run (each baseline window is one), so without a
  // per-mix nonce a later window would write a file's current content again and its commit
  // would find nothing to commit (HTTP 400 from the real API)
  const nonce = randomBytes(4).toString('hex');
  return [
    { name: 'status', weight: w.status, request: ({ kindSeq }) => ({ method: 'GET', path: `${ws(kindSeq)}/status` }) },
    { name: 'diff', weight: w.diff, request: ({ kindSeq }) => ({ method: 'GET', path: `${ws(kindSeq)}/diff` }) },
    {
      name: 'edit',
      weight: w.edit,
      request: ({ seq, kindSeq }) => {
        const round = Math.floor(kindSeq / 2);
        const file = `load/${tag}-${round % 16}.txt`;
        return kindSeq % 2 === 0
          ? {
              kind: 'write',
              method: 'PUT',
              path: `${ws(round)}/files/${file}`,
              headers: json,
              body: JSON.stringify({ content: `load ${tag} ${nonce} ${seq}\n` }),
            }
          : {
              kind: 'commit',
              method: 'POST',
              path: `${ws(round)}/commits`,
              headers: json,
              body: JSON.stringify({ message: `load ${tag} ${round}` }),
            };
      },
    },
  ];
}
