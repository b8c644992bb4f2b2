-- A day's partition, made by whichever writer comes first: two writers racing
-- to make the same day (a flush and the periodic flusher, two nodes) would
-- both find it missing, and the second CREATE would fail ("already exists")
-- and take its batch of results with it. The second now waits for the first
-- (a lock on the partition's name, held to the end of the transaction), then
-- finds it made.
CREATE OR REPLACE FUNCTION check_batches_day(day date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    name text := 'check_batches_' || to_char(day, 'YYYYMMDD');
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext(name));
    EXECUTE format(
        'CREATE TABLE IF NOT EXISTS %I PARTITION OF check_batches FOR VALUES FROM (%L) TO (%L)',
        name, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I USING gin (monitors) WITH (fastupdate = off)',
                   name || '_monitors', name);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I USING brin (at)', name || '_at', name);
END $$;
