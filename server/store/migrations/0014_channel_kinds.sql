-- One more kind of notification channel: pagerduty ({routing_key, url}:
-- PagerDuty's Events API v2).
ALTER TABLE channels DROP CONSTRAINT channels_kind_check;
ALTER TABLE channels ADD CONSTRAINT channels_kind_check
    CHECK (kind IN ('webhook', 'slack', 'email', 'pagerduty'));
