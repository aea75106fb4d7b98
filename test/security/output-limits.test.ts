/**
 * Issue 9, item 4 (unbounded output). An agent decides how much its workspace holds and how
 * much its commands print. Command output is capped per stream (the command is killed,
 * OutputTooLarge), diffs and file reads are capped (413 naming the limit), a workspace has a disk
 * and file-count quota (checked on write and after clone/pull), and an agent a number of open
 * workspaces. The 1 GiB case runs against the real API process, whose memory is measured.
 */
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mapError } from '../../api/errors.js';
import { parseConfig, type Config } from '../../lib/config/index.js';
import { ErrorType, isDomainError, type DomainError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { createLocalProvider, type LocalSandboxProvider } from '../../lib/sandbox/local.js';
import { createGitService, workspaceDirFor } from '../../lib/service/index.js';
import { freePort } from '../../scripts/stack.js';
import { call } from '../helpers/api-stack.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { cloneAndRead, createBareRepo, git } from '../helpers/git.js';
import { failure as rejection } from '../helpers/failure.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const log = createLogger({ level: 'silent' });
const key = randomBytes(32);
const MiB = 1024 * 1024;

let t: TestDb;
let root: string;
let provider: LocalSandboxProvider;
let repo: ReturnType<typeof createBareRepo>;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  t = await freshDb('seclim');
  root = mkdtempSync(join(tmpdir(), 'sgc-seclim-'));
  provider = createLocalProvider({ root, defaultTimeoutMs: 3_600_000 });
  repo = createBareRepo({ 'README.md': '# limits\n' });
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  provider?.close();
  repo?.cleanup();
  if (root) rmSync(root, { recursive: true, force: true });
  await t?.drop();
});

function config(limits: Record<string, unknown> = {}): Config {
  return parseConfig({
    service: { approach: 'simple' },
    sandbox: { localRoot: root },
    git: { remotes: [{ scheme: 'file', pathPrefix: repo.root }] },
    limits,
  });
}

function service(limits: Record<string, unknown> = {}) {
  const svc = createGitService({
    config: config(limits),
    db: t.db,
    metrics: createMetrics({ defaultMetrics: false }),
    log,
    provider,
    key,
    approach: 'simple',
  });
  cleanups.push(() => svc.close());
  return svc;
}

async function failure(p: Promise<unknown>): Promise<DomainError> {
  const e = await rejection(p);
  assert.ok(e instanceof Error, String(e));
  return e as DomainError;
}

describe('command output', () => {
  test('a stream past the cap kills the command: OutputTooLarge, per stream, however much it would print', async () => {
    const sb = await provider.create({ timeoutMs: 60_000 });
    cleanups.push(() => sb.kill());
    const out = await failure(
      sb.run(['head', '-c', String(64 * MiB), '/dev/zero'], { maxOutputBytes: MiB, timeoutMs: 20_000 }),
    );
    assert.ok(isDomainError(out, ErrorType.OutputTooLarge), String(out));
    assert.equal(out.details.stream, 'stdout');
    assert.equal(out.details.limitBytes, MiB);
    const err = await failure(
      sb.run(['sh', '-c', 'head -c 67108864 /dev/zero >&2'], { maxOutputBytes: MiB, timeoutMs: 20_000 }),
    );
    assert.ok(isDomainError(err, ErrorType.OutputTooLarge), String(err));
    assert.equal(err.details.stream, 'stderr');
    // endless output ends at the cap, not at the command timeout
    const started = Date.now();
    const endless = await failure(sb.run(['yes'], { maxOutputBytes: MiB, timeoutMs: 20_000 }));
    assert.ok(isDomainError(endless, ErrorType.OutputTooLarge), String(endless));
    assert.ok(Date.now() - started < 10_000);
    // the provider's own default applies to every command
    const capped = createLocalProvider({ root, defaultTimeoutMs: 60_000, maxOutputBytes: MiB });
    cleanups.push(() => capped.close());
    const again = await capped.connect(sb.id);
    assert.ok(isDomainError(await failure(again.run(['yes'], { timeoutMs: 20_000 })), ErrorType.OutputTooLarge));
    // output under the cap is whole
    assert.equal((await again.run(['head', '-c', '1000', '/dev/zero'])).stdout.length, 1000);
  });
});

describe('workspace quotas', () => {
  test('disk: a write that would pass workspaceDiskMaxBytes is refused (409 naming the limit) and not written', async () => {
    const svc = service({ workspaceDiskMaxBytes: 2 * MiB });
    const ws = await svc.createWorkspace({ agentId: 'disk', taskId: 't', repoUrl: repo.url });
    const chunk = 'x'.repeat(512 * 1024);
    let written = 0;
    let refused: DomainError | null = null;
    for (let i = 0; i < 8 && !refused; i++) {
      try {
        await svc.writeFile(ws.id, `chunk-${i}.txt`, chunk);
        written++;
      } catch (e) {
        refused = e as DomainError;
      }
    }
    assert.ok(refused, 'every write was accepted');
    assert.ok(isDomainError(refused, ErrorType.QuotaExceeded), String(refused));
    assert.equal(refused.details.limit, 'limits.workspaceDiskMaxBytes');
    assert.ok(written >= 2 && written <= 3, `written ${written}`);
    assert.ok(
      isDomainError(await failure(svc.readFile(ws.id, `chunk-${written}.txt`)), ErrorType.NotFound),
      'the refused write left a file',
    );
    const mapped = mapError(refused);
    assert.equal(mapped.status, 409);
    assert.equal(mapped.body.limit, 'limits.workspaceDiskMaxBytes');
    // shrinking a file frees room again
    await svc.writeFile(ws.id, 'chunk-0.txt', 'small\n');
    await svc.writeFile(ws.id, `chunk-${written}.txt`, chunk);
    await svc.release(ws.id);
  });

  test('files: new files past workspaceMaxFiles are refused; overwriting an existing one is not', async () => {
    const svc = service({ workspaceMaxFiles: 60 });
    const ws = await svc.createWorkspace({ agentId: 'files', taskId: 't', repoUrl: repo.url });
    let refused: DomainError | null = null;
    let i = 0;
    for (; i < 100 && !refused; i++) {
      await svc.writeFile(ws.id, `f/${i}.txt`, `${i}\n`).catch((e: DomainError) => {
        refused = e;
      });
    }
    assert.ok(refused, 'every new file was accepted');
    assert.ok(isDomainError(refused, ErrorType.QuotaExceeded), String(refused));
    assert.equal((refused as DomainError).details.limit, 'limits.workspaceMaxFiles');
    assert.ok(i > 5 && i < 60, `refused at file ${i}`);
    await svc.writeFile(ws.id, 'f/0.txt', 'overwritten\n');
    await svc.release(ws.id);
  });

  test('after clone and after pull: a repository larger than the quota is refused', async () => {
    const big = createBareRepo({ 'README.md': '# big\n', 'blob.bin': randomBytes(3 * MiB).toString('base64') });
    cleanups.push(() => big.cleanup());
    const svc = createGitService({
      config: parseConfig({
        service: { approach: 'simple' },
        sandbox: { localRoot: root },
        git: { remotes: [{ scheme: 'file', pathPrefix: tmpdir() }] },
        limits: { workspaceDiskMaxBytes: 2 * MiB },
      }),
      db: t.db,
      metrics: createMetrics({ defaultMetrics: false }),
      log,
      provider,
      key,
      approach: 'simple',
    });
    cleanups.push(() => svc.close());
    const cloned = await failure(svc.createWorkspace({ agentId: 'big-clone', taskId: 't', repoUrl: big.url }));
    assert.ok(isDomainError(cloned, ErrorType.QuotaExceeded), String(cloned));
    assert.equal(cloned.details.limit, 'limits.workspaceDiskMaxBytes');

    const ws = await svc.createWorkspace({ agentId: 'big-pull', taskId: 't', repoUrl: repo.url });
    // the remote's copy of the agent branch grows past the quota; the pull brings it in
    const seed = mkdtempSync(join(tmpdir(), 'sgc-seclim-seed-'));
    cleanups.push(() => rmSync(seed, { recursive: true, force: true }));
    git(seed, 'clone', '--quiet', repo.url, 'c');
    const c = join(seed, 'c');
    writeFileSync(join(c, 'grown.bin'), randomBytes(3 * MiB).toString('base64'));
    git(c, 'add', '-A');
    git(c, 'commit', '--quiet', '-m', 'grow');
    git(c, 'push', '--quiet', 'origin', `HEAD:refs/heads/${ws.agentBranch}`);
    const pulled = await failure(svc.pull(ws.id));
    assert.ok(isDomainError(pulled, ErrorType.QuotaExceeded), String(pulled));
    assert.equal(pulled.details.limit, 'limits.workspaceDiskMaxBytes');
    assert.ok(
      isDomainError(await failure(svc.writeFile(ws.id, 'more.txt', 'x')), ErrorType.QuotaExceeded),
      'writes go on after the pull',
    );
    await svc.release(ws.id);
  });

  test('an agent holds at most maxOpenWorkspacesPerAgent open workspaces; releasing one makes room', async () => {
    const svc = service({ maxOpenWorkspacesPerAgent: 2 });
    const a = await svc.createWorkspace({ agentId: 'many', taskId: 't1', repoUrl: repo.url });
    const b = await svc.createWorkspace({ agentId: 'many', taskId: 't2', repoUrl: repo.url });
    const third = await failure(svc.createWorkspace({ agentId: 'many', taskId: 't3', repoUrl: repo.url }));
    assert.ok(isDomainError(third, ErrorType.QuotaExceeded), String(third));
    assert.equal(third.details.limit, 'limits.maxOpenWorkspacesPerAgent');
    // a repeat of an existing create is not a new workspace
    assert.equal(
      (await svc.createWorkspace({ agentId: 'many', taskId: 't1', repoUrl: repo.url, workspaceId: a.id })).id,
      a.id,
    );
    const other = await svc.createWorkspace({ agentId: 'someone-else', taskId: 't1', repoUrl: repo.url });
    await svc.release(a.id);
    const c = await svc.createWorkspace({ agentId: 'many', taskId: 't3', repoUrl: repo.url });
    for (const w of [b, c, other]) await svc.release(w.id);
  });
});

describe('the API process with 1 GiB of output in a workspace', () => {
  let api: ChildProcess | undefined;
  let base: string;
  const AGENT = `agent-${randomBytes(12).toString('hex')}`;

  afterAll(() => {
    if (api?.pid !== undefined && api.exitCode === null) api.kill('SIGKILL');
  });

  /** Peak resident memory (VmHWM) of the API process, in MB. */
  function peakRssMb(pid: number): number {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  }

  test('GET /diff and GET /files are cut at their caps (413 naming the limit); the API lives and stays under 300 MB', async () => {
    // the workspace, made by this process (a worker would): ~1.1 GiB of text files in it
    const svc = service();
    const ws = await svc.createWorkspace({ agentId: 'bigout', taskId: 't', repoUrl: repo.url });
    const sb = await provider.connect(ws.sandboxId);
    // below core.bigFileThreshold (512 MiB), so git diffs them as text: > 1 GiB of diff output
    const made = await sb.run(
      [
        'sh',
        '-c',
        'for i in 1 2 3 4 5 6 7 8 9 10 11; do yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 104857600 > "big-$i.txt" || exit 1; done',
      ],
      {
        cwd: workspaceDirFor(ws.id),
        timeoutMs: 300_000,
      },
    );
    assert.equal(made.exitCode, 0, made.stderr);

    const dir = mkdtempSync(join(tmpdir(), 'sgc-seclim-api-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const configFile = join(dir, 'temporal.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({
        service: { approach: 'simple' },
        sandbox: { provider: 'local', localRoot: root },
        git: { remotes: [{ scheme: 'file', pathPrefix: repo.root }] },
        api: { host: '127.0.0.1', port },
      }),
    );
    api = spawn(process.execPath, ['--import', 'tsx', 'api/server.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        SGC_CONFIG: configFile,
        DATABASE_URL: t.url,
        LOG_LEVEL: 'silent',
        TEMPORAL_ADDRESS: process.env.SGC_TEST_TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
        SGC_ENCRYPTION_KEY: key.toString('base64'),
        SGC_API_TOKENS: JSON.stringify([{ name: 'a', role: 'agent', agentId: 'bigout', token: AGENT }]),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    api.stderr?.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-4000);
    });
    const pid = api.pid as number;
    base = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      if (api.exitCode !== null) assert.fail(`the API exited at start: ${stderr}`);
      if (
        await fetch(`${base}/openapi.json`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (i > 600) assert.fail('the API did not start within 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }

    const diff = await call(base, 'GET', `/v1/workspaces/${ws.id}/diff`, { token: AGENT, timeoutMs: 240_000 }).catch(
      (e: unknown) => ({ failed: `${String(e)} ${String((e as { cause?: unknown }).cause ?? '')}` }),
    );
    if ('failed' in diff) {
      await new Promise((r) => setTimeout(r, 500));
      assert.fail(
        `GET /diff failed (${diff.failed}); the API ${api.exitCode === null ? 'is alive' : `exited with ${api.exitCode}`}: ${stderr.slice(-800)}`,
      );
    }
    assert.equal(diff.status, 413, JSON.stringify(diff.body));
    assert.equal(diff.body.limit, 'limits.diffMaxBytes');

    const file = await call(base, 'GET', `/v1/workspaces/${ws.id}/files/big-1.txt`, {
      token: AGENT,
      timeoutMs: 60_000,
    });
    assert.equal(file.status, 413, JSON.stringify(file.body));
    assert.equal(file.body.limit, 'limits.fileReadMaxBytes');

    const st = await call(base, 'GET', `/v1/workspaces/${ws.id}/status`, { token: AGENT });
    assert.equal(st.status, 200, 'the API still serves');
    const peak = peakRssMb(pid);
    assert.ok(peak < 300, `the API's peak RSS was ${peak.toFixed(0)} MB`);
    process.stderr.write(`[limits] API peak RSS ${peak.toFixed(0)} MB after a >1 GiB diff and a 100 MiB read\n`);
    api.kill('SIGTERM');
    await svc.release(ws.id);
    // the repo is untouched by all this
    assert.deepEqual(cloneAndRead(repo.url, 'main').subjects, ['initial']);
  });
});
