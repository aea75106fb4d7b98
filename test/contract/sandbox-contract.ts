/**
 * The sandbox provider contract (lib/sandbox/types.ts) as jest tests. Every provider runs
 * the same suite: `local` always; `e2b` through the real SDK against E2B's own daemon (envd)
 * behind the E2B stand-in always, and against E2B itself when E2B_API_KEY is set.
 */
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sandbox, SandboxProvider } from '../../lib/sandbox/types.js';
import { isDomainError, ErrorType } from '../../lib/errors.js';

export interface ContractTarget {
  provider: SandboxProvider;
  cleanup?: () => Promise<void>;
}

export interface ContractOptions {
  /** a short lifetime for the TTL tests (local: ~1 s; e2b: several seconds) */
  ttlMs?: number;
  /** extra wait after the TTL before expecting the sandbox gone */
  ttlSlackMs?: number;
}

const TRICKY = [
  '$(touch pwned)',
  '`touch pwned`',
  '; touch pwned',
  '; rm -rf ~',
  '&& touch pwned',
  '| touch pwned',
  'a\ntouch pwned\n',
  'it\'s "quoted"',
  '$HOME ${PATH}',
  '*',
  '> pwned',
  '\\',
  '',
];

export function runSandboxContract(
  name: string,
  makeProvider: () => Promise<ContractTarget> | ContractTarget,
  o: ContractOptions = {},
): void {
  const ttlMs = o.ttlMs ?? 1000;
  const ttlSlackMs = o.ttlSlackMs ?? 1500;

  describe(`sandbox contract: ${name}`, () => {
    let target: ContractTarget;
    let p: SandboxProvider;
    let sb: Sandbox;
    const suite = `contract-${randomBytes(4).toString('hex')}`;
    const created: Sandbox[] = [];

    async function create(
      extra: { metadata?: Record<string, string>; envs?: Record<string, string>; timeoutMs?: number } = {},
    ): Promise<Sandbox> {
      const s = await p.create({ timeoutMs: 120_000, ...extra, metadata: { suite, ...extra.metadata } });
      created.push(s);
      return s;
    }

    beforeAll(async () => {
      target = await makeProvider();
      p = target.provider;
      sb = await create({ metadata: { role: 'main' }, envs: { SGC_SANDBOX_VAR: 'from-create' } });
    });

    afterAll(async () => {
      for (const s of created) await s.kill().catch(() => undefined);
      await target?.cleanup?.();
    });

    test('create records provider, metadata, start time and an absolute home', () => {
      assert.equal(sb.provider, p.name);
      assert.equal(sb.metadata.suite, suite);
      assert.equal(sb.metadata.role, 'main');
      assert.ok(sb.home.startsWith('/'));
      assert.ok(Math.abs(sb.startedAt.getTime() - Date.now()) < 60_000);
      assert.ok(sb.id.length > 0);
    });

    test('run returns exit code, stdout and stderr (non-zero exit is returned, not thrown)', async () => {
      const r = await sb.run(['sh', '-c', 'echo out; echo err >&2; exit 3']);
      assert.deepEqual(r, { exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
      const ok = await sb.run(['echo', 'hello world']);
      assert.equal(ok.exitCode, 0);
      assert.equal(ok.stdout, 'hello world\n');
    });

    test('commands start in home by default, honour cwd (relative or absolute inside home), reject escapes', async () => {
      assert.equal((await sb.run(['pwd', '-P'])).stdout.trim().endsWith(sb.home.split('/').pop() as string), true);
      await sb.writeFile('cwd-test/sub/marker.txt', 'x');
      const rel = await sb.run(['ls'], { cwd: 'cwd-test/sub' });
      assert.equal(rel.stdout.trim(), 'marker.txt');
      const abs = await sb.run(['ls'], { cwd: `${sb.home}/cwd-test` });
      assert.equal(abs.stdout.trim(), 'sub');
      for (const bad of ['..', '../..', '/etc', 'cwd-test/../../x']) {
        await assert.rejects(sb.run(['pwd'], { cwd: bad }), (e) => isDomainError(e, ErrorType.Validation), bad);
      }
    });

    test('a cwd that is a symlink out of home, or missing, is rejected (Validation naming cwd)', async () => {
      await sb.run(['ln', '-s', '/etc', 'cwd-etc-link']);
      await assert.rejects(
        sb.run(['pwd'], { cwd: 'cwd-etc-link' }),
        (e) => isDomainError(e, ErrorType.Validation) && /cwd/.test(e.message) && /outside/.test(e.message),
      );
      await assert.rejects(
        sb.run(['pwd'], { cwd: 'no-such-dir' }),
        (e) => isDomainError(e, ErrorType.Validation) && /cwd/.test(e.message),
      );
    });

    test('timeouts must be positive: 0, negatives and NaN are rejected for run, create and setTimeout', async () => {
      for (const bad of [0, -1, Number.NaN]) {
        await assert.rejects(
          sb.run(['true'], { timeoutMs: bad }),
          (e) => isDomainError(e, ErrorType.Validation) && /timeoutMs/.test(e.message),
          `run ${bad}`,
        );
        await assert.rejects(
          p.create({ timeoutMs: bad, metadata: { suite } }),
          (e) => isDomainError(e, ErrorType.Validation),
          `create ${bad}`,
        );
        await assert.rejects(sb.setTimeout(bad), (e) => isDomainError(e, ErrorType.Validation), `setTimeout ${bad}`);
      }
      // nothing was created by the rejected calls
      assert.deepEqual(
        (await p.list({ metadata: { suite } })).filter((i) => !created.some((c) => c.id === i.id)),
        [],
      );
    });

    test('commands run in a plain shell: no login profiles, LANG=C.UTF-8 unless set', async () => {
      const profile = 'echo PROFILE-SOURCED; export SGC_PROFILE=sourced\n';
      for (const f of ['.profile', '.bash_profile', '.bash_login', '.bashrc']) await sb.writeFile(f, profile);
      const r = await sb.run(['sh', '-c', 'printf %s "${SGC_PROFILE-unset}|$LANG"']);
      assert.deepEqual(r, { exitCode: 0, stdout: 'unset|C.UTF-8', stderr: '' });
      const c = await sb.run(['sh', '-c', 'printf %s "$LANG"'], { envs: { LANG: 'C' } });
      assert.equal(c.stdout, 'C');
      // the shell's own POSIX-mode switch (how e2b skips profiles) must not reach the command
      assert.equal((await sb.run(['sh', '-c', 'printf %s "${POSIXLY_CORRECT-unset}"'])).stdout, 'unset');
      for (const f of ['.profile', '.bash_profile', '.bash_login', '.bashrc']) await sb.run(['rm', '-f', f]);
    });

    test('the home directory is private (mode 0700)', async () => {
      const r = await sb.run(['sh', '-c', 'stat -c %a "$HOME"']);
      assert.equal(r.stdout.trim(), '700');
      assert.equal((await sb.run(['sh', '-c', 'cd -P "$HOME" && pwd'])).stdout.trim(), sb.home);
    });

    test('a command killed by a signal exits 128+n (a result, not an error)', async () => {
      assert.equal((await sb.run(['sh', '-c', 'kill -TERM $$'])).exitCode, 143);
      assert.equal((await sb.run(['sh', '-c', 'kill -KILL $$'])).exitCode, 137);
    });

    test('environment: sandbox and per-command envs visible, parent env never', async () => {
      process.env.SGC_CONTRACT_PARENT_SECRET = 'parent-secret-value';
      try {
        const r = await sb.run(
          ['sh', '-c', 'printf "%s|%s|%s" "${SGC_CONTRACT_PARENT_SECRET-unset}" "$SGC_SANDBOX_VAR" "$SGC_CMD_VAR"'],
          { envs: { SGC_CMD_VAR: 'from-cmd' } },
        );
        assert.equal(r.stdout, 'unset|from-create|from-cmd');
        const env = await sb.run(['env']);
        assert.ok(!env.stdout.includes('parent-secret-value'));
      } finally {
        delete process.env.SGC_CONTRACT_PARENT_SECRET;
      }
      const over = await sb.run(['sh', '-c', 'printf %s "$SGC_SANDBOX_VAR"'], {
        envs: { SGC_SANDBOX_VAR: 'overridden' },
      });
      assert.equal(over.stdout, 'overridden');
    });

    test('shell metacharacters in argv are inert and arrive byte for byte', async () => {
      await sb.writeFile('canary.txt', 'still here');
      for (const s of TRICKY) {
        const r = await sb.run(['printf', '%s', s]);
        assert.equal(r.stdout, s, JSON.stringify(s));
        assert.equal(r.exitCode, 0);
      }
      const ls = await sb.run(['ls', '-A']);
      assert.ok(!ls.stdout.split('\n').includes('pwned'), 'an injected command ran');
      assert.equal(await sb.readFile('canary.txt'), 'still here');
    });

    test('stdin is fed to the command', async () => {
      const r = await sb.run(['cat'], { stdin: 'line 1\nline $(2) `3`\n' });
      assert.equal(r.stdout, 'line 1\nline $(2) `3`\n');
    });

    test('stdin goes straight to the command: large inputs arrive whole and no copy is left in /tmp', async () => {
      const marker = `sgc-stdin-marker-${randomBytes(8).toString('hex')}`;
      await sb.run(['sh', '-c', 'touch "$1"', 'sh', 'stdin-stamp']);
      const big = `${marker}\n${'x'.repeat(300_000)}\n`;
      const r = await sb.run(['wc', '-c'], { stdin: big });
      assert.equal(r.stdout.trim(), String(Buffer.byteLength(big)));
      // a command that never reads its input, and one that times out, leave nothing either
      assert.equal((await sb.run(['true'], { stdin: marker })).exitCode, 0);
      await assert.rejects(sb.run(['sleep', '30'], { stdin: marker, timeoutMs: 300 }), (e) =>
        isDomainError(e, ErrorType.Timeout),
      );
      const left = await sb.run([
        'sh',
        '-c',
        'find /tmp -maxdepth 2 -newer "$1" -type f 2>/dev/null | xargs -r grep -l -s -F "$2" 2>/dev/null; true',
        'sh',
        'stdin-stamp',
        marker,
      ]);
      assert.equal(left.stdout.trim(), '', `stdin was staged in: ${left.stdout}`);
    });

    test('writeFile/readFile round-trip text, create parents, accept absolute paths inside home', async () => {
      const content = 'ünïcødé ✓\n$(not run)\n\ttab\n';
      await sb.writeFile('files/deep/er/a.txt', content);
      assert.equal(await sb.readFile('files/deep/er/a.txt'), content);
      assert.equal(await sb.readFile(`${sb.home}/files/deep/er/a.txt`), content);
      assert.equal((await sb.run(['cat', 'files/deep/er/a.txt'])).stdout, content);
      await sb.writeFile('files/deep/er/a.txt', 'overwritten');
      assert.equal(await sb.readFile('files/deep/er/a.txt'), 'overwritten');
      await assert.rejects(sb.readFile('files/missing.txt'), (e) => isDomainError(e, ErrorType.NotFound));
    });

    test('file paths escaping home are rejected: "..", absolute outside, symlinks out', async () => {
      for (const bad of ['../escape.txt', 'a/../../escape.txt', '/etc/passwd', '/tmp/sgc-escape.txt']) {
        await assert.rejects(sb.writeFile(bad, 'x'), (e) => isDomainError(e, ErrorType.Validation), `write ${bad}`);
        await assert.rejects(sb.readFile(bad), (e) => isDomainError(e, ErrorType.Validation), `read ${bad}`);
      }
      const outside = `/tmp/sgc-outside-${randomBytes(4).toString('hex')}`;
      await sb.run(['ln', '-s', '/etc', 'etc-link']);
      await sb.run(['ln', '-s', outside, 'dangling-link']);
      await assert.rejects(
        sb.readFile('etc-link/passwd'),
        (e) => isDomainError(e, ErrorType.Validation),
        'read through symlink',
      );
      await assert.rejects(
        sb.writeFile('etc-link/sgc-x', 'x'),
        (e) => isDomainError(e, ErrorType.Validation),
        'write through symlink',
      );
      await assert.rejects(
        sb.writeFile('dangling-link', 'x'),
        (e) => isDomainError(e, ErrorType.Validation),
        'write to dangling symlink',
      );
      const check = await sb.run(['sh', '-c', 'test -e "$1" && echo exists || echo absent', 'sh', outside]);
      assert.equal(check.stdout.trim(), 'absent');
    });

    test('list filters by metadata', async () => {
      const a = await create({ metadata: { role: 'list-a' } });
      const b = await create({ metadata: { role: 'list-b' } });
      const all = (await p.list({ metadata: { suite } })).map((i) => i.id);
      assert.ok(all.includes(a.id) && all.includes(b.id) && all.includes(sb.id));
      const onlyA = await p.list({ metadata: { suite, role: 'list-a' } });
      assert.deepEqual(
        onlyA.map((i) => i.id),
        [a.id],
      );
      assert.equal(onlyA[0].metadata.role, 'list-a');
      assert.ok(onlyA[0].endAt.getTime() > Date.now());
      assert.deepEqual(await p.list({ metadata: { suite, role: 'nobody' } }), []);
      assert.ok((await p.running()) >= 3);
    });

    test('connect by id reaches the same sandbox; an unknown id is SandboxGone', async () => {
      await sb.writeFile('connect.txt', 'same sandbox');
      const again = await p.connect(sb.id);
      assert.equal(again.id, sb.id);
      assert.equal(again.metadata.suite, suite);
      assert.equal(again.home, sb.home);
      assert.equal(await again.readFile('connect.txt'), 'same sandbox');
      await assert.rejects(p.connect(`nonexistent${randomBytes(6).toString('hex')}`), (e) =>
        isDomainError(e, ErrorType.SandboxGone),
      );
    });

    test('the lifetime is enforced: an expired sandbox is gone', async () => {
      const short = await create({ timeoutMs: ttlMs });
      assert.equal((await short.run(['true'])).exitCode, 0);
      await sleep(ttlMs + ttlSlackMs);
      await assert.rejects(p.connect(short.id), (e) => isDomainError(e, ErrorType.SandboxGone));
      assert.ok(!(await p.list({ metadata: { suite } })).some((i) => i.id === short.id));
      assert.equal(await short.isHealthy(), false);
    });

    test('setTimeout extends the lifetime and returns the end the provider set', async () => {
      const s = await create({ timeoutMs: ttlMs });
      const want = ttlMs * 20 + 60_000;
      const end = await s.setTimeout(want);
      assert.ok(end instanceof Date);
      assert.ok(Math.abs(end.getTime() - (Date.now() + want)) < 10_000, `end ${end.toISOString()}`);
      await sleep(ttlMs + ttlSlackMs);
      const again = await p.connect(s.id);
      assert.equal((await again.run(['echo', 'alive'])).stdout, 'alive\n');
      const info = (await p.list({ metadata: { suite } })).find((i) => i.id === s.id);
      assert.ok(info && info.endAt.getTime() > Date.now() + ttlMs * 10);
    });

    test('info and kill by id work without a handle; an unknown id is gone', async () => {
      const s = await create({ metadata: { role: 'by-id' } });
      const info = await p.info(s.id);
      assert.equal(info.id, s.id);
      assert.equal(info.metadata.role, 'by-id');
      assert.ok(info.endAt.getTime() > Date.now());
      assert.equal(await p.kill(s.id), true);
      assert.equal(await p.kill(s.id), false);
      await assert.rejects(p.info(s.id), (e) => isDomainError(e, ErrorType.SandboxGone));
      assert.equal(await s.isHealthy(), false);
    });

    test('a command running while its sandbox is killed returns a result (killed), it does not throw', async () => {
      const s = await create({ metadata: { role: 'kill-during' } });
      const running = s.run(['sh', '-c', 'echo started; sleep 30']);
      await sleep(500);
      const t0 = Date.now();
      await s.kill();
      const r = await running;
      assert.equal(r.exitCode, 137);
      assert.ok(Date.now() - t0 < 10_000);
    });

    test('the pricing hook gives a finite, non-negative price per sandbox-second', () => {
      const price = p.costPerSecond();
      assert.ok(Number.isFinite(price) && price >= 0);
      assert.ok(Number.isFinite(p.costPerSecond({ cpuCount: 8, memoryMB: 8192 })));
    });

    test('kill ends the sandbox; killing twice is harmless; isHealthy tells', async () => {
      const s = await create({ metadata: { role: 'kill' } });
      assert.equal(await s.isHealthy(), true);
      await s.kill();
      await s.kill();
      assert.equal(await s.isHealthy(), false);
      await assert.rejects(p.connect(s.id), (e) => isDomainError(e, ErrorType.SandboxGone));
      assert.deepEqual(await p.list({ metadata: { suite, role: 'kill' } }), []);
    });

    test('a command past its timeout throws Timeout and its background children die with it', async () => {
      const t0 = Date.now();
      await assert.rejects(sb.run(['sh', '-c', 'sleep 30 & echo $! > bg.pid; wait'], { timeoutMs: 500 }), (e) =>
        isDomainError(e, ErrorType.Timeout),
      );
      assert.ok(Date.now() - t0 < 10_000, 'the timeout did not fire in time');
      await sleep(200);
      // a zombie counts as dead: an orphan's reaper (PID 1 in a container) may never wait() for it
      const alive = await sb.run([
        'sh',
        '-c',
        'st=$(sed -n "s/^.*) \\(.\\).*$/\\1/p" "/proc/$(cat bg.pid)/stat" 2>/dev/null); [ -n "$st" ] && [ "$st" != Z ] && echo alive || echo dead',
      ]);
      assert.equal(alive.stdout.trim(), 'dead');
      // the sandbox is still usable afterwards
      assert.equal((await sb.run(['true'])).exitCode, 0);
    });
  });
}
