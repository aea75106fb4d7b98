import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDb, migrate, type Db } from '../../lib/db/index.js';
import { stackEnv } from './stack.js';

export interface TestDb {
  url: string;
  db: Db;
  /** closes the pool and drops the database */
  drop(): Promise<void>;
}

/** A fresh, migrated database on the real Postgres server, one per test file. */
export async function freshDb(prefix = 't'): Promise<TestDb> {
  const adminUrl = stackEnv('SGC_TEST_PG_ADMIN_URL');
  const name = `sgc_${prefix}_${randomBytes(5).toString('hex')}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  const db = createDb(url, { max: 20 });
  await migrate(db);
  return {
    url,
    db,
    drop: async () => {
      await db.end().catch(() => undefined);
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}
