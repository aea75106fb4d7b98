/**
 * The README's "Operating the phases" commands, as written, on the stack `npm start` brings up
 * (issue 11 item 5). The test runs scripts/start.ts itself — worker, API, Prometheus, the demo
 * remote, the synthetic workload — against the test run's Temporal dev server and a fresh
 * database, with its runtime state in a temporary SGC_DATA_DIR. Each command of the README's
 * fenced block is then run by bash from the repository root with a bare environment, as in a
 * second terminal: the CLI finds the stack through `.data/stack.json` alone. Only the `temporal`
 * CLI is told the dev server's address (TEMPORAL_ADDRESS): on a real `npm start` it is the
 * default 127.0.0.1:7233.
 *
 * Then Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while a workload round
 * is in flight: the round finishes before anything stops, so no agent request fails.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { baselineStatus } from '../../clients/baseline.js';
import { rolloutStatus } from '../../clients/canary.js';
import { ROOT } from '../../scripts/stack.js';
import { stackEnv } from '../../scripts/testing/stack.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { testEnv, uniqueQueue } from '../helpers/temporal.js';

/** The README's block of phase commands, one command a line, comments dropped. */
function readmeCommands(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Operating the phases'));
  const start = section.indexOf('```sh\n');
  assert.ok(start >= 0, 'the section has a sh block');
  const block = section.slice(start + 6, section.indexOf('```', start + 6));
  return block
    .split('\n')
    .map((l) => l.replace(/\s+#\s.*$/, '').trim())
    .filter((l) => l !== '');
}

let env: TestWorkflowEnvironment;
let tdb: TestDb;
let dataDir: string;
let start: ChildProcess;
let output = '';
let exited: Promise<number | null>;
const queues = { git: uniqueQueue('readme-git'), phases: uniqueQueue('readme-phases') };
const started: { validation?: string; rollout?: string; baseline?: string; drift?: string; schedule?: string } = {};

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (start.exitCode !== null)
      throw new Error(`${what}: npm start exited (${start.exitCode}):\n${output.slice(-3000)}`);
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms; npm start said:\n${output.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  [env, tdb] = await Promise.all([testEnv(), freshDb('readme')]);
  dataDir = mkdtempSync(join(tmpdir(), 'sgc-readme-'));
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_OPTIONS: '',
    SGC_DATA_DIR: dataDir,
    TEMPORAL_ADDRESS: stackEnv('SGC_TEST_TEMPORAL_ADDRESS'),
    DATABASE_URL: tdb.url,
    REPORTS_DIR: join(dataDir, 'reports'),
    SGC__sandbox__localRoot: join(dataDir, 'sandboxes'),
    SGC__temporal__taskQueues__git: queues.git,
    SGC__temporal__taskQueues__phases: queues.phases,
    // the chores' Schedules are not README commands, and this dev server is shared with other tests
    SGC__schedules__enabled: 'false',
  };
  // its own process group, as a terminal runs `npm start`: the SIGINT below goes to the group
  // the service alone: the lifecycle's own rollout would hold the flags the README's commands move
  start = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), ['scripts/start.ts', '--no-lifecycle', '--interval', '2'], {
    cwd: ROOT,
    env: childEnv,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  start.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  start.stderr?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  // 'close', not 'exit': by then every line the process wrote has been read
  exited = new Promise((r) => start.once('close', (code) => r(code)));
  await until('the stack is up and the workload runs', () => /workload round 1:/.test(output), 280_000);
}, 300_000);

afterAll(async () => {
  if (start && start.exitCode === null) {
    try {
      process.kill(-start.pid!, 'SIGTERM');
    } catch {
      /* gone */
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 60_000))]);
  }
  const wf = (id: string) =>
    env.client.workflow
      .getHandle(id)
      .terminate('test over')
      .catch(() => undefined);
  if (started.validation) await wf(`validation-${started.validation}`);
  if (started.rollout) await wf(`canary-${started.rollout}`);
  if (started.baseline) await wf(`baseline-${started.baseline}`);
  if (started.drift) await wf(`drift-${started.drift}`);
  if (started.schedule)
    await env.client.schedule
      .getHandle(started.schedule)
      .delete()
      .catch(() => undefined);
  await tdb?.drop();
  await env?.teardown();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

function run(line: string): { code: number | null; stdout: string; stderr: string } {
  const temporalBin = stackEnv('SGC_TEMPORAL_BIN');
  const r = spawnSync('bash', ['-c', line], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 180_000,
    // a second terminal: no database, no addresses — only where the stack's runtime state lives
    env: {
      PATH: `${dirname(temporalBin)}:${process.env.PATH ?? ''}`,
      HOME: process.env.HOME ?? tmpdir(),
      SGC_DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
      ...(line.startsWith('temporal ') ? { TEMPORAL_ADDRESS: stackEnv('SGC_TEST_TEMPORAL_ADDRESS') } : {}),
    },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const phases = { client: () => env.client };

describe("the README's phase commands on the npm start stack", () => {
  test('every command of "Operating the phases" works as written', async () => {
    const commands = readmeCommands();
    assert.ok(commands.length >= 8, commands.join('\n'));
    // the stack file exists, names no secret, and the CLI reads nothing else
    const stackFile = readFileSync(join(dataDir, 'stack.json'), 'utf8');
    assert.ok(!/TOKEN|ENCRYPTION|API_KEY/.test(stackFile), stackFile);

    for (const raw of commands) {
      const line = raw
        .replace(/<rollout-id>/g, started.rollout ?? '<rollout-id>')
        .replace(/<baseline-id>/g, started.baseline ?? '<baseline-id>');
      assert.ok(!/<[a-z-]+>/.test(line), `${raw}: a placeholder this test does not know`);
      const r = run(line);
      const said = `${line}\n→ exit ${r.code}\n${r.stdout}\n${r.stderr}`;
      assert.equal(r.code, 0, said);
      if (line.startsWith('npm run cli -- validation start')) {
        started.validation = /started backtest validation (\S+)/.exec(r.stdout)?.[1];
        assert.ok(started.validation, said);
      } else if (line.startsWith('npm run cli -- rollout start')) {
        started.rollout = /started rollout (\S+) /.exec(r.stdout)?.[1];
        assert.ok(started.rollout, said);
      } else if (line.startsWith('npm run cli -- rollout advance')) {
        assert.match(r.stdout, /advance from shadow approved/, said);
      } else if (line.startsWith('temporal workflow signal')) {
        // the signal is asynchronous: the rollout ends rolled back with the reason given
        let status = '';
        await until(
          'the rollout rolls back',
          async () => {
            const s = await rolloutStatus({ client: phases.client() }, started.rollout!);
            status = `${s.status} ${s.rollback?.reason ?? ''}`;
            return s.status === 'rolled_back';
          },
          60_000,
        ).catch((e: Error) => {
          throw new Error(`${e.message}\n${status}\n${said}`);
        });
        assert.match(status, /p95 regression/);
      } else if (line.startsWith('npm run cli -- flags kill')) {
        assert.match(r.stdout, /latched/, said);
      } else if (line.startsWith('npm run cli -- flags unlatch')) {
        assert.match(r.stdout, /unlatched/, said);
      } else if (line.startsWith('npm run cli -- baseline start')) {
        started.baseline = /started baseline (\S+) /.exec(r.stdout)?.[1];
        assert.ok(started.baseline, said);
        // the demo defaults carry it past preflight: the demo remote, the load token in the worker
        let seen = '';
        await until(
          'the baseline passes preflight',
          async () => {
            const v = await baselineStatus(env.client, started.baseline!);
            seen = JSON.stringify({
              state: v.state,
              stage: v.status?.stage,
              status: v.status?.status,
              result: v.result?.reason,
            });
            if (v.state !== 'RUNNING') throw new Error(`the baseline ended: ${seen}`);
            return v.status !== null && v.status.stage !== 'preflight';
          },
          150_000,
        ).catch((e: Error) => {
          throw new Error(`${e.message}\n${seen}`);
        });
      } else if (line.startsWith('npm run cli -- baseline cancel')) {
        assert.match(r.stdout, /asked baseline \S+ to stop/, said);
        await until(
          'the baseline stops',
          async () => (await baselineStatus(env.client, started.baseline!)).state !== 'RUNNING',
          120_000,
        );
      } else if (line.startsWith('npm run cli -- baseline schedule create')) {
        started.schedule = /created schedule (\S+)/.exec(r.stdout)?.[1];
        assert.equal(started.schedule, 'sgc-baseline-nightly', said);
      } else if (line.startsWith('npm run cli -- drift start')) {
        started.drift = /started drift review (\S+) /.exec(r.stdout)?.[1];
        assert.ok(started.drift, said);
      } else if (line.startsWith('npm run cli -- runbook')) {
        assert.match(r.stdout, /# Rollback runbook/, said);
      } else {
        assert.fail(`README command without an expectation in this test: ${line}`);
      }
    }
    // the validation backtest and the drift review run on the stack's worker (not failed)
    for (const id of [`validation-${started.validation}`, `drift-${started.drift}`]) {
      const d = await env.client.workflow.getHandle(id).describe();
      assert.ok(['RUNNING', 'COMPLETED'].includes(d.status.name), `${id}: ${d.status.name}`);
    }
  }, 900_000);

  test('Ctrl-C while a workload round is in flight: the round finishes, then the processes stop, and no request fails', async () => {
    const rounds = (): number => (output.match(/workload round \d+:/g) ?? []).length;
    const before = rounds();
    await until('another workload round', () => rounds() > before, 120_000);
    // the round after it starts 2 s later (--interval 2) and takes longer than half a second
    await new Promise((r) => setTimeout(r, 2_500));
    const at = output.length;
    process.kill(-start.pid!, 'SIGINT');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 120_000))]);
    const after = output.slice(at);
    expect(code).toBe(0);
    assert.match(after, /stopping: the workload round in flight finishes first/, after);
    assert.match(after, /workload round \d+: 3 agents completed/, after);
    assert.ok(!/fetch failed|failed:/.test(after), after);
    assert.match(after, /api stopped[\s\S]*worker stopped/, after);
    assert.equal(existsSync(join(dataDir, 'stack.json')), false, 'the stack file is gone with the stack');
  }, 300_000);
});
