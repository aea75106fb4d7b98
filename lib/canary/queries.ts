/** Default PromQL for the canary phase, keyed by quantity name; overridable under `queries:` in temporal.yaml. */
export const CANARY_QUERIES: Record<string, string> = {};
