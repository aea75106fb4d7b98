/**
 * `npm start`: the main job on embedded defaults. Brings up the real stack — Temporal dev server
 * (with UI), PostgreSQL, Prometheus scraping the API and the worker, the worker, the API —
 * creates a demo remote (a bare repository) and runs a small synthetic agent workload so that
 * metrics flow. Ctrl-C stops every process it started. A second start reuses what the first
 * provisioned (.data/, the cached temporal build) and is up in seconds.
 *
 *   npm start                 # run until Ctrl-C
 *   npm start -- --smoke      # bring everything up, run 3 workload rounds, check metrics, stop
 */
import { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { loadConfig } from '../lib/config/index.js';
import {
  ROOT, DATA_DIR, ensureTemporal, ensurePrometheus, ensurePostgres, ensureDatabase, startTemporalDev,
  startPrometheus, spawnManaged, waitFor, portOpen, freePort, type ManagedProcess,
} from './stack.js';

const say = (msg: string): void => {
  process.stdout.write(`[start] ${msg}\n`);
};

interface DemoTokens {
  admin: string;
  operator: string;
  agents: Record<string, string>;
}

/** Demo tokens live in .data/tokens.json (mode 0600); they are printed as a path, never as values. */
function demoTokens(): DemoTokens {
  const file = join(DATA_DIR, 'tokens.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DemoTokens;
  const t = (): string => randomBytes(24).toString('base64url');
  const tokens: DemoTokens = { admin: t(), operator: t(), agents: { 'demo-agent-1': t(), 'demo-agent-2': t(), 'demo-agent-3': t() } };
  writeFileSync(file, JSON.stringify(tokens, null, 2), { mode: 0o600 });
  return tokens;
}

function encryptionKey(): string {
  const file = join(DATA_DIR, 'encryption.key');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600 });
  chmodSync(file, 0o600);
  return readFileSync(file, 'utf8').trim();
}

function demoRemote(): string {
  const bare = join(DATA_DIR, 'demo', 'remote.git');
  if (!existsSync(join(bare, 'HEAD'))) {
    const seed = join(DATA_DIR, 'demo', 'seed');
    mkdirSync(seed, { recursive: true });
    const env = { ...process.env, GIT_AUTHOR_NAME: 'demo', GIT_AUTHOR_EMAIL: 'demo@localhost', GIT_COMMITTER_NAME: 'demo', GIT_COMMITTER_EMAIL: 'demo@localhost' };
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

async function api(base: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(120_000),
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
async function workloadRound(base: string, tokens: DemoTokens, repoUrl: string, round: number): Promise<{ ok: number; failed: string[] }> {
  const failed: string[] = [];
  let ok = 0;
  await Promise.all(Object.entries(tokens.agents).map(async ([agentId, token]) => {
    const step = async (name: string, method: string, path: string, body?: unknown, expect = [200, 201, 204]): Promise<unknown> => {
      const r = await api(base, token, method, path, body);
      if (!expect.includes(r.status)) throw new Error(`${agentId} ${name}: HTTP ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
      return r.json;
    };
    try {
      const ws = (await step('create', 'POST', '/v1/workspaces', { repoUrl, taskId: `task-${round}`, baseBranch: 'main' })) as { id: string };
      await step('write', 'PUT', `/v1/workspaces/${ws.id}/files/notes/${agentId}.md`, { content: `round ${round} by ${agentId} at ${new Date().toISOString()}\n` });
      await step('status', 'GET', `/v1/workspaces/${ws.id}/status`);
      await step('diff', 'GET', `/v1/workspaces/${ws.id}/diff`);
      await step('commit', 'POST', `/v1/workspaces/${ws.id}/commits`, { message: `notes: round ${round} (${agentId})` });
      await step('pull', 'POST', `/v1/workspaces/${ws.id}/pull`);
      await step('release', 'DELETE', `/v1/workspaces/${ws.id}`);
      ok++;
    } catch (e) {
      failed.push((e as Error).message);
    }
  }));
  return { ok, failed };
}

async function main(): Promise<void> {
  const program = new Command()
    .option('--smoke', 'bring the stack up, run 3 workload rounds, check Prometheus sees the metrics, then stop')
    .option('--rounds <n>', 'workload rounds before idling (0 = until Ctrl-C)', '0')
    .option('--interval <s>', 'seconds between workload rounds', '5')
    .parse();
  const opts = program.opts<{ smoke?: boolean; rounds: string; interval: string }>();
  mkdirSync(join(DATA_DIR, 'logs'), { recursive: true });
  const started: { name: string; stop: () => Promise<void> }[] = [];
  let stopping = false;
  const stopAll = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      say('stopping…');
      for (const p of started.reverse()) {
        await p.stop().catch((e: unknown) => say(`${p.name}: stop failed: ${(e as Error).message}`));
        say(`${p.name} stopped`);
      }
    }
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    const config = loadConfig();
    const psay = (m: string): void => say(m);
    const temporalBin = ensureTemporal(psay);
    const promBins = ensurePrometheus(psay);

    // Temporal: configured address, else one already running on :7233, else our dev server.
    let temporalAddress = process.env.TEMPORAL_ADDRESS;
    let uiUrl = config.temporal.uiUrl;
    if (!temporalAddress) {
      const [host, portStr] = config.temporal.address.split(':');
      const port = Number(portStr);
      const healthy = (await portOpen(port, host)) &&
        spawnSync(temporalBin, ['operator', 'cluster', 'health', '--address', config.temporal.address], { encoding: 'utf8', timeout: 5000 }).stdout?.includes('SERVING');
      if (healthy) {
        say(`temporal: reusing the server already on ${config.temporal.address}`);
      } else {
        say('temporal: starting the dev server (state in .data/temporal.db)');
        const uiPort = Number(new URL(uiUrl).port || 8233);
        const t = await startTemporalDev(temporalBin, { port, uiPort, dbFile: join(DATA_DIR, 'temporal.db'), logFile: join(DATA_DIR, 'logs', 'temporal.log') });
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
    ];
    const apiPort = (await portOpen(config.api.port)) ? await freePort() : config.api.port;
    const workerMetricsPort = (await portOpen(config.metrics.workerPort)) ? await freePort() : config.metrics.workerPort;
    const childEnv: NodeJS.ProcessEnv = {
      ...process.env,
      TEMPORAL_ADDRESS: temporalAddress,
      DATABASE_URL: databaseUrl,
      SGC_API_TOKENS: JSON.stringify(apiTokens),
      SGC_ENCRYPTION_KEY: process.env.SGC_ENCRYPTION_KEY ?? encryptionKey(),
      API_PORT: String(apiPort),
      SGC__metrics__workerPort: String(workerMetricsPort),
    };

    // Prometheus scraping the API and the worker.
    const promPort = (await portOpen(9090)) ? await freePort() : 9090;
    const promUrl = `http://127.0.0.1:${promPort}`;
    childEnv.PROMETHEUS_URL = process.env.PROMETHEUS_URL ?? promUrl;
    const tmpl = readFileSync(join(ROOT, 'monitoring', 'prometheus.yml.tmpl'), 'utf8');
    const promConfig = join(DATA_DIR, 'prometheus.yml');
    writeFileSync(promConfig, tmpl
      .replace('${ALERTS_FILE}', join(ROOT, 'monitoring', 'alerts.yml'))
      .replace('${API_TARGET}', `127.0.0.1:${apiPort}`)
      .replace('${WORKER_TARGET}', `127.0.0.1:${workerMetricsPort}`));
    const prom = await startPrometheus(promBins.prometheus, { port: promPort, dataDir: join(DATA_DIR, 'prometheus'), configFile: promConfig, logFile: join(DATA_DIR, 'logs', 'prometheus.log') });
    started.push({ name: 'prometheus', stop: prom.stop });

    const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
    const worker: ManagedProcess = spawnManaged(tsx, ['workers/main.ts'], { env: childEnv, logFile: join(DATA_DIR, 'logs', 'worker.log') });
    started.push({ name: 'worker', stop: worker.stop });
    // the worker applies migrations before it serves /metrics; the API starts after it
    await waitFor('worker /metrics', async () => (await fetch(`http://127.0.0.1:${workerMetricsPort}/metrics`)).ok, 180_000, worker.child);
    const apiProc: ManagedProcess = spawnManaged(tsx, ['api/server.ts'], { env: childEnv, logFile: join(DATA_DIR, 'logs', 'api.log') });
    started.push({ name: 'api', stop: apiProc.stop });
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    await waitFor('api /healthz', async () => (await fetch(`${apiUrl}/healthz`)).ok, 120_000, apiProc.child);

    const repoUrl = demoRemote();
    say('up:');
    say(`  API            ${apiUrl}   (OpenAPI ${apiUrl}/docs, metrics ${apiUrl}/metrics)`);
    say(`  Temporal UI    ${uiUrl}`);
    say(`  Prometheus     ${promUrl}`);
    say(`  demo tokens    ${join(DATA_DIR, 'tokens.json')} (admin, operator, 3 agents)`);
    say(`  demo remote    ${repoUrl}`);
    say(`  logs           ${join(DATA_DIR, 'logs')}/`);

    const rounds = opts.smoke ? 3 : Number(opts.rounds);
    const intervalMs = Number(opts.interval) * 1000;
    let round = 0;
    let failures = 0;
    while (!stopping && (rounds === 0 || round < rounds)) {
      round++;
      const t0 = Date.now();
      const r = await workloadRound(apiUrl, tokens, repoUrl, round);
      failures += r.failed.length;
      say(`workload round ${round}: ${r.ok} agents completed create→write→commit→pull→release in ${Date.now() - t0} ms${r.failed.length ? `; ${r.failed.length} failed: ${r.failed.join(' | ')}` : ''}`);
      if (rounds === 0 || round < rounds) await new Promise((res) => setTimeout(res, intervalMs));
    }
    if (opts.smoke) {
      await waitFor('prometheus sees gitops_operations_total', async () => {
        const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent('sum(gitops_operations_total)')}`);
        const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
        return Number(body.data?.result?.[0]?.value[1] ?? 0) > 0;
      }, 30_000);
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
