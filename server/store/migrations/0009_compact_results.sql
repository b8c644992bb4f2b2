-- Check results, compactly: a row per written batch (about a second of
-- checks from every monitor), its results in parallel arrays of small
-- integers, partitioned by day so that a day past the retention is dropped
-- whole. A row per check cost some 200 bytes with its indexes; this, about
-- 20. Monitors and regions are named by small integer keys.
CREATE TABLE monitor_keys (
    id  text PRIMARY KEY,            -- the monitor's id
    key integer GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE TABLE region_keys (
    name text PRIMARY KEY,
    key  smallint GENERATED ALWAYS AS IDENTITY UNIQUE
);

CREATE TABLE check_batches (
    at        timestamptz NOT NULL,  -- when its first result was made
    monitors  integer[] NOT NULL,    -- monitor_keys.key of each result
    codes     integer[] NOT NULL,    -- outcome | region << 2 | status << 12 (see server/store/monitoring.py)
    offsets   integer[] NOT NULL,    -- milliseconds after `at`
    latencies real[] NOT NULL,       -- milliseconds; -1 when no answer came
    errors    text[]                 -- NULL when every result passed
) PARTITION BY RANGE (at);

-- A day's partition: made by the writer before it writes into that day.
CREATE FUNCTION check_batches_day(day date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    name text := 'check_batches_' || to_char(day, 'YYYYMMDD');
BEGIN
    EXECUTE format(
        'CREATE TABLE IF NOT EXISTS %I PARTITION OF check_batches FOR VALUES FROM (%L) TO (%L)',
        name, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I USING gin (monitors) WITH (fastupdate = off)',
                   name || '_monitors', name);
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I USING brin (at)', name || '_at', name);
END $$;

-- What was kept a row per check moves over, a batch per minute.
INSERT INTO monitor_keys (id) SELECT DISTINCT monitor FROM check_results ORDER BY monitor;
INSERT INTO region_keys (name) SELECT DISTINCT region FROM check_results ORDER BY region;
SELECT check_batches_day(d::date)
  FROM (SELECT DISTINCT (at AT TIME ZONE 'UTC')::date AS d FROM check_results) AS days;
INSERT INTO check_batches (at, monitors, codes, offsets, latencies, errors)
SELECT minute,
       array_agg(m.key ORDER BY r.at),
       array_agg((CASE r.outcome WHEN 'up' THEN 0 WHEN 'degraded' THEN 1 ELSE 2 END)
                 | (g.key << 2) | (least(coalesce(r.status_code, 0), 999) << 12) ORDER BY r.at),
       array_agg((extract(epoch FROM r.at - minute) * 1000)::integer ORDER BY r.at),
       array_agg(coalesce(r.latency_ms, -1) ORDER BY r.at),
       CASE WHEN bool_or(r.error IS NOT NULL) THEN array_agg(r.error ORDER BY r.at) END
  FROM (SELECT *, date_trunc('minute', at) AS minute FROM check_results) AS r
  JOIN monitor_keys m ON m.id = r.monitor
  JOIN region_keys g ON g.name = r.region
 GROUP BY minute;
DROP TABLE check_results;

-- Rollups are updated in place by every batch: room on each page lets those
-- updates stay on it (HOT), instead of leaving dead copies for vacuum.
ALTER TABLE check_rollups SET (fillfactor = 50);
