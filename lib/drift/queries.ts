/** Default PromQL for the drift phase, keyed by quantity name; overridable under `queries:` in temporal.yaml. */
export const DRIFT_QUERIES: Record<string, string> = {};
