-- What a request sent with an idempotency key answered, so that a retry with
-- the same key within the window (Limits.idempotency_hours) gets the first
-- answer and changes nothing. An organization's command writes its row in the
-- same statement as its events; other writes reserve a row first and fill it
-- in with their answer.
CREATE TABLE idempotency (
    scope       text NOT NULL,  -- the caller: '<kind>:<id>' of its credential
    key         text NOT NULL,  -- Idempotency-Key, or a command's idempotency_key
    org         text,           -- set for an organization's command
    fingerprint text NOT NULL,  -- a hash of the request: a key reused for another is refused
    status      int,            -- the first answer's HTTP status; NULL: not known yet
    answer      json,           -- its body; NULL when it held a secret shown once
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_created ON idempotency (created_at);
