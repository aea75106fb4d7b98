/**
 * `npm run e2b-standin`: E2B's own envd behind the stand-in control plane (lib/sandbox/e2b-standin)
 * as a long-running server, for developing against the `e2b` provider without E2B. Needs root
 * (each sandbox is a Linux user of its own). Point the service at it with
 *
 *   SANDBOX_PROVIDER=e2b SGC__sandbox__e2b__apiUrl=<api> SGC__sandbox__e2b__sandboxUrl=<sandbox> \
 *   E2B_API_KEY=<key> SGC__sandbox__template=base npm start
 *
 * Options: --host, --api-port, --sandbox-port, --max-lifetime-ms (plan cap, default 1 h),
 * --max-concurrent. The API key is E2B_API_KEY when set, else a new one written to
 * .data/e2b-standin.key (mode 0600); it is never printed.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startE2bStandin } from '../lib/sandbox/e2b-standin/index.js';
import { DATA_DIR, ensureEnvd } from './stack.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      'api-port': { type: 'string', default: '3000' },
      'sandbox-port': { type: 'string', default: '3001' },
      'max-lifetime-ms': { type: 'string', default: '3600000' },
      'max-concurrent': { type: 'string' },
    },
  });
  const say = (msg: string): void => void process.stderr.write(`[e2b-standin] ${msg}\n`);
  const num = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
    return n;
  };
  const envdBin = ensureEnvd(say);
  let apiKey = process.env.E2B_API_KEY;
  if (!apiKey) {
    apiKey = `e2b_standin_${randomBytes(16).toString('hex')}`;
    mkdirSync(DATA_DIR, { recursive: true });
    const keyFile = join(DATA_DIR, 'e2b-standin.key');
    writeFileSync(keyFile, `${apiKey}\n`, { mode: 0o600 });
    say(`API key written to ${keyFile}: export E2B_API_KEY=$(cat ${keyFile})`);
  }
  const st = await startE2bStandin({
    envdBin,
    apiKey,
    host: values.host,
    apiPort: num('api-port', values['api-port']),
    sandboxPort: num('sandbox-port', values['sandbox-port']),
    maxLifetimeMs: num('max-lifetime-ms', values['max-lifetime-ms']),
    maxConcurrent: num('max-concurrent', values['max-concurrent']),
    log: (msg, fields) => say(`${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`),
  });
  say(
    `envd ${st.envdVersion}; sandbox.e2b.apiUrl=${st.apiUrl} sandbox.e2b.sandboxUrl=${st.sandboxUrl} (templates: base, code-interpreter-v1)`,
  );
  const stop = (): void => {
    say('stopping: killing every sandbox');
    void st.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`[e2b-standin] FAILED: ${(e as Error).message}\n`);
  process.exit(1);
});
