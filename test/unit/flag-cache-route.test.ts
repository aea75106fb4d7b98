/**
 * `GET /v1/flags/cache`: what this process's router serves, read from memory (issue 12: the chaos
 * suite samples it on every API process during a partition, when Postgres cannot be asked).
 */
import { describe, expect, test } from '@jest/globals';
import { flagRoutes, type FlagRouteDeps } from '../../api/routes/flags.js';
import { routeApp } from '../../scripts/testing/route-app.js';

const ADMIN = 'admin-token-0123456789abcdefgh';
const AGENT = 'agent-token-0123456789abcdefgh';
const unreachable = (): never => {
  throw new Error('Postgres must not be asked');
};
const store = new Proxy({}, { get: () => unreachable }) as FlagRouteDeps['flags'];

async function app(cache?: FlagRouteDeps['cache']) {
  const a = routeApp([
    { name: 'admin', role: 'admin', token: ADMIN },
    { name: 'agent-1', role: 'agent', agentId: 'agent-1', token: AGENT },
  ]);
  await a.register(flagRoutes({ flags: store, switchTimeoutMs: 1_000, cache }), { prefix: '/v1' });
  return a;
}

describe('GET /v1/flags/cache', () => {
  test("answers this process's cached flags from memory — fail-safe values while Postgres is silent — to admins only", async () => {
    let failSafe = false;
    const a = await app({
      processId: 'api-42',
      connected: true,
      version: 7,
      failSafe: () => failSafe,
      all: () => [
        {
          operation: 'git.status',
          percent: failSafe ? 0 : 50,
          shadow: false,
          shadowPercent: 0,
          version: 7,
        },
      ],
    });
    const get = (token: string) =>
      a.inject({ method: 'GET', url: '/v1/flags/cache', headers: { authorization: `Bearer ${token}` } });
    expect((await get(AGENT)).statusCode).toBe(403);
    const res = await get(ADMIN);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      processId: 'api-42',
      routed: true,
      connected: true,
      failSafe: false,
      version: 7,
      flags: [{ operation: 'git.status', percent: 50, shadow: false, version: 7 }],
    });
    failSafe = true;
    expect((await get(ADMIN)).json()).toMatchObject({ failSafe: true, flags: [{ percent: 0, version: 7 }] });
  });

  test('a process that routes nothing says so', async () => {
    const res = await (
      await app()
    ).inject({ method: 'GET', url: '/v1/flags/cache', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.json()).toEqual({
      processId: null,
      routed: false,
      connected: false,
      failSafe: false,
      version: 0,
      flags: [],
    });
  });
});
