-- credledger schema, version 1: the log, the key ring, the issued checkpoints, the
-- metadata, the head row and the writer lease. Applied once, in one transaction, by
-- `store::postgres::migrate`; never edited after release (a change is a new file).

CREATE TABLE credledger.log (
    seq    BIGINT PRIMARY KEY CHECK (seq >= 0),
    record BYTEA  NOT NULL
);

-- The log is append-only: a stray UPDATE, DELETE or TRUNCATE fails. (An owner can drop
-- the trigger; the head row, the checkpoints and `replay verify` catch what follows.)
CREATE FUNCTION credledger.log_is_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'credledger.log is append-only (% refused)', TG_OP;
END;
$$;
CREATE TRIGGER log_append_only BEFORE UPDATE OR DELETE ON credledger.log
    FOR EACH ROW EXECUTE FUNCTION credledger.log_is_append_only();
CREATE TRIGGER log_no_truncate BEFORE TRUNCATE ON credledger.log
    FOR EACH STATEMENT EXECUTE FUNCTION credledger.log_is_append_only();

-- credential (16 bytes) || version (u32 big-endian) -> encoded WrappedKey.
CREATE TABLE credledger.keyring (
    key     BYTEA PRIMARY KEY CHECK (length(key) = 20),
    wrapped BYTEA NOT NULL
);

CREATE TABLE credledger.checkpoints (
    size BIGINT PRIMARY KEY CHECK (size >= 0),
    note BYTEA  NOT NULL
);

CREATE TABLE credledger.meta (
    name  TEXT  PRIMARY KEY,
    value BYTEA NOT NULL
);

-- The ledger's head record, advanced in the transaction of every batch: the log holds
-- records 0..size, record size-1 has BLAKE3 `record_hash`, and only the writer of
-- `epoch` may advance it.
CREATE TABLE credledger.head (
    one         BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    size        BIGINT  NOT NULL CHECK (size >= 0),
    record_hash BYTEA   NOT NULL CHECK (length(record_hash) = 32),
    epoch       BIGINT  NOT NULL CHECK (epoch >= 0)
);
INSERT INTO credledger.head (size, record_hash, epoch)
    VALUES (0, decode(repeat('00', 32), 'hex'), 0);

-- The writer lease: whoever holds an unexpired lease is the one writer; every take-over
-- increments `epoch` (and moves the head row to it, fencing the previous writer).
CREATE TABLE credledger.lease (
    one        BOOLEAN     PRIMARY KEY DEFAULT TRUE CHECK (one),
    epoch      BIGINT      NOT NULL CHECK (epoch >= 0),
    holder     TEXT        NOT NULL,
    address    TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
INSERT INTO credledger.lease (epoch, holder, address, expires_at)
    VALUES (0, '', '', '-infinity');

-- Which database this is, so a node's local projection cache made from another ledger
-- is recognised and rebuilt.
INSERT INTO credledger.meta (name, value)
    VALUES ('store-id', decode(replace(gen_random_uuid()::text, '-', ''), 'hex'));
