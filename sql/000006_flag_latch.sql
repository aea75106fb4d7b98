-- The kill latch (issue 9 item 5): the kill switch (POST /v1/flags/kill, `sgc flags kill`) sets
-- every flag to 0 and latches; while latched no flag may be raised — not by the API, the weekly
-- drill, a canary stage, nor a direct SQL edit — until an admin unlatches with a reason.
-- FlagStore checks the latch inside each change's transaction (409 with the reason); the trigger
-- below is the backstop for writers that do not go through FlagStore.

-- One row: the latch now. Lock order for writers: this row first, then the flags.
CREATE TABLE flag_latch (
  id               boolean PRIMARY KEY DEFAULT true CHECK (id),
  latched          boolean NOT NULL DEFAULT false,
  reason           text,
  actor            text,
  since            timestamptz,
  -- rollback_events.id of the kill that set it (null when every flag was already off)
  rollback_event_id bigint
);
INSERT INTO flag_latch (id) VALUES (true);

-- Append-only audit: every kill that latched (also one that found the latch already set) and
-- every unlatch, with who and why.
CREATE TABLE flag_latch_events (
  id                bigserial PRIMARY KEY,
  action            text NOT NULL CHECK (action IN ('latch', 'unlatch')),
  actor             text NOT NULL,
  reason            text NOT NULL,
  rollback_event_id bigint,
  at                timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX flag_latch_events_at_idx ON flag_latch_events (at DESC);

-- Lowering a flag is always allowed (the kill itself does it); raising one while latched is not.
-- SQLSTATE SGL01 lets FlagStore recognise the refusal.
CREATE FUNCTION flags_refuse_while_latched() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  l flag_latch%ROWTYPE;
BEGIN
  IF NEW.percent > OLD.percent OR (NEW.shadow AND NOT OLD.shadow) THEN
    SELECT * INTO l FROM flag_latch WHERE id;
    IF l.latched THEN
      RAISE EXCEPTION 'flags are latched by the kill switch since % (by %: %); an admin must unlatch first', l.since, l.actor, l.reason
        USING ERRCODE = 'SGL01';
    END IF;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER flags_refuse_while_latched BEFORE UPDATE ON flags
  FOR EACH ROW EXECUTE FUNCTION flags_refuse_while_latched();
