//! Reads through a small pool of connections: stream pages, global pages and
//! the head. Reads need no lock: positions are handed out in commit order
//! (see the crate doc), so every snapshot holds a gap-free prefix of the log.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, Row};

use paycode_store::{RecordedEvent, StoreError, StreamName};

use crate::schema::{Sql, pg_error};
use crate::writer::corrupt;
use crate::{from_sql_int, to_sql_int};

/// How long a read waits for a pooled connection, or for a new one to open,
/// before it fails as `Unavailable` instead of hanging on a dead server.
const POOL_TIMEOUT: Duration = Duration::from_secs(10);

/// A pool of at most `size` connections, opened as reads need them.
pub(crate) fn pool(config: tokio_postgres::Config, size: usize) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    // Building fails only without a runtime or with a zero size, both fixed
    // here; a failure is still reported, never unwrapped.
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_TIMEOUT))
        .create_timeout(Some(POOL_TIMEOUT))
        .recycle_timeout(Some(POOL_TIMEOUT))
        .build()
        .map_err(StoreError::unavailable)
}

async fn connection(pool: &Pool) -> Result<Object, StoreError> {
    pool.get().await.map_err(StoreError::unavailable)
}

pub(crate) async fn head(pool: &Pool, sql: &Sql) -> Result<u64, StoreError> {
    let client = connection(pool).await?;
    let statement = client.prepare_cached(&sql.head).await.map_err(pg_error)?;
    let row = client.query_one(&statement, &[]).await.map_err(pg_error)?;
    from_sql_int(row.try_get(0).map_err(corrupt)?, "position")
}

pub(crate) async fn read_stream(
    pool: &Pool,
    sql: &Sql,
    stream: &StreamName,
    from_version: u64,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let client = connection(pool).await?;
    let statement = client
        .prepare_cached(&sql.read_stream)
        .await
        .map_err(pg_error)?;
    let rows = client
        .query(
            &statement,
            &[
                &stream.as_str(),
                &to_sql_int(from_version),
                &to_sql_int(limit),
            ],
        )
        .await
        .map_err(pg_error)?;
    rows.iter().map(decode).collect()
}

pub(crate) async fn read_all(
    pool: &Pool,
    sql: &Sql,
    after: u64,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let client = connection(pool).await?;
    let statement = client
        .prepare_cached(&sql.read_all)
        .await
        .map_err(pg_error)?;
    let rows = client
        .query(&statement, &[&to_sql_int(after), &to_sql_int(limit)])
        .await
        .map_err(pg_error)?;
    rows.iter().map(decode).collect()
}

/// One row of `events` in the column order of `Sql::read_*`.
fn decode(row: &Row) -> Result<RecordedEvent, StoreError> {
    let stream: String = row.try_get(1).map_err(corrupt)?;
    let type_version: i64 = row.try_get(5).map_err(corrupt)?;
    Ok(RecordedEvent {
        id: row.try_get(0).map_err(corrupt)?,
        stream: StreamName::try_from(stream)
            .map_err(|e| StoreError::Corrupt(format!("stored stream name: {e}")))?,
        version: from_sql_int(row.try_get(2).map_err(corrupt)?, "version")?,
        position: from_sql_int(row.try_get(3).map_err(corrupt)?, "position")?,
        event_type: row.try_get(4).map_err(corrupt)?,
        type_version: u32::try_from(type_version)
            .map_err(|_| StoreError::Corrupt(format!("type version {type_version}")))?,
        data: row.try_get(6).map_err(corrupt)?,
        metadata: row.try_get(7).map_err(corrupt)?,
        recorded_at: row.try_get(8).map_err(corrupt)?,
    })
}

/// Reads of one schema through one pool: the store's own, and as a
/// read-only handle (see `EventStore::separate_reader`) another with a pool
/// of its own, whose reads never wait for the store's connections, nor the
/// store's for its.
#[derive(Debug)]
pub(crate) struct Reads {
    pub pool: Pool,
    pub sql: std::sync::Arc<Sql>,
    pub head: tokio::sync::watch::Receiver<u64>,
}

#[async_trait::async_trait]
impl paycode_store::EventStore for Reads {
    async fn append(
        &self,
        _: &StreamName,
        _: paycode_store::ExpectedVersion,
        _: Vec<paycode_store::NewEvent>,
    ) -> Result<paycode_store::Appended, StoreError> {
        Err(StoreError::ReadOnly)
    }

    async fn read_stream(
        &self,
        stream: &StreamName,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        read_stream(&self.pool, &self.sql, stream, from_version, limit).await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        read_all(&self.pool, &self.sql, after, limit).await
    }

    async fn head(&self) -> Result<u64, StoreError> {
        head(&self.pool, &self.sql).await
    }

    fn watch_head(&self) -> tokio::sync::watch::Receiver<u64> {
        self.head.clone()
    }
}
