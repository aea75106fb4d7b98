/** A line chart rendered as inline SVG on a report page. x is a unix time in seconds or a label. */
export interface ChartSeries {
  name: string;
  points: [x: number | string, y: number | null][];
}

export interface ChartSpec {
  title: string;
  /** unit shown on the y axis, e.g. "s", "$", "%" */
  unit: string;
  series: ChartSeries[];
  /** optional horizontal threshold line (a trigger or SLO target) */
  threshold?: { value: number; label: string };
}

/** A report as stored (Postgres `reports`) and written to the report directory. */
export interface ReportDoc {
  id: string;
  /** 'validation-weekly' | 'validation-final' | 'baseline-production' | 'baseline-slo' | 'baseline-summary' | 'drift-verdict' | 'drill' | ... */
  kind: string;
  /** the run it belongs to (workflow id) */
  runId: string;
  title: string;
  markdown: string;
  html: string;
  /** structured data behind the report, sanitised (no tokens, PII or repo URLs) */
  data: Record<string, unknown>;
  createdAt: Date;
}
