-- The citizen side's short-lived state, moved out of each server node's memory so that
-- every node behind the load balancer sees the same (jsjb_storage::citizen_tokens): SMS
-- codes and writers' tickets (digests only), the rate limits' token buckets. Pruned by
-- the server's housekeeping once expired or idle.
--
-- Codes and tickets are ordinary tables: a code sent and a writer verified survive a
-- crash of PostgreSQL and a failover to a standby, like everything acknowledged.
-- The buckets are UNLOGGED: they are written on nearly every citizen request, so they
-- skip the WAL (no flush per rate-limit check); a crash or a failover empties them, and
-- every limit starts full again, which costs nothing but a moment of a flood's slack.
-- `admin migrate-from-sqlite` does not copy them either (import.rs).

-- One live code per key (what it is for and the phone, e.g. letter:13812345678).
CREATE TABLE citizen_codes (
    key           text PRIMARY KEY,
    code_hash     text NOT NULL,
    expires_at    timestamptz NOT NULL,
    attempts_left integer NOT NULL CHECK (attempts_left >= 0)
);
CREATE INDEX citizen_codes_expires ON citizen_codes(expires_at);

CREATE TABLE citizen_tickets (
    ticket_hash text PRIMARY KEY,
    phone       text NOT NULL,
    name        text NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX citizen_tickets_expires ON citizen_tickets(expires_at);

-- key: the limit's name and what it counts by (ip:<address>, phone:sms:<phone>, …).
-- refused: whether the last take found the bucket empty (what the take's one statement
-- returns, as RETURNING sees only the new row).
CREATE UNLOGGED TABLE citizen_buckets (
    key     text PRIMARY KEY,
    tokens  double precision NOT NULL,
    at      timestamptz NOT NULL,
    refused boolean NOT NULL DEFAULT false
);
CREATE INDEX citizen_buckets_at ON citizen_buckets(at);
