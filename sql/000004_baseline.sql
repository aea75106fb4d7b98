-- Production baseline runs (seed 003) and drift reviews (seed 001), with their samples.
--
-- Samples are written as they are taken, one row per window, so a run that stops (breaker,
-- cancel, crash) keeps everything it collected. The unique keys make a retried write land on
-- the same row: an activity retried after a worker crash can never duplicate a sample.
-- Nothing here holds a token: `config` is the run's input after sanitizeConfig (token
-- *references* only, URLs without credentials or query).

CREATE TABLE baseline_runs (
  id            text PRIMARY KEY,                       -- run id (the workflow id, file-name safe)
  status        text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'finished')),
  phase         text NOT NULL DEFAULT 'preflight',      -- current stage, as in the workflow's status query
  config        jsonb NOT NULL,                         -- sanitised workflow input
  environment   jsonb NOT NULL DEFAULT '{}'::jsonb,     -- captured at start (worker, target, flags)
  config_digest text,
  started_at    timestamptz NOT NULL,
  finished_at   timestamptz,
  outcome       text CHECK (outcome IN ('ok', 'tripped', 'cancelled', 'failed')),
  decision      text,                                   -- go | no-go | tripped | cancelled
  trip_reason   text
);

CREATE TABLE baseline_samples (
  run_id      text NOT NULL REFERENCES baseline_runs (id) ON DELETE CASCADE,
  phase       text NOT NULL CHECK (phase IN ('warmup', 'baseline', 'extended', 'fallback')),
  sample_num  integer NOT NULL CHECK (sample_num >= 1),
  taken_at    timestamptz NOT NULL,                     -- end of the window
  window_seconds double precision NOT NULL,
  values      jsonb NOT NULL,                           -- CSV column → number | null (NA)
  load_stats  jsonb NOT NULL DEFAULT '{}'::jsonb,       -- the load engine's own view of the window
  UNIQUE (run_id, phase, sample_num)
);

CREATE TABLE drift_reviews (
  id               text PRIMARY KEY,                    -- review id (the workflow id, file-name safe)
  status           text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'finished')),
  target           jsonb NOT NULL,                      -- { job, instance }
  duration_seconds integer NOT NULL,
  interval_seconds integer NOT NULL,
  started_at       timestamptz NOT NULL,                -- T0
  finished_at      timestamptz,
  passed           boolean,
  met              integer,
  verdict          jsonb
);

CREATE TABLE drift_samples (
  review_id   text NOT NULL REFERENCES drift_reviews (id) ON DELETE CASCADE,
  sample_num  integer NOT NULL CHECK (sample_num >= 0),  -- 0 is the T0 capture
  taken_at    timestamptz NOT NULL,
  values      jsonb NOT NULL,                            -- DriftSample fields → number | null
  UNIQUE (review_id, sample_num)
);
