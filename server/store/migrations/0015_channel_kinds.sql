-- Two more kinds of notification channel: apprise ({url, service, masked_url}:
-- an Apprise URL, and what is shown in its place) and pagerduty ({routing_key,
-- url}: PagerDuty's Events API v2).
ALTER TABLE channels DROP CONSTRAINT channels_kind_check;
ALTER TABLE channels ADD CONSTRAINT channels_kind_check
    CHECK (kind IN ('webhook', 'slack', 'email', 'apprise', 'pagerduty'));
