-- Who made each API token and invitation (a user, or another token), so that
-- their power can follow their maker's: removing or demoting a member revokes
-- or caps what they made. `created_by` stays the readable name.
ALTER TABLE api_tokens ADD COLUMN creator_kind text, ADD COLUMN creator_id text;
ALTER TABLE invitations ADD COLUMN creator_kind text, ADD COLUMN creator_id text;

-- Earlier rows named their maker by email (a user) or by 'token:<name>'.
UPDATE api_tokens t SET creator_kind = 'user', creator_id = u.id
  FROM users u WHERE t.created_by = u.email;
UPDATE invitations i SET creator_kind = 'user', creator_id = u.id
  FROM users u WHERE i.created_by = u.email;
UPDATE api_tokens t SET creator_kind = 'token', creator_id = m.id
  FROM api_tokens m
 WHERE t.creator_kind IS NULL AND t.org = m.org AND t.created_by = 'token:' || m.name;
UPDATE invitations i SET creator_kind = 'token', creator_id = m.id
  FROM api_tokens m
 WHERE i.creator_kind IS NULL AND i.org = m.org AND i.created_by = 'token:' || m.name;

CREATE INDEX api_tokens_creator ON api_tokens (creator_kind, creator_id) WHERE revoked_at IS NULL;
