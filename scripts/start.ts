/**
 * `npm start`: the main job on embedded defaults. Brings up the real stack — Temporal dev server
 * (with UI), PostgreSQL, Prometheus scraping the API and the worker, the worker, the API —
 * creates a demo remote (a bare repository) and runs a small synthetic agent workload so that
 * metrics flow. Ctrl-C stops every process it started. A second start reuses what the first
 * provisioned (.data/, the cached temporal build) and is up in seconds.
 *
 *   npm start                                  # the stack, the workload, then the lifecycle; until Ctrl-C
 *   npm start -- --phases validation,canary    # only these phases of the lifecycle
 *   npm start -- --no-lifecycle                # the service and its workload alone
 *   npm start -- --smoke                       # run the lifecycle once; exit 0 only when every phase ended as expected
 *
 * The lifecycle (scripts/lifecycle/run.ts) walks the migration in the seeds' order once the
 * workload runs: validation, canary, baseline, drift, each its real workflow on this stack with
 * the compressed timings of temporal.yaml's `demo:` key, then a summary table.
 *
 * While it runs, `.data/stack.json` tells the commands of a second terminal (`npm run cli -- …`)
 * where this stack is and the demo defaults it chose (scripts/local-stack.ts): the README's phase
 * commands work as written. Ctrl-C stops the workload first (the round in flight finishes), then
 * the API, the worker and the servers; the children run in their own process groups so the
 * terminal's Ctrl-C does not stop them under the workload's feet.
 */
import { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { loadConfig } from '../lib/config/index.js';
import { removeStackFile, stackEnvOf, writeStackFile } from './local-stack.js';
import { createTemporalClient } from '../clients/temporal.js';
import { selectPhases } from '../lib/lifecycle/plan.js';
import { historyRetention, prepareDemoHistory, type DemoHistory } from './lifecycle/history.js';
import { Lifecycle } from './lifecycle/run.js';
import {
  ROOT,
  DATA_DIR,
  ensureTemporal,
  ensurePrometheus,
  ensurePostgres,
  ensureDatabase,
  startTemporalDev,
  startPrometheus,
  waitFor,
  portOpen,
  freePort,
} from './stack.js';
import { planServicePorts, renderPrometheusConfig, startServiceProcesses } from './stack-processes.js';

const say = (msg: string): void => {
  process.stdout.write(`[start] ${msg}\n`);
};

interface DemoTokens {
  admin: string;
  operator: string;
  agents: Record<string, string>;
  /** the agent token the baseline's load uses (the worker holds it as SGC_BASELINE_TOKEN) */
  load: string;
}

/** The agent the production baseline's load acts as on the demo stack. */
const LOAD_AGENT = 'demo-load';

/**
 * Demo tokens live in .data/tokens.json (mode 0600); they are printed as a path, never as values.
 * A file from an earlier version gains the tokens it lacks.
 */
function demoTokens(): DemoTokens {
  const file = join(DATA_DIR, 'tokens.json');
  const t = (): string => randomBytes(24).toString('base64url');
  const old = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<DemoTokens>) : {};
  const tokens: DemoTokens = {
    admin: old.admin ?? t(),
    operator: old.operator ?? t(),
    agents: old.agents ?? { 'demo-agent-1': t(), 'demo-agent-2': t(), 'demo-agent-3': t() },
    load: old.load ?? t(),
  };
  if (JSON.stringify(old) !== JSON.stringify(tokens))
    writeFileSync(file, JSON.stringify(tokens, null, 2), { mode: 0o600 });
  chmodSync(file, 0o600);
  return tokens;
}

function encryptionKey(): string {
  const file = join(DATA_DIR, 'encryption.key');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600 });
  chmodSync(file, 0o600);
  return readFileSync(file, 'utf8').trim();
}

/** Where the demo's bare repository lives; the processes list it in git.remotes. */
const DEMO_DIR = join(DATA_DIR, 'demo');

function demoRemote(): string {
  const bare = join(DEMO_DIR, 'remote.git');
  if (!existsSync(join(bare, 'HEAD'))) {
    const seed = join(DATA_DIR, 'demo', 'seed');
    mkdirSync(seed, { recursive: true });
    const env = {
      ...process.env,
      GIT_AUTHOR_NAME: 'demo',
      GIT_AUTHOR_EMAIL: 'demo@localhost',
      GIT_COMMITTER_NAME: 'demo',
      GIT_COMMITTER_EMAIL: 'demo@localhost',
    };
    execFileSync('git', ['init', '--bare', '--initial-branch=main', bare], { env, stdio: 'ignore' });
    execFileSync('git', ['init', '--initial-branch=main', seed], { env, stdio: 'ignore' });
    writeFileSync(join(seed, 'README.md'), '# demo remote\n\nAgents of the synthetic workload commit here.\n');
    execFileSync('git', ['add', '-A'], { cwd: seed, env });
    execFileSync('git', ['commit', '-qm', 'initial'], { cwd: seed, env });
    execFileSync('git', ['push', '-q', bare, 'main'], { cwd: seed, env });
    say(`demo remote created at ${bare}`);
  }
  return `file://${bare}`;
}

/** Cancels the workload's requests when a stop cannot wait for the round in flight any longer. */
const workloadAbort = new AbortController();

async function api(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.any([AbortSignal.timeout(120_000), workloadAbort.signal]),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* plain text */
  }
  return { status: res.status, json };
}

/** One round per agent: create workspace, write, commit+push, status, diff, pull, release. */
async function workloadRound(
  base: string,
  tokens: DemoTokens,
  repoUrl: string,
  round: number,
): Promise<{ ok: number; failed: string[] }> {
  const failed: string[] = [];
  let ok = 0;
  await Promise.all(
    Object.entries(tokens.agents).map(async ([agentId, token]) => {
      const step = async (
        name: string,
        method: string,
        path: string,
        body?: unknown,
        expect = [200, 201, 204],
      ): Promise<unknown> => {
        const r = await api(base, token, method, path, body);
        if (!expect.includes(r.status))
          throw new Error(`${agentId} ${name}: HTTP ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
        return r.json;
      };
      try {
        const ws = (await step('create', 'POST', '/v1/workspaces', {
          repoUrl,
          taskId: `task-${round}`,
          baseBranch: 'main',
        })) as { id: string };
        await step('write', 'PUT', `/v1/workspaces/${ws.id}/files/notes/${agentId}.md`, {
          content: `round ${round} by ${agentId} at ${new Date().toISOString()}\n`,
        });
        await step('status', 'GET', `/v1/workspaces/${ws.id}/status`);
        await step('diff', 'GET', `/v1/workspaces/${ws.id}/diff`);
        await step('commit', 'POST', `/v1/workspaces/${ws.id}/commits`, {
          message: `notes: round ${round} (${agentId})`,
        });
        await step('pull', 'POST', `/v1/workspaces/${ws.id}/pull`);
        await step('release', 'DELETE', `/v1/workspaces/${ws.id}`);
        ok++;
      } catch (e) {
        failed.push((e as Error).message);
      }
    }),
  );
  return { ok, failed };
}

async function main(): Promise<void> {
  const program = new Command()
    .option(
      '--smoke',
      'run the lifecycle once and stop: exit 0 only when every phase ended as expected (with --no-lifecycle: 3 workload rounds and a metrics check)',
    )
    .option('--phases <list>', 'lifecycle phases to run, comma-separated (validation, canary, baseline, drift)')
    .option('--no-lifecycle', 'run the service and its workload alone')
    .option('--rounds <n>', 'workload rounds before idling (0 = until Ctrl-C)', '0')
    .option('--interval <s>', 'seconds between workload rounds', '5')
    .option('--workers <n>', 'worker processes (README "Scaling out")', '1')
    .option('--apis <n>', 'API processes, each on its own port (README "Scaling out")', '1')
    .parse();
  const opts = program.opts<{
    smoke?: boolean;
    rounds: string;
    interval: string;
    workers: string;
    apis: string;
    phases?: string;
    lifecycle: boolean;
  }>();
  mkdirSync(join(DATA_DIR, 'logs'), { recursive: true });
  const started: { name: string; stop: () => Promise<void> }[] = [];
  let stopping = false;
  let roundInFlight: Promise<unknown> | null = null;
  // one stop: a second signal (a terminal's Ctrl-C reaches both tsx and this process, and tsx
  // relays it again) waits for the stop in progress instead of exiting before the processes stop
  let stopped: Promise<void> | null = null;
  const stopAll = async (code: number): Promise<never> => {
    if (stopped) {
      await stopped;
      return new Promise<never>(() => undefined);
    }
    stopping = true;
    stopped = (async () => {
      // the workload first: its requests need the API and the worker that are about to stop
      const round = roundInFlight;
      if (round) {
        say('stopping: the workload round in flight finishes first');
        const finished = await Promise.race([
          round.then(
            () => true,
            () => true,
          ),
          new Promise<boolean>((r) => setTimeout(() => r(false), 30_000)),
        ]);
        if (!finished) {
          say('stopping: the workload round did not finish within 30 s; cancelling it');
          workloadAbort.abort();
          await round.catch(() => undefined);
        }
      }
      say('stopping…');
      for (const p of started.reverse()) {
        await p.stop().catch((e: unknown) => say(`${p.name}: stop failed: ${(e as Error).message}`));
        say(`${p.name} stopped`);
      }
    })();
    await stopped;
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));
  // the children have their own process groups: a closed terminal must stop them through us
  process.on('SIGHUP', () => void stopAll(0));

  try {
    const config = loadConfig();
    const phases = opts.lifecycle ? selectPhases(opts.phases, config.demo.phases) : [];
    const psay = (m: string): void => say(m);
    const temporalBin = ensureTemporal(psay);
    const promBins = ensurePrometheus(psay);

    // Temporal: configured address, else one already running on :7233, else our dev server.
    let temporalAddress = process.env.TEMPORAL_ADDRESS;
    let uiUrl = config.temporal.uiUrl;
    if (!temporalAddress) {
      const [host, portStr] = config.temporal.address.split(':');
      const port = Number(portStr);
      const healthy =
        (await portOpen(port, host)) &&
        spawnSync(temporalBin, ['operator', 'cluster', 'health', '--address', config.temporal.address], {
          encoding: 'utf8',
          timeout: 5000,
        }).stdout?.includes('SERVING');
      if (healthy) {
        say(`temporal: reusing the server already on ${config.temporal.address}`);
      } else {
        say('temporal: starting the dev server (state in .data/temporal.db)');
        const uiPort = Number(new URL(uiUrl).port || 8233);
        const t = await startTemporalDev(temporalBin, {
          port,
          uiPort,
          dbFile: join(DATA_DIR, 'temporal.db'),
          logFile: join(DATA_DIR, 'logs', 'temporal.log'),
          ownProcessGroup: true,
        });
        started.push({ name: 'temporal', stop: t.stop });
      }
      temporalAddress = config.temporal.address;
    } else {
      uiUrl = process.env.TEMPORAL_UI_URL ?? uiUrl;
    }

    const pgh = await ensurePostgres(psay);
    started.push({ name: 'postgres', stop: pgh.stop });
    const databaseUrl = process.env.DATABASE_URL ?? (await ensureDatabase(pgh.adminUrl, 'sgc'));

    const tokens = demoTokens();
    const apiTokens = [
      { name: 'demo-admin', role: 'admin', token: tokens.admin },
      { name: 'demo-operator', role: 'operator', token: tokens.operator },
      ...Object.entries(tokens.agents).map(([agentId, token]) => ({ name: agentId, role: 'agent', agentId, token })),
      { name: LOAD_AGENT, role: 'agent', agentId: LOAD_AGENT, token: tokens.load },
    ];
    const repoUrl = demoRemote();
    // a port per API and per worker process (--apis, --workers; the first ones as configured when free)
    const ports = await planServicePorts({
      workers: Number(opts.workers),
      apis: Number(opts.apis),
      apiPort: config.api.port,
      workerPort: config.metrics.workerPort,
    });
    const [apiPort] = ports.api;
    const [workerMetricsPort] = ports.worker;
    const childEnv: NodeJS.ProcessEnv = {
      ...process.env,
      TEMPORAL_ADDRESS: temporalAddress,
      DATABASE_URL: databaseUrl,
      SGC_API_TOKENS: JSON.stringify(apiTokens),
      SGC_ENCRYPTION_KEY: process.env.SGC_ENCRYPTION_KEY ?? encryptionKey(),
      API_PORT: String(apiPort),
      SGC__metrics__workerPort: String(workerMetricsPort),
      // demo defaults: a baseline with no repository named loads the demo remote
      ...(process.env.SGC__baseline__load__repoUrl ? {} : { SGC__baseline__load__repoUrl: repoUrl }),
      // the demo's own remote joins the configured ones (tokens stay in their own variables)
      SGC__git__remotes: JSON.stringify([
        ...config.git.remotes.map(({ token: _token, ...entry }) => entry),
        { scheme: 'file', pathPrefix: `${DEMO_DIR}/` },
      ]),
    };

    // Prometheus scraping the API and the worker.
    const promPort = (await portOpen(9090)) ? await freePort() : 9090;
    const promUrl = `http://127.0.0.1:${promPort}`;
    childEnv.PROMETHEUS_URL = process.env.PROMETHEUS_URL ?? promUrl;
    // the backtest's generated history goes in before Prometheus starts (scripts/lifecycle/history.ts)
    const history: DemoHistory | null = phases.includes('validation')
      ? prepareDemoHistory({
          dataDir: DATA_DIR,
          promDataDir: join(DATA_DIR, 'prometheus'),
          promtool: promBins.promtool,
          weeks: config.demo.validation.historyWeeks,
          stepSeconds: config.demo.validation.historyStepSeconds,
          say: psay,
        })
      : null;
    const tmpl = readFileSync(join(ROOT, 'monitoring', 'prometheus.yml.tmpl'), 'utf8');
    const promConfig = join(DATA_DIR, 'prometheus.yml');
    writeFileSync(
      promConfig,
      renderPrometheusConfig(tmpl, {
        alertsFile: join(ROOT, 'monitoring', 'alerts.yml'),
        apiTargets: ports.api.map((p) => `127.0.0.1:${p}`),
        workerTargets: ports.worker.map((p) => `127.0.0.1:${p}`),
      }),
    );
    const prom = await startPrometheus(promBins.prometheus, {
      port: promPort,
      dataDir: join(DATA_DIR, 'prometheus'),
      configFile: promConfig,
      logFile: join(DATA_DIR, 'logs', 'prometheus.log'),
      ownProcessGroup: true,
      retention: historyRetention(config.demo.validation.historyWeeks),
    });
    started.push({ name: 'prometheus', stop: prom.stop });

    // the worker and API processes (scripts/stack-processes.ts): the workers first (one applies the
    // migrations before it serves /metrics), then the APIs
    const service = await startServiceProcesses({
      ports,
      env: childEnv,
      // the worker holds the baseline's load token (the run's input names only SGC_BASELINE_TOKEN)
      workerEnv: { SGC_BASELINE_TOKEN: process.env.SGC_BASELINE_TOKEN ?? tokens.load },
      logDir: join(DATA_DIR, 'logs'),
      ownProcessGroup: true,
      say: psay,
    });
    // stopped newest first: the APIs, then the workers (in-flight pushes get their drain)
    started.push({ name: service.workers.length === 1 ? 'worker' : 'workers', stop: service.stopWorkers });
    started.push({ name: service.apis.length === 1 ? 'api' : 'apis', stop: service.stopApis });
    const apiUrl = service.apiUrls[0];

    writeStackFile({
      pid: process.pid,
      startedAt: new Date().toISOString(),
      apiUrl,
      temporalUiUrl: uiUrl,
      prometheusUrl: promUrl,
      env: stackEnvOf(childEnv),
    });
    started.push({ name: 'stack file', stop: async () => removeStackFile() });
    say('up:');
    say(`  API            ${apiUrl}   (OpenAPI ${apiUrl}/docs, metrics ${apiUrl}/metrics)`);
    for (const more of service.apiUrls.slice(1)) say(`  API            ${more}`);
    say(`  Temporal UI    ${uiUrl}`);
    say(`  Prometheus     ${promUrl}`);
    say(`  demo tokens    ${join(DATA_DIR, 'tokens.json')} (admin, operator, 3 agents)`);
    say(`  demo remote    ${repoUrl}`);
    say(`  logs           ${join(DATA_DIR, 'logs')}/`);
    say(`  console        ${apiUrl}/ (sign in with a token from tokens.json)`);
    say(`  phase commands npm run cli -- … in another terminal uses this stack (${join(DATA_DIR, 'stack.json')})`);

    // with the lifecycle the workload runs until the stop: the phases measure it
    const rounds = opts.smoke && phases.length === 0 ? 3 : Number(opts.rounds);
    const intervalMs = Number(opts.interval) * 1000;
    let round = 0;
    let failures = 0;
    let firstRound: () => void = () => undefined;
    const workloadRunning = new Promise<void>((r) => (firstRound = r));
    const workload = (async () => {
      while (!stopping && (rounds === 0 || round < rounds)) {
        round++;
        const t0 = Date.now();
        roundInFlight = workloadRound(apiUrl, tokens, repoUrl, round);
        const r = await (roundInFlight as ReturnType<typeof workloadRound>);
        roundInFlight = null;
        if (workloadAbort.signal.aborted) {
          say(`workload round ${round}: cancelled by the stop`);
          break;
        }
        failures += r.failed.length;
        say(
          `workload round ${round}: ${r.ok} agents completed create→write→commit→pull→release in ${Date.now() - t0} ms${r.failed.length ? `; ${r.failed.length} failed: ${r.failed.join(' | ')}` : ''}`,
        );
        firstRound();
        if (!stopping && (rounds === 0 || round < rounds)) await new Promise((res) => setTimeout(res, intervalMs));
      }
    })();
    if (phases.length > 0) {
      await workloadRunning;
      // the configuration the worker and the API run with: their port, queues and demo remote
      const stackConfig = loadConfig({ env: childEnv });
      const client = await createTemporalClient(stackConfig.temporal);
      const lifecycle = new Lifecycle({
        config: stackConfig,
        client,
        temporalUiUrl: uiUrl,
        apiUrl,
        history,
        say: (m) => say(m),
      });
      started.push({ name: 'lifecycle', stop: () => lifecycle.stop().finally(() => client.connection.close()) });
      const r = await lifecycle.run(phases);
      for (const line of r.table) say(line);
      // a Ctrl-C ended the walk: the stop in progress stops the processes and exits
      if (stopping) await new Promise(() => undefined);
      if (opts.smoke) await stopAll(r.ok ? 0 : 1);
      if (!stopping) say('lifecycle done; the stack and the workload stay up until Ctrl-C');
    }
    await workload;
    if (opts.smoke) {
      await waitFor(
        'prometheus sees gitops_operations_total',
        async () => {
          const res = await fetch(
            `${promUrl}/api/v1/query?query=${encodeURIComponent('sum(gitops_operations_total)')}`,
          );
          const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
          return Number(body.data?.result?.[0]?.value[1] ?? 0) > 0;
        },
        30_000,
      );
      say(`smoke: ${failures === 0 ? 'ok' : `${failures} failed operations`}; Prometheus has the gitops metrics`);
      await stopAll(failures === 0 ? 0 : 1);
    }
    if (!stopping) say('workload rounds done; stack stays up until Ctrl-C');
    await new Promise(() => undefined);
  } catch (e) {
    process.stderr.write(`[start] ${(e as Error).message}\n`);
    await stopAll(1);
  }
}

void main();
