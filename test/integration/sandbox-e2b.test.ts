/**
 * The `e2b` provider through the real `e2b` SDK: the shared contract suite against E2B's own
 * daemon (envd) behind the E2B stand-in on every run, against E2B itself when E2B_API_KEY is set
 * (the one allowed skip: E2B cannot be reached without credentials), and the provider's
 * E2B-specific behaviour (issue 15) against the stand-in.
 */
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Sandbox as E2bSandbox } from '@e2b/code-interpreter';
import { createE2bProvider } from '../../lib/sandbox/e2b.js';
import { createProvider } from '../../lib/sandbox/index.js';
import { configSchema } from '../../lib/config/schema.js';
import { ErrorType, isDomainError, type DomainError } from '../../lib/errors.js';
import type { Sandbox } from '../../lib/sandbox/types.js';
import { cloneWorkspace, CLONE_TIMEOUT_MS } from '../../lib/git/index.js';
import { runSandboxContract } from '../contract/sandbox-contract.js';
import { startTestStandin, type TestStandin } from '../contract/e2b-standin.js';

runSandboxContract(
  "e2b (real SDK, E2B's envd behind the stand-in)",
  async () => {
    const st = await startTestStandin();
    return { provider: st.provider(), cleanup: () => st.close() };
  },
  { ttlMs: 1000, ttlSlackMs: 1500 },
);

const apiKey = process.env.E2B_API_KEY;
if (apiKey) {
  runSandboxContract(
    'e2b (E2B itself)',
    () => ({
      provider: createE2bProvider({
        apiKey,
        template: process.env.E2B_TEMPLATE ?? 'code-interpreter-v1',
        defaultTimeoutMs: 300_000,
      }),
    }),
    { ttlMs: 10_000, ttlSlackMs: 10_000 },
  );
} else {
  // reported as skipped, with the reason in its name
  test.skip('sandbox contract: e2b (E2B itself) (E2B_API_KEY not set)', () => undefined);
}

function is(type: string, extra: (e: DomainError) => boolean = () => true) {
  return (e: unknown): boolean => {
    if (!isDomainError(e) || e.type !== type || !extra(e)) {
      throw new Error(`expected DomainError ${type}, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
    }
    return true;
  };
}

describe('e2b provider against the stand-in', () => {
  let st: TestStandin;
  const made: Sandbox[] = [];

  beforeAll(async () => {
    st = await startTestStandin();
  });

  afterAll(async () => {
    for (const s of made) await s.kill().catch(() => undefined);
    await st?.close();
  });

  async function create(
    p = st.provider(),
    opts: Parameters<ReturnType<TestStandin['provider']>['create']>[0] = {},
  ): Promise<Sandbox> {
    const s = await p.create({ timeoutMs: 120_000, ...opts });
    made.push(s);
    return s;
  }

  // item 1
  test("a timed-out command's whole process group dies — envd alone would kill only its direct child", async () => {
    const sb = await create();
    await assert.rejects(
      sb.run(['sh', '-c', 'sleep 30 & echo $! > bg.pid; (sleep 31; echo late > late.txt) & wait'], { timeoutMs: 700 }),
      is(ErrorType.Timeout),
    );
    await sleep(300);
    const ps = await sb.run([
      'sh',
      '-c',
      'ps -u "$(id -u)" -o stat=,args= | grep -v "^Z" | grep -c "sleep 3[01]" || true',
    ]);
    assert.equal(ps.stdout.trim(), '0', 'a background sleep survived the timeout');
    const user = st.sandboxes().find((s) => s.id === sb.id)?.user;
    assert.ok(user, 'the stand-in runs the sandbox as its own user');
  });

  // item 2
  test('an explicit command timeout beyond the provider default is honoured; clone passes its own long one', async () => {
    const p = st.provider({ commandTimeoutMs: 1000 });
    const sb = await create(p);
    await assert.rejects(sb.run(['sleep', '2']), is(ErrorType.Timeout));
    assert.equal((await sb.run(['sleep', '2'], { timeoutMs: 10_000 })).exitCode, 0);

    // a real clone through envd, recording the options each command was given
    const seen: { argv: string[]; timeoutMs?: number }[] = [];
    const spy: Sandbox = {
      ...sb,
      run: (argv, o) => {
        seen.push({ argv, timeoutMs: o?.timeoutMs });
        return sb.run(argv, o);
      },
    };
    const init = await sb.run(
      [
        'sh',
        '-c',
        [
          'set -e',
          'git init -q --bare -b main origin.git',
          'git init -q -b main seed',
          'cd seed',
          'git -c user.name=t -c user.email=t@t commit -q --allow-empty -m first',
          'git push -q ../origin.git main',
        ].join('\n'),
      ],
      { timeoutMs: 30_000 },
    );
    assert.equal(init.exitCode, 0, init.stderr);
    await cloneWorkspace(spy, {
      repoUrl: `file://${sb.home}/origin.git`,
      baseBranch: 'main',
      agentBranch: 'agent/a/t',
      dir: 'ws/clone',
      author: { name: 'a', email: 'a@a' },
    });
    const clone = seen.find((c) => c.argv.includes('clone'));
    assert.equal(clone?.timeoutMs, CLONE_TIMEOUT_MS);
    assert.equal(
      (await sb.run(['git', 'rev-parse', '--abbrev-ref', 'HEAD'], { cwd: 'ws/clone' })).stdout.trim(),
      'agent/a/t',
    );
  });

  test('file transfers are bounded by transferTimeoutMs, not by the request timeout', async () => {
    const slow = st.provider({ requestTimeoutMs: 1000 });
    const sb = await create(slow);
    st.setFaults({ filesLatencyMs: 1500 });
    try {
      await sb.writeFile('slow.txt', 'arrived');
      assert.equal(await sb.readFile('slow.txt'), 'arrived');
      const tight = await st.provider({ transferTimeoutMs: 500 }).connect(sb.id);
      await assert.rejects(tight.readFile('slow.txt'), is(ErrorType.Timeout));
    } finally {
      st.setFaults({});
    }
  });

  // item 4
  test('connect neither extends nor resumes a sandbox; kill by id does not connect', async () => {
    const p = st.provider();
    const sb = await create(p, { timeoutMs: 20_000 });
    const endBefore =
      st
        .sandboxes()
        .find((s) => s.id === sb.id)
        ?.endAt.getTime() ?? 0;
    const again = await p.connect(sb.id);
    assert.equal((await again.run(['true'])).exitCode, 0);
    const endAfter =
      st
        .sandboxes()
        .find((s) => s.id === sb.id)
        ?.endAt.getTime() ?? 0;
    // a plain SDK connect would have moved the end to now + 300 s
    assert.equal(endAfter, endBefore);

    const paused = await create(p);
    st.pause(paused.id);
    await assert.rejects(
      p.connect(paused.id),
      is(ErrorType.SandboxGone, (e) => /paused/.test(e.message)),
    );
    assert.equal(st.sandboxes().find((s) => s.id === paused.id)?.state, 'paused', 'connect resumed it');

    const connects = st.requestCounts().connect;
    assert.equal(await p.kill(paused.id), true);
    assert.equal(st.requestCounts().connect, connects);
    assert.equal(
      st.sandboxes().some((s) => s.id === paused.id),
      false,
    );
  });

  // item 7
  test('errors are classified: auth, forbidden, rate limit, busy, conflict, bad template, bad timeout', async () => {
    const p = st.provider();
    await assert.rejects(
      st.provider({ apiKey: 'e2b_wrong_key_000000' }).create(),
      is(ErrorType.Auth, (e) => !e.message.includes('e2b_wrong_key')),
    );
    const cases: [number, string][] = [
      [403, ErrorType.Forbidden],
      [429, ErrorType.RateLimit],
      [503, ErrorType.Unavailable],
      [409, ErrorType.Unavailable],
      [500, ErrorType.Unavailable],
    ];
    for (const [status, type] of cases) {
      st.setFaults({ apiErrors: [{ status, count: 1, route: 'list' }] });
      await assert.rejects(p.list(), is(type), String(status));
    }
    st.setFaults({});
    // a template typo is a configuration error, not a vanished sandbox
    await assert.rejects(
      st.provider({ template: 'no-such-template' }).create(),
      is(ErrorType.Validation, (e) => e.details.field === 'sandbox.template'),
    );
    // beyond the plan's maximum lifetime
    await assert.rejects(p.create({ timeoutMs: 2 * 3_600_000 }), is(ErrorType.Validation));
  });

  test('a sandbox that is gone — before a call or killed under a running command — is SandboxGone, not Timeout', async () => {
    const p = st.provider();
    const a = await create(p);
    await st.kill(a.id);
    await assert.rejects(a.run(['true']), is(ErrorType.SandboxGone));
    await assert.rejects(a.readFile('x'), is(ErrorType.SandboxGone));
    await assert.rejects(a.setTimeout(60_000), is(ErrorType.SandboxGone));
    await assert.rejects(p.connect(a.id), is(ErrorType.SandboxGone));

    const b = await create(p);
    const running = b.run(['sleep', '30']).then(
      () => null,
      (e: unknown) => e,
    );
    await sleep(500);
    await st.kill(b.id);
    assert.ok(is(ErrorType.SandboxGone)(await running));
  });

  test('a connection dropped mid-command (sandbox alive) is Network/inFlight and the command is killed', async () => {
    const sb = await create();
    st.setFaults({ resetStreams: { count: 1, afterMs: 300 } });
    try {
      await assert.rejects(
        sb.run(['sh', '-c', 'sleep 2; echo ran > reset-out.txt']),
        is(ErrorType.Network, (e) => e.details.inFlight === true),
      );
    } finally {
      st.setFaults({});
    }
    await sleep(2500);
    const r = await sb.run(['sh', '-c', 'test -e reset-out.txt && echo present || echo absent']);
    assert.equal(r.stdout.trim(), 'absent', 'the orphaned command kept running after the drop');
  });

  // item 8 (the pool's part is in sandbox-e2b-pool.test.ts)
  test('setTimeout reports the end the plan cap allows, not the one asked for', async () => {
    const capped = await startTestStandin({ maxLifetimeMs: 8_000 });
    try {
      const sb = await capped.provider().create({ timeoutMs: 5_000 });
      const end = await sb.setTimeout(60_000);
      const started = capped.sandboxes()[0].startedAt.getTime();
      assert.ok(Math.abs(end.getTime() - (started + 8_000)) < 1_000, `end ${end.toISOString()}`);
      await sb.kill();
    } finally {
      await capped.close();
    }
  });

  // item 10
  test('host E2B_DEBUG / E2B_API_URL / E2B_DOMAIN / E2B_SANDBOX_URL do not redirect a configured provider', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      E2B_DEBUG: 'true',
      E2B_API_URL: 'http://127.0.0.1:9',
      E2B_DOMAIN: 'invalid.example',
      E2B_SANDBOX_URL: 'http://127.0.0.1:9',
    });
    try {
      const sb = await create(st.provider({ env: process.env }));
      assert.equal((await sb.run(['echo', 'ok'])).stdout, 'ok\n');
      assert.ok((await st.provider().list()).some((i) => i.id === sb.id));
      // without a configured sandboxUrl, a host E2B_SANDBOX_URL is refused for a self-hosted domain
      assert.throws(
        () =>
          createE2bProvider({
            apiKey: 'k',
            template: 't',
            defaultTimeoutMs: 1000,
            domain: 'self.example',
            env: process.env,
          }),
        is(ErrorType.Validation, (e) => /sandboxUrl/.test(e.message)),
      );
    } finally {
      for (const k of ['E2B_DEBUG', 'E2B_API_URL', 'E2B_DOMAIN', 'E2B_SANDBOX_URL']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });

  test('create backs off and retries on 429/503 (E2B sends no Retry-After for its creation rate)', async () => {
    let rateLimited = 0;
    const p = st.provider({
      createRetry: { attempts: 5, baseMs: 100, maxMs: 400 },
      onRateLimited: () => {
        rateLimited++;
      },
    });
    st.setFaults({
      apiErrors: [
        { status: 429, count: 2, route: 'create' },
        { status: 503, count: 1, route: 'create' },
      ],
    });
    try {
      const sb = await create(p);
      assert.equal((await sb.run(['true'])).exitCode, 0);
      // every 429 is counted (seed 000 week 2 reads them), also the ones the backoff absorbed; a 503 is not a rate limit
      assert.equal(rateLimited, 2);
    } finally {
      st.setFaults({});
    }
    st.setFaults({ apiErrors: [{ status: 429, count: 10, route: 'create' }] });
    try {
      await assert.rejects(
        st.provider({ createRetry: { attempts: 3, baseMs: 50, maxMs: 100 } }).create(),
        is(ErrorType.RateLimit),
      );
    } finally {
      st.setFaults({});
    }
  });

  test('the pricing hook prices the vCPUs and memory the sandbox reports', async () => {
    const p = st.provider({ pricing: { vcpuSecond: 0.000014, gibSecond: 0.0000045 } });
    const sb = await create(p, { metadata: { role: 'priced' } });
    const [info] = await p.list({ metadata: { role: 'priced' } });
    assert.equal(info.id, sb.id);
    assert.equal(info.cpuCount, 2);
    assert.equal(info.memoryMB, 512);
    assert.ok(Math.abs(p.costPerSecond(info) - (2 * 0.000014 + 0.5 * 0.0000045)) < 1e-12);
    assert.ok(Math.abs(p.costPerSecond({ cpuCount: 8, memoryMB: 4096 }) - (8 * 0.000014 + 4 * 0.0000045)) < 1e-12);
  });

  test("the SDK's own Sandbox.list paging (x-next-token) reaches every sandbox; list filters by owner", async () => {
    const p = st.provider();
    const mine = await Promise.all([1, 2, 3].map(() => create(p, { metadata: { role: 'paged' } })));
    const other = await create(st.provider({ owner: 'someone-else' }), { metadata: { role: 'paged' } });
    const ids: string[] = [];
    // apiUrl is an SDK option its list() types leave out (they mark it internal)
    const listOpts = {
      apiKey: st.apiKey,
      apiUrl: st.apiUrl,
      debug: false,
      limit: 2,
      query: { metadata: { role: 'paged' } },
    };
    const pager = E2bSandbox.list(listOpts as Parameters<typeof E2bSandbox.list>[0]);
    let pages = 0;
    while (pager.hasNext) {
      ids.push(...(await pager.nextItems()).map((s) => s.sandboxId));
      pages++;
    }
    assert.equal(pages, 2);
    assert.deepEqual(ids.sort(), [...mine.map((s) => s.id), other.id].sort());
    assert.deepEqual(
      (await p.list({ metadata: { role: 'paged' } })).map((i) => i.id).sort(),
      mine.map((s) => s.id).sort(),
    );
  });

  test('createProvider builds e2b from config: apiUrl/sandboxUrl, owner and plan cap', async () => {
    const cfg = configSchema.parse({
      sandbox: {
        provider: 'e2b',
        template: 'base',
        e2b: { apiUrl: st.apiUrl, sandboxUrl: st.sandboxUrl, owner: 'from-config', maxLifetimeMs: 7_200_000 },
      },
    }).sandbox;
    const p = createProvider(cfg, { env: { E2B_API_KEY: st.apiKey } });
    assert.equal(p.maxLifetimeMs, 7_200_000);
    const sb = await p.create({ timeoutMs: 60_000 });
    made.push(sb);
    assert.equal(sb.metadata.sgcOwner, 'from-config');
    assert.ok((await p.list()).some((i) => i.id === sb.id));
    assert.throws(() => configSchema.parse({ sandbox: { commandTimeoutMs: 0 } }), /commandTimeoutMs/);
  });
});
