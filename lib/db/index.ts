import pg from 'pg';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';

export type Db = pg.Pool;

export const SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));

/**
 * A connection pool; errors on idle clients are logged instead of crashing the process. Getting
 * a connection gives up after `connectTimeoutMs` (default 5 s): with Postgres down or cut off a
 * request fails fast (503 + Retry-After) instead of waiting for the OS's TCP timeout, and TCP
 * keepalive is on for the pooled connections. A query without an answer in `queryTimeoutMs`
 * (default 30 s) fails and its connection is dropped: under a silent partition the connections
 * in use look open for good (no RST, and a proxy or NAT in the path keeps answering keepalive),
 * and without it their queries waited forever and the pool never served again after the heal.
 */
export function createDb(
  url: string,
  opts: {
    max?: number;
    log?: Logger;
    applicationName?: string;
    connectTimeoutMs?: number;
    queryTimeoutMs?: number;
  } = {},
): Db {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'sgc',
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
    query_timeout: opts.queryTimeoutMs ?? 30_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  pool.on('error', (err) => opts.log?.warn({ err: err.message }, 'idle postgres client error'));
  return pool;
}

const MIGRATION_FILE = /^(\d{6})_[a-z0-9_]+\.sql$/;
// Arbitrary constant: every runner takes this advisory lock, so concurrent start-ups apply each
// migration exactly once.
const MIGRATION_LOCK_KEY = 4_242_001;

export interface MigrationResult {
  applied: string[];
  skipped: number;
}

/**
 * Applies forward-only migrations from sql/ (`000001_name.sql`), each in its own transaction,
 * under a session advisory lock. A committed migration is never edited: a changed checksum of an
 * applied file stops start-up.
 */
export async function migrate(db: Db, opts: { dir?: string; log?: Logger } = {}): Promise<MigrationResult> {
  const dir = opts.dir ?? SQL_DIR;
  const files = readdirSync(dir)
    .filter((f) => MIGRATION_FILE.test(f))
    .sort();
  const client = await db.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: string; checksum: string }>(
      'SELECT version, checksum FROM schema_migrations',
    );
    const done = new Map(rows.map((r) => [r.version, r.checksum]));
    const { createHash } = await import('node:crypto');
    for (const file of files) {
      const sql = readFileSync(join(dir, file), 'utf8');
      const checksum = createHash('sha256').update(sql).digest('hex');
      const version = file.slice(0, 6);
      const prior = done.get(version);
      if (prior !== undefined) {
        if (prior !== checksum)
          throw new Error(
            `migration ${file} was edited after it was applied (checksum differs); add a new migration instead`,
          );
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
          version,
          file,
          checksum,
        ]);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${file} failed: ${(e as Error).message}`, { cause: e });
      }
      applied.push(file);
      opts.log?.info({ migration: file }, 'migration applied');
    }
    return { applied, skipped: files.length - applied.length };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    client.release();
  }
}

export interface BackgroundMigration {
  /** true once every migration is applied */
  ready(): boolean;
  /** the last failure while not ready (for logs and /healthz) */
  lastError(): string | null;
  /** resolves when ready (never rejects: it retries until stopped) */
  done: Promise<void>;
  stop(): void;
}

/**
 * Applies the migrations, retrying with backoff (1 s doubling to 30 s) until they succeed, so a
 * process can start while Postgres is down and become ready when it comes back (issue 9 item 10).
 * A migration that fails on a reachable database (a bad file) is retried too, and logged as an
 * error every time.
 */
export function migrateInBackground(
  db: Db,
  opts: { dir?: string; log?: Logger; initialMs?: number; maxMs?: number } = {},
): BackgroundMigration {
  let ready = false;
  let stopped = false;
  let lastError: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  let wake: () => void = () => undefined;
  const done = (async () => {
    for (let attempt = 0; !stopped; attempt++) {
      try {
        await migrate(db, { dir: opts.dir, log: opts.log });
        ready = true;
        lastError = null;
        if (attempt > 0) opts.log?.info({ attempts: attempt + 1 }, 'migrations applied after Postgres came back');
        return;
      } catch (e) {
        lastError = (e as Error).message;
        const delay = Math.min(opts.maxMs ?? 30_000, (opts.initialMs ?? 1_000) * 2 ** attempt);
        opts.log?.warn(
          { err: lastError, attempt: attempt + 1, retryInMs: delay },
          'migrations not applied (Postgres unreachable?); retrying',
        );
        await new Promise<void>((res) => {
          wake = res;
          timer = setTimeout(res, delay);
        });
      }
    }
  })();
  return {
    ready: () => ready,
    lastError: () => lastError,
    done,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      wake();
    },
  };
}
