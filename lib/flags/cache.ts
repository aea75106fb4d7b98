import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../log.js';
import { FLAG_CACHE_DEFAULTS } from './cache-defaults.js';
import { createFlagRepository } from '../store/flags.js';
import { createProcessHeartbeatRepository } from '../store/process-heartbeats.js';
import { backendPid, listen } from '../store/session.js';
import { FLAGS_CHANNEL, type FlagTarget } from './store.js';

export interface CachedFlag extends FlagTarget {
  operation: string;
  version: number;
}

export interface FlagChangeEvent {
  /** flags whose value changed, with their new values */
  changes: CachedFlag[];
  /** the cache's version after applying */
  version: number;
  /** batch id from the notification; null after a re-read */
  changeId: string | null;
  source: 'notify' | 'reload';
}

export type FlagListener = (event: FlagChangeEvent) => void;

export interface FlagCacheOptions {
  connectionString: string;
  /** identifies this process in acks and heartbeats; default host:pid:random */
  processId?: string;
  log?: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /** reconnect backoff: doubles from initialMs up to maxMs, ±20% jitter */
  backoff?: { initialMs?: number; maxMs?: number };
  /** how often the process heartbeat is written (it also detects a silently dead connection); default 2 s */
  heartbeatMs?: number;
  /**
   * A heartbeat (or any query on the listening connection) not answered within this counts as a
   * lost connection: under a silent partition nothing else would ever say so. Default 2 s.
   */
  heartbeatTimeoutMs?: number;
  /** a (re)connect attempt that has not completed within this fails (a black-holed host); default 5 s */
  connectTimeoutMs?: number;
  /**
   * A process that cannot hear changes cannot hear a kill switch either: once this long has passed
   * since the last answer from Postgres (heartbeat, notification, connect), `get` answers percent 0
   * / shadow off (approach 1, the known-good path) until the connection is back and the flags
   * re-read. Counted from the last answer, not from noticing the loss, so the bound holds from the
   * moment Postgres was lost. 0 disables. Default 8 s: within the seed's 30 s rollback bound with
   * room for three missed heartbeats (issue 9 item 6: aim < 10 s).
   */
  failSafeAfterMs?: number;
  /**
   * false: `start` returns at once even when Postgres cannot be reached; until the first
   * connection every flag is unknown (the router sends everyone to approach 1) and the cache
   * keeps reconnecting with backoff. Default true (the first connection must succeed).
   */
  waitForConnection?: boolean;
}

export { FLAG_CACHE_DEFAULTS };

interface NotifyPayload {
  version: number;
  changeId: string | null;
  flags?: CachedFlag[];
  reload?: boolean;
}

const OFF: Required<FlagTarget> = { percent: 0, shadow: false, shadowPercent: 0 };

/**
 * Per-process, in-memory flag cache. Loads every flag, then holds one dedicated connection that
 * `LISTEN sgc_flags`: a notification carries the new values and version, so it is applied at
 * once without a read. On every (re)connect it LISTENs first and then re-reads the table, so a
 * notification missed while disconnected cannot leave it stale; values are applied per flag only
 * when their version is newer, so a late or duplicate notification never rolls a flag back. A
 * dropped connection is re-established with backoff. After applying a change it records an ack
 * (process id, version, database time) — the kill-switch measurement reads those.
 */
export class FlagCache {
  readonly processId: string;
  private readonly flags = new Map<string, CachedFlag>();
  private readonly listeners = new Set<FlagListener>();
  private client: pg.Client | null = null;
  private pid: number | null = null;
  private closed = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private disconnectedSince: number | null = null;
  /** when Postgres last answered on the listening connection (ms since epoch) */
  private lastContactAt = Date.now();
  private heartbeatInFlight = false;
  private maxVersion = 0;
  private connecting: Promise<void> | null = null;
  private readonly log: Pick<Logger, 'info' | 'warn' | 'debug'> | undefined;

  private constructor(private readonly opts: FlagCacheOptions) {
    const d = FLAG_CACHE_DEFAULTS;
    const failSafe = opts.failSafeAfterMs ?? d.failSafeAfterMs;
    const beat = (opts.heartbeatMs ?? d.heartbeatMs) + (opts.heartbeatTimeoutMs ?? d.heartbeatTimeoutMs);
    // a healthy connection is only known healthy once per heartbeat: a shorter fail-safe would flap
    if (failSafe > 0 && failSafe <= beat)
      throw new Error(`failSafeAfterMs (${failSafe}) must exceed heartbeatMs + heartbeatTimeoutMs (${beat})`);
    this.processId = opts.processId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.log = opts.log;
  }

  /**
   * Connects, loads every flag and starts listening; throws if the first connection fails
   * (unless `waitForConnection: false`: then it keeps trying in the background).
   */
  static async start(opts: FlagCacheOptions): Promise<FlagCache> {
    const cache = new FlagCache(opts);
    if (opts.waitForConnection === false) {
      cache.disconnectedSince = Date.now();
      cache.connect().catch((e: unknown) => {
        cache.log?.warn(
          { processId: cache.processId, err: (e as Error).message },
          'flag cache cannot reach Postgres yet; every flag is off until it can',
        );
        cache.scheduleReconnect();
      });
    } else {
      await cache.connect();
    }
    cache.heartbeatTimer = setInterval(
      () => void cache.heartbeat(),
      opts.heartbeatMs ?? FLAG_CACHE_DEFAULTS.heartbeatMs,
    );
    cache.heartbeatTimer.unref();
    return cache;
  }

  /** The flag's value; undefined for an unknown operation (the router treats that as approach 1). */
  get(operation: string): CachedFlag | undefined {
    const f = this.flags.get(operation);
    if (f === undefined) return undefined;
    if (this.failSafe()) return { ...f, ...OFF };
    return f;
  }

  all(): CachedFlag[] {
    return [...this.flags.keys()].sort().map((op) => this.get(op)!);
  }

  /** True while the fail-safe holds every flag at 0 (Postgres silent for longer than failSafeAfterMs). */
  failSafe(): boolean {
    const after = this.opts.failSafeAfterMs ?? FLAG_CACHE_DEFAULTS.failSafeAfterMs;
    return after > 0 && !this.closed && Date.now() - this.lastContactAt > after;
  }

  /** Highest flag version applied. */
  get version(): number {
    return this.maxVersion;
  }

  get connected(): boolean {
    return this.client !== null && this.disconnectedSince === null;
  }

  /** Backend pid of the LISTEN connection (diagnostics; tests terminate it). */
  get backendPid(): number | null {
    return this.pid;
  }

  /** Subscribes to applied changes; returns the unsubscribe function. */
  onChange(listener: FlagListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    await this.connecting?.catch(() => undefined);
    const c = this.client;
    this.client = null;
    if (c) {
      // bounded by query_timeout; a partitioned server gets no goodbye
      await createProcessHeartbeatRepository(c)
        .close(this.processId)
        .catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        c.end().catch(() => undefined),
        new Promise<void>((res) => {
          timer = setTimeout(res, 1_000);
        }),
      ]);
      clearTimeout(timer);
      dropClient(c);
    }
    this.listeners.clear();
  }

  private connect(): Promise<void> {
    this.connecting ??= this.doConnect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async doConnect(): Promise<void> {
    const timeoutMs = this.opts.heartbeatTimeoutMs ?? FLAG_CACHE_DEFAULTS.heartbeatTimeoutMs;
    const client = new pg.Client({
      connectionString: this.opts.connectionString,
      application_name: `sgc-flags ${this.processId}`.slice(0, 63),
      // TCP keepalive from 5 s idle (the OS default is 2 h); the heartbeat's timeout is what
      // notices a silent partition within seconds, keepalive cleans up what the OS still holds
      keepAlive: true,
      keepAliveInitialDelayMillis: 5_000,
      connectionTimeoutMillis: this.opts.connectTimeoutMs ?? FLAG_CACHE_DEFAULTS.connectTimeoutMs,
      // every query here is tiny: one that takes longer than this means the path is gone
      query_timeout: Math.max(timeoutMs, 1_000) * 2,
    });
    client.on('notification', (msg) => {
      if (client === this.client && msg.channel === FLAGS_CHANNEL) this.onNotification(msg.payload);
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    try {
      await client.connect();
      // LISTEN before reading: a change committed after the read is then never missed
      await listen(client, FLAGS_CHANNEL);
      const pid = await backendPid(client);
      const rows = await createFlagRepository(client).values();
      if (this.closed) {
        dropClient(client);
        return;
      }
      this.client = client;
      this.pid = pid;
      this.disconnectedSince = null;
      this.lastContactAt = Date.now();
      this.attempt = 0;
      this.applyReload(rows);
      await this.heartbeat();
      this.log?.debug({ processId: this.processId, version: this.maxVersion }, 'flag cache connected');
    } catch (e) {
      client.removeAllListeners('end');
      dropClient(client);
      throw e;
    }
  }

  private lost(client: pg.Client, err: Error): void {
    if (this.closed || client !== this.client) return;
    this.client = null;
    this.pid = null;
    this.disconnectedSince ??= Date.now();
    this.log?.warn({ processId: this.processId, err: err.message }, 'flag cache connection lost; reconnecting');
    dropClient(client);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const initial = this.opts.backoff?.initialMs ?? 100;
    const max = this.opts.backoff?.maxMs ?? 5_000;
    const base = Math.min(max, initial * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect().catch((e: unknown) => {
        this.log?.warn(
          { processId: this.processId, err: (e as Error).message, attempt: this.attempt },
          'flag cache reconnect failed',
        );
        this.scheduleReconnect();
      });
    }, delay);
  }

  private onNotification(raw: string | undefined): void {
    this.lastContactAt = Date.now();
    let p: NotifyPayload;
    try {
      p = JSON.parse(raw ?? '') as NotifyPayload;
    } catch {
      this.log?.warn({ processId: this.processId }, 'unparseable flag notification; re-reading');
      this.reload();
      return;
    }
    if (p.reload === true || !Array.isArray(p.flags)) {
      this.reload();
      return;
    }
    const changes: CachedFlag[] = [];
    for (const f of p.flags) {
      const cur = this.flags.get(f.operation);
      if (cur !== undefined && cur.version >= f.version) continue; // already have it (or newer)
      // a notification from before sql/000012 carries no share: shadow on was every agent
      const shadowPercent = typeof f.shadowPercent === 'number' ? f.shadowPercent : f.shadow ? 100 : 0;
      const next = { operation: f.operation, percent: f.percent, shadow: f.shadow, shadowPercent, version: f.version };
      this.flags.set(f.operation, next);
      changes.push(next);
    }
    if (changes.length === 0) return;
    this.maxVersion = Math.max(this.maxVersion, ...changes.map((c) => c.version));
    this.emit({ changes, version: this.maxVersion, changeId: p.changeId ?? null, source: 'notify' });
    this.ack(this.maxVersion, p.changeId ?? null);
  }

  /** Re-reads every flag on the listening connection (a reload notification or a bad payload). */
  private reload(): void {
    const c = this.client;
    if (!c) return;
    createFlagRepository(c)
      .values()
      .then((rows) => {
        if (c === this.client) this.applyReload(rows);
      })
      .catch((e: unknown) =>
        this.log?.warn({ processId: this.processId, err: (e as Error).message }, 'flag re-read failed'),
      );
  }

  private applyReload(rows: CachedFlag[]): void {
    const changes: CachedFlag[] = [];
    const present = new Set(rows.map((r) => r.operation));
    for (const op of [...this.flags.keys()]) if (!present.has(op)) this.flags.delete(op);
    for (const r of rows) {
      const cur = this.flags.get(r.operation);
      if (cur !== undefined && cur.version >= r.version) continue;
      this.flags.set(r.operation, r);
      if (
        cur === undefined ||
        cur.percent !== r.percent ||
        cur.shadow !== r.shadow ||
        cur.shadowPercent !== r.shadowPercent
      )
        changes.push(r);
    }
    const before = this.maxVersion;
    this.maxVersion = Math.max(0, ...[...this.flags.values()].map((f) => f.version));
    if (changes.length > 0) this.emit({ changes, version: this.maxVersion, changeId: null, source: 'reload' });
    if (this.maxVersion > before) this.ack(this.maxVersion, null);
  }

  private emit(ev: FlagChangeEvent): void {
    for (const l of this.listeners) {
      try {
        l(ev);
      } catch (e) {
        this.log?.warn({ err: (e as Error).message }, 'flag listener threw');
      }
    }
  }

  /** Records that this process applied `version`; the database clock stamps it. */
  private ack(version: number, changeId: string | null): void {
    const c = this.client;
    if (!c) return;
    createProcessHeartbeatRepository(c)
      .ack(this.processId, version, changeId)
      .catch((e: unknown) =>
        this.log?.warn({ processId: this.processId, version, err: (e as Error).message }, 'flag ack failed'),
      );
  }

  /**
   * Writes the process heartbeat and proves the connection alive. A heartbeat not answered
   * within heartbeatTimeoutMs is a lost connection: under a silent partition the socket stays
   * "open" and the query would wait for hours.
   */
  private async heartbeat(): Promise<void> {
    const c = this.client;
    if (!c || this.closed || this.heartbeatInFlight) return;
    this.heartbeatInFlight = true;
    const timeoutMs = this.opts.heartbeatTimeoutMs ?? FLAG_CACHE_DEFAULTS.heartbeatTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    try {
      const write = createProcessHeartbeatRepository(c).beat(this.processId, this.maxVersion);
      const timeout = new Promise<never>((_res, rej) => {
        // after this process itself stalled (busy or descheduled), the timer runs before the
        // answer that arrived meanwhile is read: let pending I/O in before calling the path gone
        timer = setTimeout(
          () => setImmediate(() => rej(new Error(`heartbeat not answered within ${timeoutMs} ms`))),
          timeoutMs,
        );
      });
      write.catch(() => undefined); // when the timeout wins, the query's own failure comes later
      await Promise.race([write, timeout]);
      if (c === this.client) this.lastContactAt = Date.now();
    } catch (e) {
      // a failed or unanswered heartbeat on a connection that pg still thinks is open: lost
      this.lost(c, e as Error);
    } finally {
      clearTimeout(timer);
      this.heartbeatInFlight = false;
    }
  }
}

/**
 * Ends a client without waiting for the server: on a black-holed path `end()` would wait for a
 * goodbye that never comes, so the socket is destroyed too.
 */
function dropClient(client: pg.Client): void {
  client.end().catch(() => undefined);
  const stream = (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream;
  if (typeof stream?.destroy === 'function') stream.destroy();
}
