import type pg from 'pg';

/** Anything that runs a parameterised query: the pool (`Db`) or a client inside a transaction. */
export type Queryable = pg.Pool | pg.PoolClient | pg.Client;

/** Runs `fn` in one transaction on a dedicated client; rolls back when it throws. */
export async function inTransaction<T>(db: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}
