/** Default PromQL for the baseline phase, keyed by quantity name; overridable under `queries:` in temporal.yaml. */
export const BASELINE_QUERIES: Record<string, string> = {};
