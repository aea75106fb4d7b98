-- Reports of every phase (validation weekly/final, baseline production/SLO/summary, drift
-- verdict, rollback drill). Markdown and HTML are kept so GET /v1/reports/:id serves the page
-- without re-rendering; `data` is the sanitised structure behind it.
CREATE TABLE reports (
  id          text PRIMARY KEY,
  kind        text NOT NULL,
  run_id      text NOT NULL,
  title       text NOT NULL,
  markdown    text NOT NULL,
  html        text NOT NULL,
  data        jsonb NOT NULL DEFAULT '{}'::jsonb,
  files       jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reports_run_idx ON reports (run_id, created_at);
CREATE INDEX reports_kind_idx ON reports (kind, created_at DESC);
