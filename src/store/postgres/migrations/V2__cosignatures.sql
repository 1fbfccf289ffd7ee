-- credledger schema, version 2: witness cosignatures (c2sp.org/tlog-cosignature) of the
-- issued checkpoints, and the checkpoints of the tenant logs.
--
-- `cosignatures`: kept beside the notes (an issued note never changes). `origin` is the
-- checkpoint's log (the global log's origin, or a tenant log's); `lines` the signature
-- lines the ledger verified before storing them.
CREATE TABLE credledger.cosignatures (
    origin TEXT   NOT NULL,
    size   BIGINT NOT NULL CHECK (size >= 0),
    lines  BYTEA  NOT NULL,
    PRIMARY KEY (origin, size)
);

-- `log_checkpoints`: the signed notes of each tenant's own tree, by origin and size
-- (the global log's stay in `checkpoints`). Not a cache, like `checkpoints`.
CREATE TABLE credledger.log_checkpoints (
    origin TEXT   NOT NULL,
    size   BIGINT NOT NULL CHECK (size >= 0),
    note   BYTEA  NOT NULL,
    PRIMARY KEY (origin, size)
);
