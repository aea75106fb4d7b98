-- The git service's state (seed 004, "Database Schema"), shared by approach 1 (simple) and
-- approach 2 (pooled). Forward-only: never edit after it is applied; add 000002+ instead.

-- One row per sandbox either approach created. Columns as in seed 004; additions are marked.
-- A pre-warmed pool sandbox belongs to no agent yet: agent_id / task_id / repo_url are '' until
-- it is acquired (the seed's NOT NULLs are kept, with '' meaning "unassigned").
CREATE TABLE git_sandboxes (
  id             serial PRIMARY KEY,
  sandbox_id     text        NOT NULL UNIQUE,
  agent_id       text        NOT NULL DEFAULT '',
  task_id        text        NOT NULL DEFAULT '',
  repo_url       text        NOT NULL DEFAULT '',          -- sanitised (no userinfo, no query)
  branch         text        NOT NULL DEFAULT 'main',
  agent_branch   text,
  status         text        NOT NULL DEFAULT 'initializing'
                 CHECK (status IN ('initializing', 'ready', 'in_use', 'error', 'terminated')),
  last_operation text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  last_used_at   timestamptz,
  terminated_at  timestamptz,
  error_count    integer     NOT NULL DEFAULT 0 CHECK (error_count >= 0),
  -- AES-256-GCM ciphertext (lib/crypto.ts): errors can quote remotes and paths (seed 004, Security)
  last_error     bytea,
  config         jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- no secrets
  is_pooled      boolean     NOT NULL DEFAULT true,
  pool_size      integer     NOT NULL DEFAULT 1 CHECK (pool_size >= 1),
  -- additions --
  provider       text        NOT NULL DEFAULT 'local' CHECK (provider IN ('local', 'e2b')),
  -- when the pool retires it (created_at + pool TTL); for approach 1, the sandbox lifetime
  expires_at     timestamptz,
  -- cost is accrued exactly once across processes by advancing this mark (lib/store/sandboxes.ts)
  cost_accrued_until timestamptz NOT NULL DEFAULT now(),
  CHECK (status <> 'terminated' OR terminated_at IS NOT NULL),
  CHECK (status <> 'in_use' OR agent_id <> '')
);
-- sandbox_id is indexed by its UNIQUE constraint
CREATE INDEX git_sandboxes_agent_id_idx ON git_sandboxes (agent_id);
CREATE INDEX git_sandboxes_task_id_idx ON git_sandboxes (task_id);
CREATE INDEX git_sandboxes_agent_branch_idx ON git_sandboxes (agent_branch);
CREATE INDEX git_sandboxes_live_idx ON git_sandboxes (is_pooled, status) WHERE status <> 'terminated';

-- One row per workspace per approach. While a rollout dual-writes, the same workspace id can be
-- recorded by both approaches, so the key is (approach, id); reconciliation compares the pairs.
CREATE TABLE workspaces (
  id            text        NOT NULL,
  approach      text        NOT NULL CHECK (approach IN ('simple', 'pooled')),
  agent_id      text        NOT NULL,
  task_id       text        NOT NULL,
  repo_url      text        NOT NULL,                      -- sanitised
  base_branch   text        NOT NULL,
  agent_branch  text        NOT NULL,
  sandbox_id    text        NOT NULL,
  dir           text        NOT NULL,                      -- inside the sandbox, e.g. ws/<id>
  status        text        NOT NULL DEFAULT 'initializing'
                CHECK (status IN ('initializing', 'ready', 'in_use', 'error', 'terminated')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  released_at   timestamptz,
  PRIMARY KEY (approach, id),
  CHECK (status <> 'terminated' OR released_at IS NOT NULL)
);
CREATE INDEX workspaces_id_idx ON workspaces (id);
CREATE INDEX workspaces_agent_id_idx ON workspaces (agent_id);
CREATE INDEX workspaces_sandbox_id_idx ON workspaces (sandbox_id);

-- What ran, on which approach, how it ended. No secrets: details hold ids, branches, commits.
CREATE TABLE operation_log (
  id             bigserial   PRIMARY KEY,
  workspace_id   text,
  agent_id       text,
  operation      text        NOT NULL,
  approach       text        NOT NULL CHECK (approach IN ('simple', 'pooled')),
  outcome        text        NOT NULL CHECK (outcome IN ('success', 'error')),
  error_category text        NOT NULL DEFAULT 'none'
                 CHECK (error_category IN ('none', 'network', 'timeout', 'conflict', 'auth', 'rate_limit', 'other')),
  duration_ms    double precision NOT NULL CHECK (duration_ms >= 0),
  cost_dollars   numeric(14, 8)   NOT NULL DEFAULT 0 CHECK (cost_dollars >= 0),
  attempts       integer     NOT NULL DEFAULT 1 CHECK (attempts >= 0),
  started_at     timestamptz NOT NULL,
  details        jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX operation_log_started_at_idx ON operation_log (started_at);
CREATE INDEX operation_log_workspace_idx ON operation_log (workspace_id);
CREATE INDEX operation_log_approach_op_idx ON operation_log (approach, operation, started_at);
-- retries of one operation (same workspace id / operation id) are found by this key, to measure
-- first failure → success (gitops_recovery_seconds) across Temporal activity retries
CREATE INDEX operation_log_idempotency_idx ON operation_log ((details->>'idempotencyKey'), operation);

-- The distributed push lock (seed 004 used Redis; Postgres is the store we already run).
-- One row per held lock; an expired row is taken over atomically by the next acquirer.
CREATE SEQUENCE push_lock_fencing_seq;
CREATE TABLE push_locks (
  lock_key      text        PRIMARY KEY,
  holder        text        NOT NULL,
  acquired_at   timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  fencing_token bigint      NOT NULL
);

CREATE TABLE lock_audit (
  id              bigserial   PRIMARY KEY,
  lock_key        text        NOT NULL,
  holder          text        NOT NULL,
  event           text        NOT NULL CHECK (event IN ('acquired', 'released', 'expired_takeover', 'timeout')),
  wait_ms         double precision NOT NULL DEFAULT 0 CHECK (wait_ms >= 0),
  fencing_token   bigint,
  previous_holder text,                                    -- on expired_takeover: whose lock expired
  at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lock_audit_key_at_idx ON lock_audit (lock_key, at);
