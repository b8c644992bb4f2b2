-- Which node runs each stream's actor when several nodes share the database:
-- one owner at a time, under a lease that ends at expires_at (the database's
-- clock) unless renewed. The epoch grows with every grant; an append carries
-- its writer's epoch and commits only while the lease still has it.
CREATE TABLE leases (
    stream     text PRIMARY KEY REFERENCES streams (id) ON DELETE CASCADE,
    owner      text NOT NULL,
    epoch      bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
