/**
 * `sgc dashboard`: prints the Grafana dashboard JSON for the live configuration (its trigger
 * panels use the configured queries and thresholds). monitoring/grafana/dashboards/ holds the
 * output for the shipped defaults.
 *
 *   npm run --silent cli -- dashboard > monitoring/grafana/dashboards/sandbox-git-control.json
 */
import { Command } from 'commander';
import { loadConfig, type Config } from '../../lib/config/index.js';
import { grafanaDashboard } from '../../lib/dashboard/grafana.js';

export function dashboardCommand(opts: { loadConfig?: () => Config; out?: (line: string) => void } = {}): Command {
  const loadCfg = opts.loadConfig ?? (() => loadConfig());
  const out = opts.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  return new Command('dashboard')
    .description(
      'print the Grafana dashboard JSON for the live configuration (thresholds and queries from temporal.yaml)',
    )
    .action(() => {
      out(JSON.stringify(grafanaDashboard(loadCfg()), null, 2));
    });
}
