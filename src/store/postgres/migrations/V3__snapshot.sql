-- credledger schema, version 3: the state snapshot (docs/FORMAT.md, State snapshot), one
-- row replaced as a whole. Its bytes are authenticated by the ledger and checked against
-- the log before use; the database is not trusted with them.

CREATE TABLE credledger.snapshot (
    one   BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    bytes BYTEA   NOT NULL
);
