-- What every node keeps in memory besides the changes, announced on the same channel
-- when another node changes it (listen.rs): "units" when a unit is created, renamed,
-- moved or (de)activated (each node's change hub caches the tree's parents), and
-- "routing" when an admin saves routing rules (each node routes by the newest). Once
-- per statement; NOTIFY folds identical payloads of one transaction into one.
CREATE FUNCTION jsjb_notify_setting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jsjb_changes', TG_ARGV[0]);
    RETURN NULL;
END;
$$;
CREATE TRIGGER units_notify AFTER INSERT OR UPDATE ON units
    FOR EACH STATEMENT EXECUTE FUNCTION jsjb_notify_setting('units');
CREATE TRIGGER routing_rules_notify AFTER INSERT OR UPDATE ON routing_rules
    FOR EACH STATEMENT EXECUTE FUNCTION jsjb_notify_setting('routing');
