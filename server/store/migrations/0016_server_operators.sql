-- A person who runs the server: what an operator token with org '*' may read
-- and do on the server itself (GET /api/v1/monitoring, the server's audit
-- log, creating organizations), through a login. Set from the command line
-- (switchboard user create --operator, switchboard user operator).
ALTER TABLE users ADD COLUMN operator boolean NOT NULL DEFAULT false;
