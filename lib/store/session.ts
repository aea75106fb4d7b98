/**
 * Statements about the connection rather than a table: liveness, the database clock, LISTEN.
 * Kept here so lib/store stays the one place that speaks SQL.
 */
import type pg from 'pg';
import type { Queryable } from './queryable.js';

/** `SELECT 1`: the database answers. */
export async function ping(q: Queryable): Promise<void> {
  await q.query('SELECT 1');
}

/** The database clock now (clock_timestamp: advances inside a transaction too). */
export async function databaseClock(q: Queryable): Promise<Date> {
  const { rows } = await q.query<{ now: Date }>('SELECT clock_timestamp() AS now');
  return rows[0]!.now;
}

/** Subscribes the client to `channel` (a constant identifier, never user input). */
export async function listen(client: pg.Client | pg.PoolClient, channel: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`not a channel name: ${channel}`);
  await client.query(`LISTEN ${channel}`);
}

/** The backend pid of the connection (diagnostics; tests terminate it). */
export async function backendPid(client: pg.Client | pg.PoolClient): Promise<number> {
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return rows[0]!.pid;
}

/** Ends the subscription to `channel`. */
export async function unlisten(client: pg.Client | pg.PoolClient, channel: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`not a channel name: ${channel}`);
  await client.query(`UNLISTEN ${channel}`);
}
