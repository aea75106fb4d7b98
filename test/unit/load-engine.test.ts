import { afterAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  runLoad,
  startLoad,
  defaultGitMix,
  loadWindowValues,
  mergeLatencyHistograms,
  type RequestSpec,
} from '../../lib/load/engine.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const servers: Server[] = [];
afterAll(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

async function serve(handler: Handler): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const GET: RequestSpec[] = [{ name: 'ping', weight: 1, request: { method: 'GET', path: '/ping' } }];

test('holds 50 req/s within ±5% over 3 s and counts every response', async () => {
  const { url } = await serve((_req, res) => {
    setTimeout(() => res.end('ok'), 2);
  });
  const r = await runLoad({ target: url, rps: 50, connections: 5, durationMs: 3000, mix: GET });
  assert.equal(r.stopReason, 'completed');
  assert.equal(r.scheduled, 150);
  assert.equal(r.sent, 150);
  assert.equal(r.status['2xx'], 150);
  assert.ok(Math.abs(r.achievedRps - 50) <= 2.5, `achieved ${r.achievedRps}`);
  assert.ok(r.latencyMs.p50 !== null && r.latencyMs.p50 >= 2, `p50 ${r.latencyMs.p50}`);
});

test('spreads requests evenly over time instead of bursting at each second', async () => {
  const arrivals: number[] = [];
  const { url } = await serve((_req, res) => {
    arrivals.push(performance.now());
    res.end();
  });
  const t0 = performance.now();
  await runLoad({ target: url, rps: 40, connections: 4, durationMs: 1000, mix: GET });
  assert.equal(arrivals.length, 40);
  // request i is due 25 ms × i after the start. A burst at each second would send the second's
  // requests at its start, far ahead of their schedule; a loaded machine only makes them late
  // (the engine then catches up), so no request may arrive before it was due.
  const early = arrivals.map((t, i) => t - t0 - i * 25).filter((lead) => lead < 0);
  assert.deepEqual(early, [], 'requests that arrived before they were due (ms from their schedule)');
});

test('measures latency from the scheduled start when the server stalls (coordinated omission)', async () => {
  let first = true;
  const { url } = await serve((_req, res) => {
    if (first) {
      first = false;
      setTimeout(() => res.end(), 500);
      return;
    }
    res.end();
  });
  // one connection and one request in flight: requests due during the stall wait in the engine
  const r = await runLoad({ target: url, rps: 50, connections: 1, maxInFlight: 1, durationMs: 1500, mix: GET });
  assert.equal(r.sent, 75, 'the open loop catches up after the stall');
  assert.equal(r.status['2xx'], 75);
  // ~25 requests were due during the stall; measured from their schedule they waited up to ~480 ms.
  // Measured from when they were finally sent, all but the first would be ~1 ms and P90 tiny.
  assert.ok(r.latencyMs.p90 !== null && r.latencyMs.p90 >= 200, `p90 ${r.latencyMs.p90}`);
  assert.ok(r.latencyMs.max !== null && r.latencyMs.max >= 450, `max ${r.latencyMs.max}`);
});

test('abort stops at once: in-flight requests are cut, not waited for, and no new ones are sent', async () => {
  let received = 0;
  const { url } = await serve((_req) => {
    received++; /* never answers */
  });
  const ac = new AbortController();
  // the server never answers: a run that waited for what is in flight would end at these timeouts
  const timeouts = { requestTimeoutMs: 60_000, drainTimeoutMs: 60_000 };
  const run = runLoad({
    target: url,
    rps: 100,
    connections: 10,
    durationMs: 10_000,
    mix: GET,
    signal: ac.signal,
    ...timeouts,
  });
  await new Promise((r) => setTimeout(r, 400));
  const t = performance.now();
  ac.abort();
  const result = await run;
  const took = performance.now() - t;
  // how fast is the bench's business (breaker: trip_latency_s); a few ms here on a quiet machine,
  // and seen at 627 ms when the whole suite loads the 2 cores — so the bound only proves "not waited for"
  assert.ok(took < 5_000, `took ${took} ms`);
  assert.equal(result.stopReason, 'aborted');
  assert.ok(result.abandoned > 0);
  assert.ok(result.dropped > 900, `dropped ${result.dropped}`);
  const seen = received;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(received, seen, 'no request reached the server after the abort');
});

test('an already-aborted signal sends nothing', async () => {
  let received = 0;
  const { url } = await serve((_req, res) => {
    received++;
    res.end();
  });
  const r = await runLoad({
    target: url,
    rps: 100,
    connections: 2,
    durationMs: 1000,
    mix: GET,
    signal: AbortSignal.abort(),
  });
  assert.equal(r.sent, 0);
  assert.equal(r.stopReason, 'aborted');
  assert.equal(received, 0);
});

test('sends the Authorization header but never puts it in results, progress or errors', async () => {
  const secret = 'Bearer sgc-super-secret-token-1234567890';
  const seen: string[] = [];
  const { url } = await serve((req, res) => {
    seen.push(String(req.headers.authorization));
    // echo it back and fail sometimes, as a careless server might
    res.statusCode = seen.length % 3 === 0 ? 500 : seen.length % 3 === 1 ? 401 : 200;
    res.setHeader('x-echo', String(req.headers.authorization));
    res.end(String(req.headers.authorization));
  });
  const progress: string[] = [];
  const run = startLoad({
    target: url.replace('http://', 'http://user:pw@') + '/?token=abc',
    rps: 50,
    connections: 2,
    durationMs: 1200,
    mix: GET,
    headers: { Authorization: secret },
    progressIntervalMs: 300,
    onProgress: (s) => progress.push(JSON.stringify(s)),
  });
  const windowed = run.takeWindow();
  const result = await run.done;
  assert.ok(seen.length > 0 && seen.every((h) => h === secret), 'the server received the header');
  assert.ok(result.status['4xx'] > 0 && result.status['5xx'] > 0);
  // a refused connection produces errors too
  const closed = await serve(() => undefined);
  const port = (closed.server.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.server.close(() => r()));
  const refused = await runLoad({
    target: `http://127.0.0.1:${port}`,
    rps: 20,
    connections: 1,
    durationMs: 300,
    mix: GET,
    headers: { Authorization: secret },
  });
  assert.ok(refused.status.errors > 0);
  assert.ok(Object.keys(refused.errorCodes).length > 0);
  const invalid = await runLoad({
    target: `not a url ${secret}`,
    rps: 1,
    connections: 1,
    durationMs: 10,
    mix: GET,
    headers: { Authorization: secret },
  }).then(
    () => assert.fail('should reject'),
    (e: Error) => e,
  );
  for (const text of [
    JSON.stringify(result),
    JSON.stringify(windowed),
    JSON.stringify(refused),
    progress.join('\n'),
    String(invalid),
    invalid.stack ?? '',
  ]) {
    assert.ok(!text.includes('super-secret'), 'token leaked');
    assert.ok(!text.includes('pw@') && !text.includes('token=abc'), 'URL credentials leaked');
  }
  assert.ok(progress.length >= 2, 'progress is reported periodically');
});

test('takeWindow returns the last window only, not the run so far', async () => {
  let fail = true;
  const { url } = await serve((_req, res) => {
    res.statusCode = fail ? 500 : 200;
    res.end();
  });
  const run = startLoad({ target: url, rps: 50, connections: 2, durationMs: 1600, mix: GET });
  await new Promise((r) => setTimeout(r, 700));
  const w1 = run.takeWindow();
  fail = false;
  await new Promise((r) => setTimeout(r, 100)); // let in-flight failures land in window 1's successor
  run.takeWindow();
  await new Promise((r) => setTimeout(r, 600));
  const w3 = run.takeWindow();
  const total = await run.done;
  assert.ok(w1.status['5xx'] > 20 && w1.status['2xx'] === 0, JSON.stringify(w1.status));
  assert.equal(w3.status['5xx'], 0);
  assert.ok(w3.status['2xx'] > 20);
  assert.equal(loadWindowValues(w3).error_rate, 0);
  assert.ok(total.status['5xx'] >= w1.status['5xx'], 'the cumulative result still has them');
});

test('weights and dynamic specs: the git mix alternates write and commit on the same workspace', async () => {
  const hits: { method: string; url: string; body: string }[] = [];
  const { url } = await serve((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      hits.push({ method: req.method!, url: req.url!, body });
      res.end('{}');
    });
  });
  const mix = defaultGitMix({ workspaceIds: ['ws-a', 'ws-b'], runTag: 'run 1' });
  const r = await runLoad({ target: `${url}/prefix`, rps: 100, connections: 4, durationMs: 1000, mix });
  assert.equal(hits.length, 100);
  assert.ok(
    hits.every((h) => h.url.startsWith('/prefix/v1/workspaces/ws-')),
    'base path kept',
  );
  const count = (re: RegExp, method: string) => hits.filter((h) => h.method === method && re.test(h.url)).length;
  assert.equal(count(/\/status$/, 'GET'), 40);
  assert.equal(count(/\/diff$/, 'GET'), 30);
  assert.equal(count(/\/files\/load\/run-1-\d+\.txt$/, 'PUT'), 15);
  assert.equal(count(/\/commits$/, 'POST'), 15);
  assert.deepEqual(Object.keys(r.byKind).sort(), ['commit', 'diff', 'status', 'write']);
  const writes = hits.filter((h) => h.method === 'PUT').map((h) => h.url.split('/files/')[0]);
  const commits = hits.filter((h) => h.method === 'POST').map((h) => h.url.replace('/commits', ''));
  assert.deepEqual(commits, writes, 'each commit goes to the workspace just written');
  assert.ok(JSON.parse(hits.find((h) => h.method === 'PUT')!.body).content.length > 0);
});

test('a failing dynamic spec counts as an error without stopping the run', async () => {
  const { url } = await serve((_req, res) => res.end());
  const mix: RequestSpec[] = [
    { name: 'ok', weight: 1, request: { method: 'GET', path: '/' } },
    {
      name: 'bad',
      weight: 1,
      request: () => {
        throw new Error('boom');
      },
    },
  ];
  const r = await runLoad({ target: url, rps: 40, connections: 2, durationMs: 500, mix });
  assert.equal(r.status['2xx'], 10);
  assert.equal(r.status.errors, 10);
  assert.deepEqual(r.errorCodes, { SPEC_ERROR: 10 });
});

test('maxInFlight bounds concurrency and unsent requests at the end are reported as dropped', async () => {
  let open = 0;
  let peak = 0;
  const { url } = await serve((_req, res) => {
    open++;
    peak = Math.max(peak, open);
    setTimeout(() => {
      open--;
      res.end();
    }, 300);
  });
  const r = await runLoad({ target: url, rps: 100, connections: 10, maxInFlight: 3, durationMs: 600, mix: GET });
  assert.ok(peak <= 3, `peak ${peak}`);
  assert.equal(r.sent + r.dropped, r.scheduled);
  assert.ok(r.dropped > 40, `dropped ${r.dropped}`);
});

test('a response cut off mid-body counts as an error, not a success', async () => {
  const { url } = await serve((req, res) => {
    res.writeHead(200, { 'content-length': '1000' });
    res.write('partial');
    setTimeout(() => req.socket.destroy(), 5);
  });
  const r = await runLoad({ target: url, rps: 20, connections: 2, durationMs: 500, mix: GET });
  assert.equal(r.status['2xx'], 0);
  assert.equal(r.status.errors, 10);
  assert.equal(r.latencyMs.count, 0);
});

test("windows merge into the percentiles of all their requests, not the mean of each window's percentiles", async () => {
  // one fast window (2 ms) and one slow window (60 ms) with 3× as many requests
  const fast = await serve((_req, res) => {
    setTimeout(() => res.end('ok'), 2);
  });
  const slow = await serve((_req, res) => {
    setTimeout(() => res.end('ok'), 60);
  });
  const a = await runLoad({ target: fast.url, rps: 50, connections: 5, durationMs: 1000, mix: GET });
  const b = await runLoad({ target: slow.url, rps: 50, connections: 5, durationMs: 3000, mix: GET });
  const merged = mergeLatencyHistograms([a.latencyHistogram, b.latencyHistogram]);
  assert.equal(merged.count, a.latencyMs.count + b.latencyMs.count);
  // 75 % of the requests are slow: the merged P50 and P95 are the slow window's, whatever the mean says
  assert.ok(merged.p50 !== null && merged.p50 >= 55, `merged p50 ${merged.p50}`);
  const meanOfP50 = ((a.latencyMs.p50 ?? 0) + (b.latencyMs.p50 ?? 0)) / 2;
  assert.ok(meanOfP50 < merged.p50, `mean of window p50s ${meanOfP50} understates the merged ${merged.p50}`);
  assert.equal(mergeLatencyHistograms([]).count, 0);
});
