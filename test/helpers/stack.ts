/** Access to the real stack that jest's globalSetup (test/setup/stack.ts) started for this run. */
export function stackEnv(name: 'SGC_TEST_TEMPORAL_ADDRESS' | 'SGC_TEST_PG_ADMIN_URL' | 'SGC_TEMPORAL_BIN' | 'SGC_PROMETHEUS_BIN' | 'SGC_PROMTOOL_BIN'): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run tests through \`npm test -- <file>\` (jest's globalSetup starts the real stack)`);
  return v;
}
