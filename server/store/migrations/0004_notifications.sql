-- Notifications: where an organization's events are sent (channels, chosen by
-- its admins; subscribers, who signed up on the public page), and one row per
-- message to send (deliveries), kept until it is sent or given up on.

CREATE TABLE channels (
    id          text PRIMARY KEY,
    org         text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('webhook', 'slack', 'email')),
    name        text NOT NULL,
    -- webhook: {url, secret}; slack: {url}; email: {to: [address, ...]}
    config      json NOT NULL,
    -- the event kinds sent there: incident.created, incident.updated,
    -- incident.resolved, maintenance.scheduled, maintenance.started,
    -- maintenance.updated, maintenance.completed, maintenance.cancelled,
    -- monitor.down, monitor.up (server/notify/records.py, NotificationEvent)
    events      text[] NOT NULL,
    created_at  timestamptz NOT NULL,
    disabled_at timestamptz
);

CREATE UNIQUE INDEX channels_name ON channels (org, lower(name));

-- Double opt-in: a subscriber gets nothing but the confirmation until
-- confirmed_at is set. Tokens are stored as SHA-256 hashes only.
CREATE TABLE subscribers (
    id                     text PRIMARY KEY,
    org                    text NOT NULL,
    kind                   text NOT NULL CHECK (kind IN ('email', 'webhook')),
    address                text NOT NULL,  -- an email address or a URL
    confirm_token_hash     text NOT NULL,
    confirm_sent_at        timestamptz NOT NULL,  -- throttles repeated sign-ups
    confirmed_at           timestamptz,
    unsubscribe_token_hash text NOT NULL,
    created_at             timestamptz NOT NULL
);

CREATE UNIQUE INDEX subscribers_address ON subscribers (org, kind, address);

-- One message to one channel or one subscriber. Deleting either deletes its
-- deliveries: nothing more is sent to a channel or an address that is gone.
CREATE TABLE deliveries (
    id               text PRIMARY KEY,
    seq              bigserial,  -- the order they were made in: each receiver's order
    org              text NOT NULL,
    channel_id       text REFERENCES channels (id) ON DELETE CASCADE,
    subscriber_id    text REFERENCES subscribers (id) ON DELETE CASCADE,
    event            text NOT NULL,
    payload          json NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    -- when a worker may next try it; a worker that claims it pushes this
    -- forward (a lease), so that another process leaves it alone meanwhile
    next_attempt_at  timestamptz,
    last_error       text,
    last_status_code integer,  -- HTTP status, or SMTP reply code
    created_at       timestamptz NOT NULL,
    sent_at          timestamptz,
    CHECK ((channel_id IS NULL) <> (subscriber_id IS NULL))
);

-- What the worker asks: pending deliveries that are due, soonest first.
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
-- What the admin pages ask: an organization's deliveries, newest first.
CREATE INDEX deliveries_org ON deliveries (org, created_at DESC, id DESC);

-- How far notifications have read each organization's event log: events after
-- this version have not been turned into deliveries yet. Moved forward in the
-- same transaction as the deliveries it made, so each event is told once.
CREATE TABLE notify_cursors (
    stream  text PRIMARY KEY REFERENCES streams (id),
    version bigint NOT NULL
);
-- What was there before notifications existed is history, not news.
INSERT INTO notify_cursors (stream, version) SELECT id, version FROM streams WHERE kind = 'org';
