//! The tables in the caller's schema: the embedded migrations, applied at
//! connect and tracked in a `schema_migrations` table, and the SQL text of
//! every statement, written once with the schema's name in it.
//!
//! Indexes are deliberately few, as in the SQLite backend: the primary key
//! `position` is the global order, `UNIQUE (stream, version)` is optimistic
//! concurrency and serves stream reads and the current-version lookup,
//! `UNIQUE (id)` is idempotency.

use std::fmt;

use tokio_postgres::{Client, IsolationLevel, NoTls};

use paycode_store::StoreError;

use crate::ConnectError;

/// The schema version this build writes and reads: the number of migrations.
pub const SCHEMA_VERSION: i32 = 3;

/// The longest schema name accepted. PostgreSQL names are at most 63 bytes,
/// and the notification channel is `paycode_head_` plus the schema name.
pub const MAX_SCHEMA_NAME_BYTES: usize = 50;

/// Migration `n` (1-based) is `MIGRATIONS[n - 1]`; `{schema}` stands for the
/// quoted schema name. Never edit one that has shipped: add the next.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    "
CREATE TABLE {schema}.events (
    position     bigint      PRIMARY KEY,
    stream       text        NOT NULL,
    version      bigint      NOT NULL,
    id           uuid        NOT NULL UNIQUE,
    type         text        NOT NULL,
    type_version bigint      NOT NULL,
    data         bytea       NOT NULL,
    metadata     bytea       NOT NULL,
    recorded_at  timestamptz NOT NULL,
    UNIQUE (stream, version)
);
",
    "
CREATE TABLE {schema}.leases (
    partition  integer     PRIMARY KEY,
    owner      text        NOT NULL,
    expires_at timestamptz NOT NULL
);
",
    "
CREATE TABLE {schema}.nodes (
    node            text        PRIMARY KEY,
    expires_at      timestamptz NOT NULL,
    work_orders     bigint      NOT NULL,
    oldest_due_secs bigint      NOT NULL,
    draining        boolean     NOT NULL DEFAULT false
);
",
];

/// A schema name: 1..=50 bytes of `[a-z0-9_]`, starting with a letter or
/// `_`, not `pg_...`. Lower case only, so the quoted and unquoted spellings
/// name the same schema in `psql`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaName(String);

impl SchemaName {
    pub fn parse(name: &str) -> Result<SchemaName, ConnectError> {
        let reason = if name.is_empty() || name.len() > MAX_SCHEMA_NAME_BYTES {
            Some("must be 1 to 50 bytes long")
        } else if name.starts_with("pg_") {
            Some("names starting with pg_ are reserved by PostgreSQL")
        } else if name.starts_with(|c: char| c.is_ascii_digit()) {
            Some("must not start with a digit")
        } else if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            Some("may only contain lower-case ASCII letters, digits and _")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(ConnectError::InvalidSchemaName {
                name: name.to_owned(),
                reason,
            }),
            None => Ok(SchemaName(name.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a quoted identifier; safe to splice into SQL because
    /// [`SchemaName::parse`] admits no quote.
    fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The statements of one schema, and the names derived from it.
#[derive(Debug)]
pub(crate) struct Sql {
    /// Key text of the advisory lock that serialises appends in this schema.
    pub append_lock: String,
    /// The LISTEN/NOTIFY channel that carries the new head.
    pub channel: String,
    pub head: String,
    pub lookup_ids: String,
    pub stream_versions: String,
    pub insert: String,
    pub read_stream: String,
    pub read_all: String,
    /// Takes or renews a work lease; returns a row only when the caller holds it.
    pub acquire_lease: String,
    /// Gives a lease up, if the caller holds it.
    pub release_lease: String,
    /// The leases that have not run out, with the milliseconds they have left.
    pub live_leases: String,
    /// Records a node's beat, keeping a drain request.
    pub beat: String,
    /// The nodes whose beat has not run out.
    pub live_nodes: String,
    pub leave: String,
    pub drain: String,
}

const COLUMNS: &str =
    "id, stream, version, position, type, type_version, data, metadata, recorded_at";

impl Sql {
    pub fn new(schema: &SchemaName) -> Sql {
        let events = format!("{}.events", schema.quoted());
        let leases = format!("{}.leases", schema.quoted());
        let nodes = format!("{}.nodes", schema.quoted());
        let left = "(extract(epoch FROM expires_at - now()) * 1000)::bigint";
        Sql {
            release_lease: format!("DELETE FROM {leases} WHERE partition = $1 AND owner = $2"),
            live_leases: format!(
                "SELECT partition, owner, {left} FROM {leases} \
                 WHERE expires_at > now() ORDER BY partition"
            ),
            beat: format!(
                "INSERT INTO {nodes} (node, expires_at, work_orders, oldest_due_secs) \
                 VALUES ($1, now() + make_interval(secs => $2), $3, $4) \
                 ON CONFLICT (node) DO UPDATE SET expires_at = EXCLUDED.expires_at, \
                 work_orders = EXCLUDED.work_orders, oldest_due_secs = EXCLUDED.oldest_due_secs, \
                 draining = {nodes}.draining AND {nodes}.expires_at > now()"
            ),
            live_nodes: format!(
                "SELECT node, work_orders, oldest_due_secs, draining, {left} FROM {nodes} \
                 WHERE expires_at > now() ORDER BY node"
            ),
            leave: format!("DELETE FROM {nodes} WHERE node = $1"),
            drain: format!(
                "UPDATE {nodes} SET draining = true WHERE node = $1 AND expires_at > now() \
                 RETURNING node"
            ),
            // The database's clock decides expiry, so nodes with skewed
            // clocks still agree on who holds a lease.
            acquire_lease: format!(
                "INSERT INTO {leases} (partition, owner, expires_at) \
                 VALUES ($1, $2, now() + make_interval(secs => $3)) \
                 ON CONFLICT (partition) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at \
                 WHERE {leases}.owner = EXCLUDED.owner OR {leases}.expires_at < now() \
                 RETURNING owner"
            ),
            append_lock: format!("paycode-append:{schema}"),
            channel: format!("paycode_head_{schema}"),
            head: format!("SELECT coalesce(max(position), 0) FROM {events}"),
            lookup_ids: format!(
                "SELECT id, stream, version, position FROM {events} WHERE id = ANY($1)"
            ),
            stream_versions: format!(
                "SELECT name, coalesce((SELECT max(version) FROM {events} WHERE stream = name), 0)
                 FROM unnest($1::text[]) AS name"
            ),
            insert: format!(
                "INSERT INTO {events} (position, stream, version, id, type, type_version, data, metadata, recorded_at)
                 SELECT p, s, v, i, t, tv, d, m, now()
                 FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[],
                             $6::bigint[], $7::bytea[], $8::bytea[]) AS r(p, s, v, i, t, tv, d, m)"
            ),
            read_stream: format!(
                "SELECT {COLUMNS} FROM {events} WHERE stream = $1 AND version >= $2
                 ORDER BY version LIMIT $3"
            ),
            read_all: format!(
                "SELECT {COLUMNS} FROM {events} WHERE position > $1 ORDER BY position LIMIT $2"
            ),
        }
    }
}

/// Opens one connection and drives it on a task of its own; the task ends
/// when the client is dropped or the connection breaks.
pub(crate) async fn connect(config: &tokio_postgres::Config) -> Result<Client, StoreError> {
    let (client, connection) = config.connect(NoTls).await.map_err(pg_error)?;
    tokio::spawn(async move {
        // A broken connection shows up as an error on the client's next call.
        let _ = connection.await;
    });
    Ok(client)
}

/// Creates the schema if missing and applies the migrations it lacks, in one
/// transaction under an advisory lock, so nodes starting together apply each
/// migration once. Refuses a schema migrated by a newer build.
pub(crate) async fn migrate(client: &mut Client, schema: &SchemaName) -> Result<(), StoreError> {
    // Read committed, so the reads after the lock see what a node that
    // migrated while this one waited committed.
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()
        .await
        .map_err(pg_error)?;
    let lock = format!("paycode-migrate:{schema}");
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&lock],
    )
    .await
    .map_err(pg_error)?;
    let quoted = schema.quoted();
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {quoted};
         CREATE TABLE IF NOT EXISTS {quoted}.schema_migrations (
             version    integer     PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(pg_error)?;
    let applied: i32 = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {quoted}.schema_migrations"),
            &[],
        )
        .await
        .map_err(pg_error)?
        .get(0);
    if applied > SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "schema {schema} is at version {applied}, this build knows up to {SCHEMA_VERSION}"
        )));
    }
    for version in applied + 1..=SCHEMA_VERSION {
        let index = usize::try_from(version - 1).unwrap_or(usize::MAX);
        let sql = MIGRATIONS[index].replace("{schema}", &quoted);
        tx.batch_execute(&sql).await.map_err(pg_error)?;
        tx.execute(
            &format!("INSERT INTO {quoted}.schema_migrations (version) VALUES ($1)"),
            &[&version],
        )
        .await
        .map_err(pg_error)?;
    }
    tx.commit().await.map_err(pg_error)
}

/// Maps a driver error to the store's: every failure of the server or the
/// network is `Unavailable` (the caller retries; an append's outcome is
/// then unknown, which the retry's event ids resolve).
pub(crate) fn pg_error(error: tokio_postgres::Error) -> StoreError {
    StoreError::Unavailable(Box::new(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_lower_case_identifiers_of_at_most_50_bytes() {
        for good in ["paycode", "_x", "paycode_test_12_3_ab", &"a".repeat(50)] {
            assert_eq!(SchemaName::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "Paycode",
            "pay-code",
            "a\"b",
            "1abc",
            "pg_catalog",
            "名字",
            &"a".repeat(51),
        ] {
            assert!(
                matches!(SchemaName::parse(bad), Err(ConnectError::InvalidSchemaName { name, .. }) if name == bad),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn the_channel_name_fits_postgres_identifiers() {
        let sql = Sql::new(&SchemaName::parse(&"a".repeat(MAX_SCHEMA_NAME_BYTES)).unwrap());
        assert!(sql.channel.len() <= 63, "{} bytes", sql.channel.len());
    }
}
