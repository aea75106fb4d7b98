/**
 * `sgc runbook`: prints the rollback runbook (seed 002 steps 5 and 8) generated from the live
 * configuration — the same text as GET /v1/runbook (lib/runbook/render.ts).
 *
 *   runbook [--api-url http://127.0.0.1:8080]
 */
import { Command } from 'commander';
import { loadConfig, type Config } from '../../lib/config/index.js';
import { renderRunbook } from '../../lib/runbook/render.js';

/** The API's address as this config serves it (a wildcard listen address is reached on loopback). */
export function apiUrlOf(config: Pick<Config, 'api'>): string {
  const host = config.api.host === '0.0.0.0' || config.api.host === '::' ? '127.0.0.1' : config.api.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.api.port}`;
}

export function runbookCommand(opts: { loadConfig?: () => Config; out?: (line: string) => void } = {}): Command {
  const loadCfg = opts.loadConfig ?? (() => loadConfig());
  const out = opts.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  return new Command('runbook')
    .description(
      'print the rollback runbook (triggers and thresholds, roles, commands, kill switch, verification) from the live configuration',
    )
    .option('--api-url <url>', 'API base URL for the curl commands (default: from the configuration)')
    .action((o: { apiUrl?: string }) => {
      const config = loadCfg();
      out(renderRunbook(config, { apiUrl: o.apiUrl ?? apiUrlOf(config), generatedAt: new Date() }));
    });
}
