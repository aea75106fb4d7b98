-- Feature flags per git operation (DESIGN.md "Router and flags"), their audit trail, and the
-- records that measure the kill switch (issue 4, parts 1 and 5).
--
-- Every change to `flags` — through FlagStore or by hand in psql — is audited and announced on
-- the `sgc_flags` channel by triggers, so no writer can bypass either. FlagStore passes who, why
-- and the batch id through transaction-local settings (sgc.actor, sgc.reason, sgc.change_id);
-- a direct SQL edit is still audited, as `sql:<role>` with a transaction-derived change id.

-- One global, monotonic version: a whole batch (e.g. a kill switch over every flag) shares one
-- value, so "this process has applied version >= V" means "this process has switched".
CREATE SEQUENCE flag_version_seq;

CREATE TABLE flags (
  operation  text PRIMARY KEY CHECK (operation ~ '^git\.[a-z][a-z_]*$'),
  percent    integer NOT NULL DEFAULT 0 CHECK (percent BETWEEN 0 AND 100),
  shadow     boolean NOT NULL DEFAULT false,
  version    bigint NOT NULL DEFAULT nextval('flag_version_seq'),
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL DEFAULT 'migration'
);

CREATE TABLE flag_audit (
  id        bigserial PRIMARY KEY,
  -- one id per batch: a kill switch that changes every flag is one change
  change_id text NOT NULL,
  operation text NOT NULL,
  actor     text NOT NULL,
  reason    text NOT NULL,
  old       jsonb,          -- null when the flag was created
  new       jsonb,          -- null when the flag was deleted
  version   bigint NOT NULL,
  at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX flag_audit_operation_idx ON flag_audit (operation, id DESC);
CREATE INDEX flag_audit_change_idx ON flag_audit (change_id);

-- A direct SQL edit does not know about versions: give it a fresh one so caches accept it.
CREATE FUNCTION flags_stamp_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.version <= OLD.version THEN
    NEW.version := nextval('flag_version_seq');
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER flags_stamp_version BEFORE UPDATE ON flags
  FOR EACH ROW EXECUTE FUNCTION flags_stamp_version();

CREATE FUNCTION flags_change_id() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('sgc.change_id', true), ''), 'sql-' || txid_current()::text)
$$;

CREATE FUNCTION flags_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  o jsonb := NULL;
  n jsonb := NULL;
  v bigint;
  op text;
BEGIN
  IF TG_OP <> 'INSERT' THEN
    o := jsonb_build_object('percent', OLD.percent, 'shadow', OLD.shadow);
    op := OLD.operation;
    v := OLD.version;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    n := jsonb_build_object('percent', NEW.percent, 'shadow', NEW.shadow);
    op := NEW.operation;
    v := NEW.version;
  END IF;
  IF o IS NOT DISTINCT FROM n THEN
    RETURN NULL; -- same values: nothing to audit
  END IF;
  INSERT INTO flag_audit (change_id, operation, actor, reason, old, new, version)
  VALUES (flags_change_id(), op,
          coalesce(nullif(current_setting('sgc.actor', true), ''), 'sql:' || session_user),
          coalesce(nullif(current_setting('sgc.reason', true), ''), 'direct SQL change'),
          o, n, v);
  RETURN NULL;
END $$;

CREATE TRIGGER flags_audit_row AFTER INSERT OR UPDATE OR DELETE ON flags
  FOR EACH ROW EXECUTE FUNCTION flags_audit_row();

-- One notification per statement, carrying the new values and version, so a cache applies it
-- without reading the table (the hot path of the kill switch). NOTIFY is delivered at commit.
-- Payloads are limited to 8000 bytes: a larger batch is announced as a reload instead.
CREATE FUNCTION flags_notify_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  payload text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM changed) THEN
    RETURN NULL;
  END IF;
  SELECT json_build_object(
           'version', max(version), 'changeId', flags_change_id(),
           'flags', json_agg(json_build_object('operation', operation, 'percent', percent,
                                               'shadow', shadow, 'version', version) ORDER BY operation))::text
    INTO payload FROM changed;
  IF octet_length(payload) > 7900 THEN
    SELECT json_build_object('version', max(version), 'changeId', flags_change_id(), 'reload', true)::text
      INTO payload FROM changed;
  END IF;
  PERFORM pg_notify('sgc_flags', payload);
  RETURN NULL;
END $$;

CREATE TRIGGER flags_notify_update AFTER UPDATE ON flags
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION flags_notify_update();

-- Rows appearing or disappearing are rare (a new operation, a cleanup): caches simply re-read.
CREATE FUNCTION flags_notify_reload() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('sgc_flags', json_build_object(
    'version', (SELECT coalesce(max(version), 0) FROM flags), 'changeId', flags_change_id(), 'reload', true)::text);
  RETURN NULL;
END $$;

CREATE TRIGGER flags_notify_reload AFTER INSERT OR DELETE ON flags
  FOR EACH STATEMENT EXECUTE FUNCTION flags_notify_reload();

-- Seed: every operation starts on approach 1 with no shadow.
SELECT set_config('sgc.actor', 'migration 000002', true),
       set_config('sgc.reason', 'seed: every operation starts on approach 1', true),
       set_config('sgc.change_id', 'seed-000002', true);

INSERT INTO flags (operation) VALUES
  ('git.clone'), ('git.pull'), ('git.push'), ('git.status'),
  ('git.diff'), ('git.read'), ('git.write'), ('git.release');

-- Processes that cache flags (API and worker processes). A process is expected to acknowledge a
-- change while it is open and has been seen recently.
CREATE TABLE process_heartbeats (
  process_id   text PRIMARY KEY,
  started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  last_seen_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  version      bigint NOT NULL DEFAULT 0,   -- highest flag version the process has applied
  closed_at    timestamptz
);

-- Append-only: when a process applied a flag version. The time a process switched for a change
-- of version V is its earliest ack with version >= V (later changes do not overwrite it).
CREATE TABLE flag_acks (
  process_id text NOT NULL,
  version    bigint NOT NULL,
  change_id  text,           -- null when the version came from a re-read (reconnect, reload)
  acked_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (process_id, version)
);
CREATE INDEX flag_acks_version_idx ON flag_acks (version);

-- Kill switches and rollbacks, with the measured time from decision to every process switched.
CREATE TABLE rollback_events (
  id                 bigserial PRIMARY KEY,
  change_id          text UNIQUE,     -- flag_audit.change_id of the batch that set percents to 0
  source             text NOT NULL CHECK (source IN ('kill', 'rollback', 'auto', 'drill')),
  reason             text NOT NULL,
  actor              text NOT NULL,
  version            bigint,          -- a process has switched once it applied >= this version
  decided_at         timestamptz NOT NULL,
  applied_at         timestamptz,     -- the last expected process acknowledged
  switched_at        jsonb NOT NULL DEFAULT '{}'::jsonb,  -- { processId: ack time }
  expected_processes text[],
  missing_processes  text[],          -- expected but not acknowledged within the wait
  duration_ms        double precision
);
CREATE INDEX rollback_events_decided_idx ON rollback_events (decided_at DESC);
