-- Issue 9 item 3: who holds a sandbox, and who may change a workspace.

-- A pooled sandbox's lease generation: bumped each time it is handed to an agent. Release, wipe
-- and health check act only for the generation they were given, so a stale attempt (a second
-- DELETE, a release retried while the first still runs) does nothing. releasing_at marks the one
-- release of the current generation that won; a crashed one is taken over after a while.
ALTER TABLE git_sandboxes
  ADD COLUMN lease        bigint NOT NULL DEFAULT 0 CHECK (lease >= 0),
  ADD COLUMN releasing_at timestamptz;

-- A workspace remembers the lease of the sandbox it holds and which create attempt owns it (a
-- retried create supersedes the first; the first may then change nothing). op_* is the
-- per-workspace operation lease: one mutating operation at a time (TTL, renewed while it runs).
-- disk_bytes / file_count: usage for the quota, measured after clone and pull, moved by writes.
ALTER TABLE workspaces
  ADD COLUMN sandbox_lease bigint NOT NULL DEFAULT 0 CHECK (sandbox_lease >= 0),
  ADD COLUMN attempt       bigint NOT NULL DEFAULT 1 CHECK (attempt >= 1),
  ADD COLUMN op_token      uuid,
  ADD COLUMN op_name       text,
  ADD COLUMN op_expires_at timestamptz,
  ADD COLUMN disk_bytes    bigint NOT NULL DEFAULT 0,
  ADD COLUMN file_count    bigint NOT NULL DEFAULT 0;

-- counting an agent's open workspaces (limits.maxOpenWorkspacesPerAgent)
CREATE INDEX workspaces_agent_open_idx ON workspaces (agent_id) WHERE status <> 'terminated';
