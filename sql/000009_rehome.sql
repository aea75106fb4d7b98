-- Issue 10 section 3: the kill switch moves live work. A live approach-2 workspace is re-homed to
-- approach 1 (fresh sandbox, same repo/branch, uncommitted changes and unpushed commits carried);
-- its approach-2 row is marked here. One row per workspace per kill in workspace_rehomes, the
-- rollback report's source for re-homed / carried / not-carried workspaces.
ALTER TABLE workspaces ADD COLUMN rehomed_at timestamptz;

CREATE TABLE workspace_rehomes (
  event_id      bigint      NOT NULL DEFAULT 0,           -- rollback_events id of the kill (0: manual)
  workspace_id  text        NOT NULL,
  state         text        NOT NULL CHECK (state IN ('started', 'carried', 'not_carried')),
  reason        text,                                     -- why not carried (no secrets: ids, git exit text)
  prev_status   text        NOT NULL,                     -- the approach-2 row's status before the freeze
  commits       integer     NOT NULL DEFAULT 0,           -- local commits not yet pushed, carried
  files         integer     NOT NULL DEFAULT 0,           -- uncommitted paths carried
  duration_ms   double precision,
  started_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz,
  PRIMARY KEY (event_id, workspace_id)
);
CREATE INDEX workspace_rehomes_event_idx ON workspace_rehomes (event_id, state);
