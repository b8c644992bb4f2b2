-- Whether an organization is named on the server's front page (opt-in, kept
-- by its actor with every append). Organizations made before are unlisted.
ALTER TABLE streams ADD COLUMN listed boolean NOT NULL DEFAULT false;
CREATE INDEX streams_listed ON streams (id) WHERE listed;
