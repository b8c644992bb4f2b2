-- Each receiver hears its messages in the order they were made, whichever
-- worker (whichever node) sends them: a delivery is claimed only when no
-- earlier one to the same receiver is due or being sent. Being sent is now
-- said apart from waiting for a retry: a worker's lease is `leased_until`
-- (a claimed row's `next_attempt_at` is still pushed to the lease's end, so
-- that a worker that dies leaves it to be tried again then).
ALTER TABLE deliveries ADD COLUMN leased_until timestamptz;

-- What the claim asks of each candidate: the pending deliveries to its
-- receiver that came before it.
CREATE INDEX deliveries_receiver ON deliveries ((coalesce(channel_id, subscriber_id)), seq)
    WHERE status = 'pending';
