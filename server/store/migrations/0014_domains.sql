-- Host names organizations claim for their public pages (custom domains):
-- one organization per name, kept by its actor with the events that change
-- them (its state holds the same list), gone with the organization's stream.
CREATE TABLE domains (
    host   text PRIMARY KEY,
    stream text NOT NULL REFERENCES streams (id) ON DELETE CASCADE
);
CREATE INDEX domains_stream ON domains (stream);
