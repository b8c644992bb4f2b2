-- The event log: one stream per organization (and later per room), each an
-- append-only sequence of events numbered 1, 2, 3... with no gaps.
CREATE TABLE streams (
    id               text PRIMARY KEY,          -- 'org:demo'
    kind             text NOT NULL,             -- 'org'
    version          bigint NOT NULL DEFAULT 0, -- number of events appended
    snapshot_version bigint NOT NULL DEFAULT 0, -- version of the latest snapshot
    wake_at          timestamptz,               -- a timer due while the actor sleeps
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE events (
    stream     text NOT NULL REFERENCES streams (id),
    version    bigint NOT NULL,
    public_seq bigint,          -- seq on the public topic, if the public saw it
    name       text NOT NULL,
    data       json NOT NULL,  -- json, not jsonb: kept byte for byte as published
    at         timestamptz NOT NULL,
    author     text,
    PRIMARY KEY (stream, version)
);

CREATE INDEX events_public_seq ON events (stream, public_seq) WHERE public_seq IS NOT NULL;

-- A snapshot is the actor's whole state after `version` events; start-up
-- loads the latest one and replays the events after it.
CREATE TABLE snapshots (
    stream  text NOT NULL REFERENCES streams (id),
    version bigint NOT NULL,
    state   json NOT NULL,
    at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, version)
);
