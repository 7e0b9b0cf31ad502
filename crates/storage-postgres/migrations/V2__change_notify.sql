-- Pokes across server nodes: every committed change is announced on the channel
-- `jsjb_changes` as "<seq> <unit> [<previous unit>]" (listen.rs). NOTIFY is delivered
-- when the transaction commits, in commit order, and never for one rolled back, so a
-- node is never poked for a change a desktop could not fetch yet.
CREATE FUNCTION jsjb_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jsjb_changes',
        NEW.seq::text || ' ' || NEW.unit_id::text || coalesce(' ' || NEW.prev_unit_id::text, ''));
    RETURN NULL;
END;
$$;
CREATE TRIGGER changes_notify AFTER INSERT ON changes
    FOR EACH ROW EXECUTE FUNCTION jsjb_notify_change();
