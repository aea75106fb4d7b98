/** Default PromQL for the validation phase, keyed by quantity name; overridable under `queries:` in temporal.yaml. */
export const VALIDATION_QUERIES: Record<string, string> = {};
