/** Access to the real stack that scripts/test.ts (npm test) started for this run. */
export function stackEnv(name: 'SGC_TEST_TEMPORAL_ADDRESS' | 'SGC_TEST_PG_ADMIN_URL' | 'SGC_TEMPORAL_BIN' | 'SGC_PROMETHEUS_BIN' | 'SGC_PROMTOOL_BIN'): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run tests through \`npm test -- <file>\` (scripts/test.ts starts the real stack)`);
  return v;
}
