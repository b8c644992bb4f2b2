-- The organization an ad-hoc room belongs to, so that its rooms can be counted
-- against its quota (Limits.rooms_per_org). An incident's notes room has none:
-- it comes and goes with its incident.
ALTER TABLE streams ADD COLUMN org text;

-- (json operators fail on a NUL anywhere in the event, which old titles may
-- hold: such rooms are left uncounted.)
UPDATE streams s SET org = e.data -> 'room' ->> 'org'
  FROM events e
 WHERE s.kind = 'room' AND e.stream = s.id AND e.version = 1
   AND CASE WHEN position('\u0000' in e.data::text) = 0
            THEN e.data -> 'room' ->> 'incident' IS NULL
            ELSE false END;

CREATE INDEX streams_org ON streams (org, kind) WHERE org IS NOT NULL;
