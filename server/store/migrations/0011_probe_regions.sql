-- The regions remote probes report from, so that a restarted server knows
-- them: which count when a monitor's quorum is checked, and which probe went
-- silent (server/monitoring/service.py, "probe liveness").
CREATE TABLE probe_regions (
    name       text PRIMARY KEY,
    state      text NOT NULL CHECK (state IN ('live', 'offline')),
    last_seen  timestamptz,            -- its last result (or when it first appeared)
    changed_at timestamptz NOT NULL,   -- when it went live or offline
    told       boolean NOT NULL        -- the organizations were told of that change
);

-- Channels that hear of monitors going down and up hear of the probes that
-- judge them going silent and coming back.
UPDATE channels SET events = events || ARRAY['probe.offline', 'probe.online']
 WHERE events @> ARRAY['monitor.down', 'monitor.up']
   AND NOT events && ARRAY['probe.offline', 'probe.online'];
