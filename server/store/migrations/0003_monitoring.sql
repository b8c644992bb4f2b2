-- Uptime checks: every result kept for a retention period, and hourly
-- rollups (kept much longer) that uptime and response-time series come from.
CREATE TABLE check_results (
    monitor     text NOT NULL,
    org         text NOT NULL,
    region      text NOT NULL,
    at          timestamptz NOT NULL,
    outcome     text NOT NULL,       -- up | degraded | down
    latency_ms  real,
    status_code integer,
    error       text
);
CREATE INDEX check_results_monitor_at ON check_results (monitor, at DESC);
CREATE INDEX check_results_at ON check_results (at);

CREATE TABLE check_rollups (
    monitor       text NOT NULL,
    org           text NOT NULL,
    hour          timestamptz NOT NULL,
    checks        integer NOT NULL,
    up            integer NOT NULL,
    degraded      integer NOT NULL,
    down          integer NOT NULL,
    latency_sum   double precision NOT NULL,  -- over the results that have a latency
    latency_count integer NOT NULL,
    latency_max   real,
    PRIMARY KEY (monitor, hour)
);
