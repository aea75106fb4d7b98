-- Validation periods (seed 000): one row per run (the workflow id, stable across
-- continue-as-new), its daily snapshots and every decision taken or overridden.

CREATE TABLE validation_runs (
  id           text PRIMARY KEY,
  mode         text NOT NULL CHECK (mode IN ('live', 'backtest')),
  -- the resolved workflow input (config, query overrides, backtest window); sanitised
  input        jsonb NOT NULL DEFAULT '{}'::jsonb,
  status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'decided', 'failed')),
  decision     text CHECK (decision IN ('STAY', 'MIGRATE', 'EXTEND')),
  started_at   timestamptz NOT NULL,
  finished_at  timestamptz
);
CREATE INDEX validation_runs_started_idx ON validation_runs (started_at DESC);

-- One row per run and day: UNIQUE(run_id, day) makes a retried snapshot replace the day
-- instead of adding a second one.
CREATE TABLE validation_snapshots (
  run_id            text NOT NULL REFERENCES validation_runs (id) ON DELETE CASCADE,
  day               int NOT NULL CHECK (day >= 1),
  metric_day_start  timestamptz NOT NULL,
  metric_day_end    timestamptz NOT NULL,
  aggregates        jsonb NOT NULL,
  hourly            jsonb NOT NULL,
  taken_at          timestamptz NOT NULL DEFAULT now(),
  UNIQUE (run_id, day)
);

-- Checkpoint decisions of the rules and operator overrides (audit). `key` names the event
-- ('week-3', 'override-<update id>'), so a retried write of the same event is a no-op.
CREATE TABLE validation_decisions (
  id               bigserial PRIMARY KEY,
  run_id           text NOT NULL REFERENCES validation_runs (id) ON DELETE CASCADE,
  key              text NOT NULL,
  week             int NOT NULL CHECK (week >= 0),
  decision         text NOT NULL CHECK (decision IN ('CONTINUE', 'STAY', 'MIGRATE', 'EXTEND')),
  -- what the rules said at that moment (equals `decision` unless overridden)
  rule_decision    text CHECK (rule_decision IN ('CONTINUE', 'STAY', 'MIGRATE', 'EXTEND')),
  reasons          jsonb NOT NULL DEFAULT '[]'::jsonb,
  forced           boolean NOT NULL DEFAULT false,
  incomplete       boolean NOT NULL DEFAULT false,
  overridden_by    text,
  override_reason  text,
  at               timestamptz NOT NULL,
  UNIQUE (run_id, key),
  CHECK ((overridden_by IS NULL) = (override_reason IS NULL))
);
CREATE INDEX validation_decisions_run_idx ON validation_decisions (run_id, at);
