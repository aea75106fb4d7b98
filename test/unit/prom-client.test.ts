import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PromClient, substituteQuery, promDuration, parsePromValue, namedQuery } from '../../lib/prom/client.js';
import { DomainError, ErrorType } from '../../lib/errors.js';

// A fake Prometheus HTTP peer: answers by the PromQL text it receives, with the API's real shapes.
type Reply = { status: number; body: unknown; delayMs?: number; raw?: string };
const vector = (result: unknown[]): Reply => ({
  status: 200,
  body: { status: 'success', data: { resultType: 'vector', result } },
});
const promError = (status: number, errorType: string, error: string): Reply => ({
  status,
  body: { status: 'error', errorType, error },
});

const REPLIES: Record<string, Reply> = {
  one: vector([{ metric: {}, value: [1700000000, '0.25'] }]),
  empty: vector([]),
  nan: vector([{ metric: {}, value: [1700000000, 'NaN'] }]),
  inf: vector([{ metric: {}, value: [1700000000, '+Inf'] }]),
  two: vector([
    { metric: { operation: 'pull' }, value: [1700000000, '1'] },
    { metric: { operation: 'push' }, value: [1700000000, '2'] },
  ]),
  scalar: { status: 200, body: { status: 'success', data: { resultType: 'scalar', result: [1700000000, '42'] } } },
  bad: promError(400, 'bad_data', 'invalid parameter "query": 1:5: parse error: unexpected'),
  exec: promError(422, 'execution', 'many-to-many matching not allowed'),
  slowprom: promError(503, 'timeout', 'query timed out in expression evaluation'),
  internal: promError(500, 'internal', 'boom'),
  proxy: { status: 502, body: null, raw: '<html>Bad Gateway</html>' },
  unauth: { status: 401, body: null, raw: 'Unauthorized' },
  hang: { ...vector([]), delayMs: 2_000 },
  weird: {
    status: 200,
    body: { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: 'x' }] } },
  },
};

let server: Server;
let url: string;
const received: Record<string, string>[] = [];

function handler(req: IncomingMessage, res: ServerResponse): void {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    const params = Object.fromEntries(new URLSearchParams(body));
    received.push({ path: req.url ?? '', ...params });
    let reply = REPLIES[params.query ?? ''];
    if (req.url === '/api/v1/query_range' && params.query === 'range') {
      reply = {
        status: 200,
        body: {
          status: 'success',
          data: {
            resultType: 'matrix',
            result: [
              {
                metric: {},
                values: [
                  [1700003600, '1'],
                  [1700007200, 'NaN'],
                  [1700010800, '3.5'],
                ],
              },
            ],
          },
        },
      };
    }
    reply ??= promError(400, 'bad_data', `unknown test query ${params.query}`);
    const send = (): void => {
      if (res.destroyed) return;
      res.writeHead(reply.status, { 'content-type': reply.raw ? 'text/html' : 'application/json' });
      res.end(reply.raw ?? JSON.stringify(reply.body));
    };
    if (reply.delayMs) setTimeout(send, reply.delayMs).unref();
    else send();
  });
}

beforeAll(async () => {
  server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

async function rejectsWith(
  p: Promise<unknown>,
  type: string,
  retryable: boolean,
  category?: string,
): Promise<DomainError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof DomainError, `expected DomainError, got ${String(e)}`);
    assert.equal(e.type, type);
    assert.equal(e.retryable, retryable);
    if (category) assert.equal(e.category, category);
    return e;
  }
  assert.fail('expected a rejection');
}

describe('PromClient: results', () => {
  test('an instant vector is parsed; string values become numbers', async () => {
    const c = new PromClient({ url });
    const r = await c.query('one', 1700000000);
    assert.equal(r.resultType, 'vector');
    assert.deepEqual(r.series, [{ metric: {}, sample: { t: 1700000000, value: 0.25 } }]);
    const sent = received[received.length - 1];
    assert.equal(sent.path, '/api/v1/query');
    assert.equal(sent.time, '1700000000');
    assert.equal(sent.timeout, '10s');
  });

  test('an empty result is explicit no data, never 0', async () => {
    const c = new PromClient({ url });
    assert.deepEqual(await c.queryScalar('empty'), { kind: 'nodata', reason: 'empty' });
    assert.deepEqual((await c.query('empty')).series, []);
  });

  test('NaN (0/0) is no data; +Inf stays a value', async () => {
    const c = new PromClient({ url });
    assert.deepEqual(await c.queryScalar('nan'), { kind: 'nodata', reason: 'nan' });
    const inf = await c.queryScalar('inf');
    assert.equal(inf.kind, 'value');
    assert.equal(inf.kind === 'value' && inf.value, Number.POSITIVE_INFINITY);
  });

  test('a scalar result is read as one value', async () => {
    const c = new PromClient({ url });
    const s = await c.queryScalar('scalar');
    assert.deepEqual(s, { kind: 'value', value: 42, t: 1700000000 });
  });

  test('queryScalar refuses a query that returns several series', async () => {
    const c = new PromClient({ url });
    await rejectsWith(c.queryScalar('two'), ErrorType.PromBadQuery, false);
    assert.equal((await c.query('two')).series.length, 2);
  });

  test('a range query sends start/end/step and parses the matrix, NaN kept as NaN', async () => {
    const c = new PromClient({ url });
    const r = await c.queryRange('range', 1700000000, 1700010800, 3600);
    const sent = received[received.length - 1];
    assert.deepEqual(
      [sent.path, sent.start, sent.end, sent.step],
      ['/api/v1/query_range', '1700000000', '1700010800', '3600'],
    );
    assert.equal(r.series.length, 1);
    const vals = r.series[0].samples.map((s) => s.value);
    assert.equal(vals[0], 1);
    assert.ok(Number.isNaN(vals[1]));
    assert.equal(vals[2], 3.5);
  });

  test('a range query over 11,000 points is refused before it is sent', async () => {
    const c = new PromClient({ url });
    await rejectsWith(c.queryRange('range', 0, 11_000, 1), ErrorType.PromBadQuery, false);
    assert.equal(c.queriesIssued, 0);
  });

  test('queriesIssued counts every request, failed ones included', async () => {
    const c = new PromClient({ url });
    await c.query('one');
    await c.queryRange('range', 1700000000, 1700010800, 3600);
    await c.query('bad').catch(() => undefined);
    assert.equal(c.queriesIssued, 3);
  });
});

describe('PromClient: errors', () => {
  test("HTTP 400 bad_data → PromBadQuery, not retryable, with Prometheus' message", async () => {
    const e = await rejectsWith(new PromClient({ url }).query('bad'), ErrorType.PromBadQuery, false);
    assert.match(e.message, /parse error/);
    assert.equal(e.details.errorType, 'bad_data');
  });

  test('HTTP 422 execution → PromBadQuery, not retryable', async () => {
    await rejectsWith(new PromClient({ url }).query('exec'), ErrorType.PromBadQuery, false);
  });

  test('HTTP 503 timeout → PromUnavailable, retryable, category timeout', async () => {
    await rejectsWith(new PromClient({ url }).query('slowprom'), ErrorType.PromUnavailable, true, 'timeout');
  });

  test('HTTP 500 → PromUnavailable, retryable', async () => {
    await rejectsWith(new PromClient({ url }).query('internal'), ErrorType.PromUnavailable, true);
  });

  test('a non-JSON 502 from a proxy → PromUnavailable, retryable', async () => {
    await rejectsWith(new PromClient({ url }).query('proxy'), ErrorType.PromUnavailable, true);
  });

  test('HTTP 401 → PromUnavailable with category auth, not retryable', async () => {
    await rejectsWith(new PromClient({ url }).query('unauth'), ErrorType.PromUnavailable, false, 'auth');
  });

  test('a body that does not match the API shape is not silently accepted', async () => {
    await rejectsWith(new PromClient({ url }).query('weird'), ErrorType.PromUnavailable, false);
  });

  test('no answer within the per-call timeout → PromUnavailable, retryable, category timeout', async () => {
    const c = new PromClient({ url, timeoutMs: 5_000 });
    const t0 = Date.now();
    await rejectsWith(c.query('hang', undefined, { timeoutMs: 200 }), ErrorType.PromUnavailable, true, 'timeout');
    assert.ok(Date.now() - t0 < 1_500, 'gave up after the per-call timeout');
  });

  test('an unreachable Prometheus → PromUnavailable, retryable, category network; credentials not echoed', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const e = await rejectsWith(
      new PromClient({ url: `http://user:s3cret@127.0.0.1:${port}` }).query('one'),
      ErrorType.PromUnavailable,
      true,
      'network',
    );
    assert.doesNotMatch(e.message, /s3cret/);
  });
});

describe('query helpers', () => {
  test('substituteQuery fills $window and refuses a placeholder left without a value', () => {
    assert.equal(substituteQuery('sum(rate(x[$window]))', { window: '1h' }), 'sum(rate(x[1h]))');
    assert.throws(
      () => substituteQuery('rate(x[$windwo])', { window: '1h' }),
      (e: unknown) => e instanceof DomainError && e.type === ErrorType.PromBadQuery && !e.retryable,
    );
  });

  test('namedQuery looks up a query and fails loudly for an unknown name', () => {
    assert.equal(namedQuery({ 'a.b': 'x[$window]' }, 'a.b', { window: '5m' }), 'x[5m]');
    assert.throws(() => namedQuery({}, 'nope', {}), /no query named nope/);
  });

  test('promDuration picks the largest whole unit', () => {
    assert.deepEqual([86_400, 3_600, 7_200, 300, 90, 604_800].map(promDuration), ['1d', '1h', '2h', '5m', '90s', '7d']);
    assert.throws(() => promDuration(0));
    assert.throws(() => promDuration(1.5));
  });

  test('parsePromValue reads Prometheus number strings', () => {
    assert.equal(parsePromValue('1e3'), 1000);
    assert.equal(parsePromValue('-Inf'), Number.NEGATIVE_INFINITY);
    assert.ok(Number.isNaN(parsePromValue('NaN')));
  });
});
