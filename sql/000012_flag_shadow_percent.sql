-- The shadow share (issue 10 item 2): seed 002's shadow week runs approach 2 beside approach 1 for
-- 10 % of traffic, not all of it. `shadow_percent` is the share of agents (0..100, sticky buckets
-- like `percent`: lib/router/router.ts `shadowed`) whose calls get the shadow run; `shadow` stays
-- as "shadow on" and always equals shadow_percent > 0.
--
-- A writer that only knows `shadow` (an older process, a direct SQL edit) keeps working: turning
-- shadow on sets the share to 100 (every agent, as before), turning it off sets it to 0. A writer
-- that sets shadow_percent gets shadow derived from it. Flags that were shadowed before this
-- migration keep shadowing every agent (100).

ALTER TABLE flags ADD COLUMN shadow_percent integer NOT NULL DEFAULT 0
  CHECK (shadow_percent BETWEEN 0 AND 100);

-- Fires before the latch and version triggers (BEFORE triggers run in name order), so those see
-- the synchronised pair.
CREATE FUNCTION flags_sync_shadow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.shadow_percent IS NOT DISTINCT FROM OLD.shadow_percent
     AND NEW.shadow IS DISTINCT FROM OLD.shadow THEN
    NEW.shadow_percent := CASE WHEN NEW.shadow THEN 100 ELSE 0 END;
  ELSIF TG_OP = 'INSERT' AND NEW.shadow AND NEW.shadow_percent = 0 THEN
    NEW.shadow_percent := 100;
  END IF;
  NEW.shadow := NEW.shadow_percent > 0;
  RETURN NEW;
END $$;

CREATE TRIGGER flags_a_sync_shadow BEFORE INSERT OR UPDATE ON flags
  FOR EACH ROW EXECUTE FUNCTION flags_sync_shadow();

UPDATE flags SET shadow_percent = 100 WHERE shadow;

ALTER TABLE flags ADD CONSTRAINT flags_shadow_matches_share CHECK (shadow = (shadow_percent > 0));

-- The audit and the notification carry the share (audit rows written before carry none: readers
-- derive it from shadow).
CREATE OR REPLACE FUNCTION flags_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  o jsonb := NULL;
  n jsonb := NULL;
  v bigint;
  op text;
BEGIN
  IF TG_OP <> 'INSERT' THEN
    o := jsonb_build_object('percent', OLD.percent, 'shadow', OLD.shadow, 'shadowPercent', OLD.shadow_percent);
    op := OLD.operation;
    v := OLD.version;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    n := jsonb_build_object('percent', NEW.percent, 'shadow', NEW.shadow, 'shadowPercent', NEW.shadow_percent);
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

CREATE OR REPLACE FUNCTION flags_notify_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  payload text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM changed) THEN
    RETURN NULL;
  END IF;
  SELECT json_build_object(
           'version', max(version), 'changeId', flags_change_id(),
           'flags', json_agg(json_build_object('operation', operation, 'percent', percent,
                                               'shadow', shadow, 'shadowPercent', shadow_percent,
                                               'version', version) ORDER BY operation))::text
    INTO payload FROM changed;
  IF octet_length(payload) > 7900 THEN
    SELECT json_build_object('version', max(version), 'changeId', flags_change_id(), 'reload', true)::text
      INTO payload FROM changed;
  END IF;
  PERFORM pg_notify('sgc_flags', payload);
  RETURN NULL;
END $$;

-- Raising the share is raising a flag: refused while the kill switch is latched.
CREATE OR REPLACE FUNCTION flags_refuse_while_latched() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  l flag_latch%ROWTYPE;
BEGIN
  IF NEW.percent > OLD.percent OR (NEW.shadow AND NOT OLD.shadow) OR NEW.shadow_percent > OLD.shadow_percent THEN
    SELECT * INTO l FROM flag_latch WHERE id;
    IF l.latched THEN
      RAISE EXCEPTION 'flags are latched by the kill switch since % (by %: %); an admin must unlatch first', l.since, l.actor, l.reason
        USING ERRCODE = 'SGL01';
    END IF;
  END IF;
  RETURN NEW;
END $$;
