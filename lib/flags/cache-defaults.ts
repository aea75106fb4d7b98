/**
 * The flag cache's timing defaults (issue 9 item 6), apart from lib/flags/cache.ts so the config
 * schema can name them without loading pg. A heartbeat every 2 s must be answered within 2 s;
 * 8 s after Postgres last answered, every flag reads 0% (approach 1).
 */
export const FLAG_CACHE_DEFAULTS = {
  heartbeatMs: 2_000,
  heartbeatTimeoutMs: 2_000,
  connectTimeoutMs: 5_000,
  failSafeAfterMs: 8_000,
} as const;
