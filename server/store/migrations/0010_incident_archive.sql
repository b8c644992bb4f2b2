-- Incidents resolved long ago (Limits.incident_memory_days) leave their
-- organization's actor: their last state is the `incident.archived` event in
-- the log, found through this table.
CREATE TABLE incident_archive (
    stream     text NOT NULL,
    id         text NOT NULL,
    version    bigint NOT NULL,      -- the incident.archived event
    started_at timestamptz NOT NULL,
    PRIMARY KEY (stream, id)
);
CREATE INDEX incident_archive_started ON incident_archive (stream, started_at DESC);
