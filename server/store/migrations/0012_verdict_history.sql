-- Uptime is worked out from the verdicts, not from every region's checks: a
-- row per change of a monitor's verdict, written with the event that made it
-- (server/store/eventlog.py, the append statement), read by monitor or by
-- organization for a window.
CREATE TABLE monitor_verdicts (
    monitor text NOT NULL,
    stream  text NOT NULL,           -- its organization's
    version bigint NOT NULL,         -- the event that set it
    at      timestamptz NOT NULL,
    verdict text NOT NULL,           -- unknown | up | degraded | down
    PRIMARY KEY (monitor, at, version)
);
CREATE INDEX monitor_verdicts_stream ON monitor_verdicts (stream, monitor, at);

-- The verdicts of the past, from the log. An event whose JSON PostgreSQL
-- cannot read (a NUL stored before such text was refused) is passed over.
CREATE TEMP TABLE last_verdicts (monitor text PRIMARY KEY, verdict text NOT NULL) ON COMMIT DROP;
DO $$
DECLARE
    r record;
    id text;
    v text;
BEGIN
    FOR r IN SELECT stream, version, name, data, at FROM events
              WHERE name IN ('monitor.created', 'monitor.updated')
              ORDER BY stream, version
    LOOP
        BEGIN
            id := r.data -> 'monitor' ->> 'id';
            v := r.data -> 'monitor' ->> 'verdict';
        EXCEPTION WHEN others THEN
            CONTINUE;
        END;
        IF id IS NULL OR v IS NULL THEN
            CONTINUE;
        END IF;
        IF v IS DISTINCT FROM (SELECT verdict FROM last_verdicts WHERE monitor = id) THEN
            INSERT INTO monitor_verdicts (monitor, stream, version, at, verdict)
            VALUES (id, r.stream, r.version, r.at, v) ON CONFLICT DO NOTHING;
            INSERT INTO last_verdicts VALUES (id, v)
            ON CONFLICT (monitor) DO UPDATE SET verdict = EXCLUDED.verdict;
        END IF;
    END LOOP;
END $$;

-- Rollups are kept per region too (region_keys.key), so each region's own
-- figures can be shown beside the verdict's uptime. Rows rolled up before
-- this have region 0: all regions together.
ALTER TABLE check_rollups ADD COLUMN region smallint NOT NULL DEFAULT 0;
ALTER TABLE check_rollups DROP CONSTRAINT check_rollups_pkey;
ALTER TABLE check_rollups ADD PRIMARY KEY (monitor, hour, region);
