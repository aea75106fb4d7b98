/**
 * `sgc flags …`: read and change the routing flags, pull the kill switch, read the audit — the
 * same FlagStore the API uses, straight against Postgres (config postgres.url / DATABASE_URL).
 * Register with `program.addCommand(flagsCommand())`.
 *
 *   flags list
 *   flags set push --percent 10 [--shadow on|off] [--shadow-percent 10] --reason "…"
 *   flags kill --reason "…"          (latches: every flag write is refused until unlatched)
 *   flags unlatch --reason "…"
 *   flags audit [--operation push] [--limit 20]
 */
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig, type Config } from '../../lib/config/index.js';
import { createDb } from '../../lib/db/index.js';
import { FlagStore } from '../../lib/flags/store.js';
import { cliActor } from './rollout.js';

function percent(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 100) throw new InvalidArgumentError('must be a whole number from 0 to 100');
  return n;
}

function onOff(v: string): boolean {
  if (v === 'on' || v === 'true') return true;
  if (v === 'off' || v === 'false') return false;
  throw new InvalidArgumentError('must be on or off');
}

/** `10%`, `0%+shadow` (every agent shadowed), `0%+shadow 10%` (a shadow share) */
const show = (v: { percent: number; shadow: boolean; shadowPercent: number }): string =>
  `${v.percent}%${v.shadow ? `+shadow${v.shadowPercent === 100 ? '' : ` ${v.shadowPercent}%`}` : ''}`;

const flagName = (op: string): string => (op.startsWith('git.') ? op : `git.${op}`);

async function withFlags<T>(loadCfg: () => Config, fn: (flags: FlagStore) => Promise<T>): Promise<T> {
  const config = loadCfg();
  if (!config.postgres.url) throw new Error('no database: set DATABASE_URL (or postgres.url in temporal.yaml)');
  const db = createDb(config.postgres.url, { max: 2, applicationName: 'sgc-cli' });
  try {
    return await fn(new FlagStore(db));
  } finally {
    await db.end();
  }
}

export function flagsCommand(opts: { loadConfig?: () => Config; out?: (line: string) => void } = {}): Command {
  const loadCfg = opts.loadConfig ?? (() => loadConfig());
  const out = opts.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const cmd = new Command('flags').description('per-operation routing flags and the kill switch');

  cmd
    .command('list')
    .description('every flag')
    .action(async () => {
      const flags = await withFlags(loadCfg, (f) => f.list());
      for (const f of flags)
        out(
          `${f.operation.padEnd(12)} ${String(f.percent).padStart(3)}%  shadow ${f.shadow ? `on ${String(f.shadowPercent).padStart(3)}%` : 'off     '}  v${f.version}  ${f.updatedAt.toISOString()} by ${f.updatedBy}`,
        );
    });

  cmd
    .command('set <operation>')
    .description('set one flag (push or git.push); audited')
    .option('--percent <n>', 'share of agents on approach 2', percent)
    .option('--shadow <on|off>', 'run the other approach beside (on = every agent unless --shadow-percent)', onOff)
    .option('--shadow-percent <n>', 'share of agents whose calls get the shadow run (0 = shadow off)', percent)
    .requiredOption('--reason <text>', 'why (required: the audit records it)')
    .action(async (op: string, o: { percent?: number; shadow?: boolean; shadowPercent?: number; reason: string }) => {
      if (o.percent === undefined && o.shadow === undefined && o.shadowPercent === undefined)
        throw new InvalidArgumentError('give --percent, --shadow or --shadow-percent');
      const r = await withFlags(loadCfg, (f) =>
        f.set(
          flagName(op),
          {
            ...(o.percent !== undefined ? { percent: o.percent } : {}),
            ...(o.shadow !== undefined ? { shadow: o.shadow } : {}),
            ...(o.shadowPercent !== undefined ? { shadowPercent: o.shadowPercent } : {}),
          },
          { actor: cliActor(), reason: o.reason },
        ),
      );
      out(
        r.changeId === null
          ? 'unchanged (already set)'
          : `changed ${r.changed.map((c) => `${c.operation} ${c.old.percent}%→${c.new.percent}%${c.old.shadowPercent !== c.new.shadowPercent ? ` shadow ${c.old.shadowPercent}%→${c.new.shadowPercent}%` : ''}`).join(', ')} (change ${r.changeId}, v${r.version})`,
      );
    });

  cmd
    .command('kill')
    .description(
      'kill switch: every flag to 0% and shadow off, latched (every flag write refused) until `flags unlatch`; prints the measured time until every process switched',
    )
    .requiredOption('--reason <text>', 'why (required: the audit records it)')
    .action(async (o: { reason: string }) => {
      const config = loadCfg();
      await withFlags(
        () => config,
        async (f) => {
          const k = await f.kill({ actor: cliActor(), reason: o.reason, source: 'kill', latch: true });
          if (k.eventId === null) return out('every flag was already off; latched');
          const sw = await f.awaitSwitch(k.eventId, { timeoutMs: config.canary.switchTimeoutMs });
          out(
            `killed ${k.changed.length} flag(s) (event ${k.eventId}); ${sw.switched ? `every process switched in ${sw.durationMs?.toFixed(1)} ms` : `NOT switched: ${sw.missing.join(', ')}`}; latched`,
          );
        },
      );
    });

  cmd
    .command('unlatch')
    .description('clear the kill latch (flags stay at 0% until changed); audited')
    .requiredOption('--reason <text>', 'why (required: the audit records it)')
    .action(async (o: { reason: string }) => {
      const r = await withFlags(loadCfg, (f) => f.unlatch({ actor: cliActor(), reason: o.reason }));
      out(r.cleared ? 'unlatched: flag writes are accepted again' : 'the flags were not latched');
    });

  cmd
    .command('audit')
    .description('who changed which flag, when, from what to what, and why')
    .option('--operation <op>', 'one flag')
    .option('--limit <n>', 'entries', (v) => Number(v), 20)
    .action(async (o: { operation?: string; limit: number }) => {
      const entries = await withFlags(loadCfg, (f) =>
        f.audit({ operation: o.operation ? flagName(o.operation) : undefined, limit: o.limit }),
      );
      for (const e of entries) {
        const from = e.old ? show(e.old) : '—';
        const to = e.new ? show(e.new) : '—';
        out(
          `${e.at.toISOString()}  ${e.operation.padEnd(12)} ${from} → ${to}  by ${e.actor}: ${e.reason}  [${e.changeId}]`,
        );
      }
    });
  return cmd;
}
