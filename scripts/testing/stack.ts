/**
 * Access to the real stack started for this process: by jest's globalSetup (test/setup/stack.ts)
 * for a test run, or by bench/run.ts for a benchmark. Both hand the addresses over in these variables.
 */
export function stackEnv(
  name:
    | 'SGC_TEST_TEMPORAL_ADDRESS'
    | 'SGC_TEST_PG_ADMIN_URL'
    | 'SGC_TEMPORAL_BIN'
    | 'SGC_PROMETHEUS_BIN'
    | 'SGC_PROMTOOL_BIN'
    | 'SGC_CHROMIUM_BIN',
): string {
  const v = process.env[name];
  if (!v)
    throw new Error(
      `${name} is not set: run tests through \`npm test -- <file>\` or benchmarks through \`npm run bench -- <name>\` (they start the real stack)`,
    );
  return v;
}
