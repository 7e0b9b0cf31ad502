-- The notices to writers (告知, jsjb_storage::writer_notices): the queue, and how far it
-- has been fed from the changes. It starts at the newest change and remembers that
-- change's time (`since`), so a platform upgraded to it tells no writer about a step
-- taken before. (The SQLite backend's migration 17.)
CREATE TABLE writer_notices (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    letter_id   bigint NOT NULL REFERENCES letters(id),
    step        text NOT NULL CHECK (step IN ('receipt', 'unreachable', 'first_feedback', 'extended', 'closed', 'return_visit')),
    trigger_seq bigint NOT NULL CHECK (trigger_seq >= 1),
    route       text NOT NULL CHECK (route IN ('sms', 'wechat')),
    state       text NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts    bigint NOT NULL CHECK (attempts >= 0),
    text        text NOT NULL,
    next_try_at timestamptz NOT NULL,
    last_error  text,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (letter_id, step, trigger_seq)
);
CREATE INDEX writer_notices_due ON writer_notices (next_try_at) WHERE state = 'pending';
CREATE INDEX writer_notices_letter ON writer_notices (letter_id);
CREATE TABLE writer_notice_feed (
    id     integer PRIMARY KEY CHECK (id = 1),
    cursor bigint NOT NULL,
    since  timestamptz
);
INSERT INTO writer_notice_feed (id, cursor, since)
    SELECT 1, COALESCE(MAX(seq), 0), (SELECT at FROM changes ORDER BY seq DESC LIMIT 1) FROM changes;
