//! Every SQL statement the PostgreSQL backend runs, in one place (the migrations, which
//! create the schema, are the files under `migrations/`).
//!
//! Tables live in the schema `credledger`; `docs/POSTGRES.md` has their layout.
//!
//! **Invariants:** every statement that changes the log, the key ring, the metadata or
//! the head runs inside a transaction that first passes [`FENCE`] or [`ADVANCE_HEAD`]
//! (the writer's epoch still holds the head row), so a writer that lost its lease
//! writes nothing; the log is only ever inserted into ([`INSERT_RECORDS`]); values are
//! bound as parameters, never formatted into the text.

// --- Migrations (`migrate`) -----------------------------------------------------------

/// The schema and the table of applied migrations.
pub(super) const CREATE_MIGRATIONS: &str = "
    CREATE SCHEMA IF NOT EXISTS credledger;
    CREATE TABLE IF NOT EXISTS credledger.schema_migrations (
        version    INTEGER     PRIMARY KEY,
        name       TEXT        NOT NULL,
        checksum   BYTEA       NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )";

/// Serialises migrations of concurrently starting nodes (a transaction-scoped lock).
pub(super) const LOCK_MIGRATIONS: &str = "SELECT pg_advisory_xact_lock(7164823390178504242)";

pub(super) const APPLIED_MIGRATIONS: &str =
    "SELECT version, name, checksum FROM credledger.schema_migrations ORDER BY version";

pub(super) const RECORD_MIGRATION: &str =
    "INSERT INTO credledger.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)";

/// Whether the schema exists at all (read-only openers refuse an empty database).
pub(super) const SCHEMA_EXISTS: &str =
    "SELECT to_regclass('credledger.schema_migrations') IS NOT NULL";

// --- Settings ---------------------------------------------------------------------------

/// `synchronous_commit` and `fsync` as the server applies them to this session.
pub(super) const DURABILITY_SETTINGS: &str =
    "SELECT current_setting('synchronous_commit'), current_setting('fsync')";

// --- The log ------------------------------------------------------------------------------

pub(super) const READ_RECORD: &str = "SELECT record FROM credledger.log WHERE seq = $1";

pub(super) const READ_RANGE: &str =
    "SELECT seq, record FROM credledger.log WHERE seq >= $1 ORDER BY seq LIMIT $2";

/// The last position plus one (0 when empty), from the log itself (not the head row).
pub(super) const NEXT_SEQ: &str = "SELECT seq + 1 FROM credledger.log ORDER BY seq DESC LIMIT 1";

/// Inserts a batch of records: `$1` the positions, `$2` the bytes.
pub(super) const INSERT_RECORDS: &str = "
    INSERT INTO credledger.log (seq, record)
    SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[])";

// --- The head row and fencing -------------------------------------------------------

pub(super) const READ_HEAD: &str = "SELECT size, record_hash, epoch FROM credledger.head WHERE one";

/// Advances the head from `$2` to `$1` (record hash `$3`) if the writer `$4` still holds
/// it. One row: go on; no row: the lease is lost (or the head moved), roll back.
pub(super) const ADVANCE_HEAD: &str = "
    UPDATE credledger.head SET size = $1, record_hash = $3
    WHERE one AND size = $2 AND epoch = $4";

/// Locks the head row for a writer's change that adds no record (key ring, metadata)
/// if the writer `$1` still holds it. No row: the lease is lost.
pub(super) const FENCE: &str =
    "SELECT size FROM credledger.head WHERE one AND epoch = $1 FOR UPDATE";

// --- Key ring, metadata, checkpoints ----------------------------------------------------

/// Stores data keys: `$1` the keys, `$2` the wrapped keys.
pub(super) const PUT_KEYS: &str = "
    INSERT INTO credledger.keyring (key, wrapped)
    SELECT * FROM UNNEST($1::BYTEA[], $2::BYTEA[])
    ON CONFLICT (key) DO UPDATE SET wrapped = EXCLUDED.wrapped";

/// Deletes data keys (a destroy, retention, orphans): `$1` the keys.
pub(super) const DELETE_KEYS: &str = "DELETE FROM credledger.keyring WHERE key = ANY($1::BYTEA[])";

pub(super) const READ_KEYRING: &str = "SELECT key, wrapped FROM credledger.keyring ORDER BY key";

/// Shortens how long deleted data keys linger as dead tuples (after a destroy). Cannot
/// run inside a transaction.
pub(super) const VACUUM_KEYRING: &str = "VACUUM (FULL) credledger.keyring";

pub(super) const READ_META: &str = "SELECT value FROM credledger.meta WHERE name = $1";

pub(super) const PUT_META: &str = "
    INSERT INTO credledger.meta (name, value) VALUES ($1, $2)
    ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value";

pub(super) const DELETE_META: &str = "DELETE FROM credledger.meta WHERE name = $1";

/// The state snapshot (migration 3), if one was stored.
pub(super) const READ_SNAPSHOT: &str = "SELECT bytes FROM credledger.snapshot WHERE one";

/// Replaces the state snapshot with `$1`.
pub(super) const PUT_SNAPSHOT: &str = "
    INSERT INTO credledger.snapshot (one, bytes) VALUES (TRUE, $1)
    ON CONFLICT (one) DO UPDATE SET bytes = EXCLUDED.bytes";

/// One row if the writer `$1` holds the head, without locking it (a snapshot's check).
pub(super) const HOLDS_EPOCH: &str = "SELECT size FROM credledger.head WHERE one AND epoch = $1";

pub(super) const READ_CHECKPOINT: &str = "SELECT note FROM credledger.checkpoints WHERE size = $1";

pub(super) const READ_CHECKPOINTS: &str =
    "SELECT size, note FROM credledger.checkpoints ORDER BY size";

pub(super) const LATEST_CHECKPOINT: &str =
    "SELECT size, note FROM credledger.checkpoints ORDER BY size DESC LIMIT 1";

/// Insert-if-absent; the stored note is read back after.
pub(super) const INSERT_CHECKPOINT: &str = "
    INSERT INTO credledger.checkpoints (size, note) VALUES ($1, $2)
    ON CONFLICT (size) DO NOTHING";

pub(super) const READ_COSIGNATURES: &str =
    "SELECT lines FROM credledger.cosignatures WHERE origin = $1 AND size = $2";

/// Replaces the stored lines (one writer merges them; see `CheckpointStore`).
pub(super) const PUT_COSIGNATURES: &str = "
    INSERT INTO credledger.cosignatures (origin, size, lines) VALUES ($1, $2, $3)
    ON CONFLICT (origin, size) DO UPDATE SET lines = EXCLUDED.lines";

pub(super) const READ_LOG_CHECKPOINT: &str =
    "SELECT note FROM credledger.log_checkpoints WHERE origin = $1 AND size = $2";

pub(super) const READ_LOG_CHECKPOINTS: &str =
    "SELECT size, note FROM credledger.log_checkpoints WHERE origin = $1 ORDER BY size";

pub(super) const LATEST_LOG_CHECKPOINT: &str = "
    SELECT size, note FROM credledger.log_checkpoints WHERE origin = $1
    ORDER BY size DESC LIMIT 1";

/// Insert-if-absent; the stored note is read back after.
pub(super) const INSERT_LOG_CHECKPOINT: &str = "
    INSERT INTO credledger.log_checkpoints (origin, size, note) VALUES ($1, $2, $3)
    ON CONFLICT (origin, size) DO NOTHING";

// --- The writer lease (`lease`) ---------------------------------------------------------

/// The lease as it stands, with the milliseconds left by the server's clock.
pub(super) const READ_LEASE: &str = "
    SELECT epoch, holder, address,
           GREATEST(0, EXTRACT(EPOCH FROM (expires_at - clock_timestamp())) * 1000)::BIGINT
    FROM credledger.lease WHERE one";

/// Takes the lease for holder `$1` at address `$2` for `$3` ms if it is free (expired,
/// never held, or released), incrementing the epoch. One row: the new epoch.
pub(super) const TAKE_LEASE: &str = "
    UPDATE credledger.lease
    SET epoch = epoch + 1, holder = $1, address = $2,
        expires_at = clock_timestamp() + $3 * INTERVAL '1 millisecond'
    WHERE one AND expires_at < clock_timestamp()
    RETURNING epoch";

/// Moves the head row to the new epoch `$1`, in the transaction of [`TAKE_LEASE`]: from
/// now on the previous writer's [`ADVANCE_HEAD`] and [`FENCE`] find no row.
pub(super) const CLAIM_HEAD: &str = "
    UPDATE credledger.head SET epoch = $1 WHERE one
    RETURNING size, record_hash";

/// Extends the lease of epoch `$1` by `$2` ms. No row: it was taken over.
pub(super) const RENEW_LEASE: &str = "
    UPDATE credledger.lease
    SET expires_at = clock_timestamp() + $2 * INTERVAL '1 millisecond'
    WHERE one AND epoch = $1
    RETURNING epoch";

/// Gives the lease of epoch `$1` up (a clean shutdown), so another node need not wait
/// for it to expire.
pub(super) const RELEASE_LEASE: &str = "
    UPDATE credledger.lease SET expires_at = '-infinity'
    WHERE one AND epoch = $1";
