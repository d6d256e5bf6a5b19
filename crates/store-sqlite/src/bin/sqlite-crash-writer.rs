//! Test support, not a product: the child process of `tests/crash.rs`.
//!
//! `sqlite-crash-writer <database> <round> <appenders>` appends batches to
//! the database from several concurrent tasks, one stream each, until it is
//! killed. Each event's data is `{"batch":"r<round>w<task>n<n>","index":i,"count":c}`.
//! After each acknowledged append it prints and flushes one line
//! `ack <stream> <version> <position> <batch>`, so the parent knows exactly
//! what was acknowledged when it sends SIGKILL.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use paycode_store::{EventStore, ExpectedVersion, NewEvent, StoreError, StreamName};
use paycode_store_sqlite::SqliteStore;
use uuid::Uuid;

/// Batches per task: far more than a test reads before killing the process;
/// the bound only keeps the loop finite.
const MAX_BATCHES: u64 = 10_000_000;

/// Events per batch cycle through 2..=2+EXTRA_EVENTS.
const EXTRA_EVENTS: u64 = 3;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, path, round, appenders] = args.as_slice() else {
        eprintln!("usage: sqlite-crash-writer <database> <round> <appenders>");
        return ExitCode::from(2);
    };
    let (Ok(round), Ok(appenders)) = (round.parse::<u32>(), appenders.parse::<u32>()) else {
        eprintln!("round and appenders must be numbers");
        return ExitCode::from(2);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(write_until_killed(path, round, appenders)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sqlite-crash-writer: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn write_until_killed(path: &str, round: u32, appenders: u32) -> Result<(), StoreError> {
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(path)?);
    let tasks: Vec<_> = (0..appenders)
        .map(|task| tokio::spawn(append_batches(store.clone(), round, task)))
        .collect();
    for task in tasks {
        task.await.map_err(StoreError::unavailable)??;
    }
    Ok(())
}

async fn append_batches(
    store: Arc<dyn EventStore>,
    round: u32,
    task: u32,
) -> Result<(), StoreError> {
    let stream = StreamName::parse(&format!("crash-r{round}-w{task}"))?;
    let mut version = 0;
    for n in 0..MAX_BATCHES {
        let batch = format!("r{round}w{task}n{n}");
        let count = 2 + n % (EXTRA_EVENTS + 1);
        let events = (0..count)
            .map(|index| event(&batch, index, count))
            .collect();
        let ack = store
            .append(&stream, ExpectedVersion::Exact(version), events)
            .await?;
        version = ack.version;
        let mut out = std::io::stdout().lock();
        writeln!(out, "ack {stream} {} {} {batch}", ack.version, ack.position)
            .map_err(StoreError::unavailable)?;
        out.flush().map_err(StoreError::unavailable)?;
    }
    Ok(())
}

fn event(batch: &str, index: u64, count: u64) -> NewEvent {
    NewEvent {
        id: Uuid::new_v4(),
        event_type: "CrashTestEvent".to_owned(),
        type_version: 1,
        data: format!(r#"{{"batch":"{batch}","index":{index},"count":{count}}}"#).into_bytes(),
        metadata: Vec::new(),
    }
}
