//! The event log as a file: export the whole log as JSON Lines, and load such
//! a file into a (fresh) store.
//!
//! One line per event, in global order. The event's JSON payload is embedded
//! as JSON (not as an escaped string) so a person can read and diff the file.
//! Loading (into a fresh store) appends each stream's events with the exact
//! expected version the log says they had and with their original event ids,
//! so a log whose versions do not follow on is refused rather than silently
//! reordered, and the loaded store holds the same events under the same ids.
//!
//! This module knows the store's envelope only, not orders: it can carry any
//! stream (orders, reconciliation runs).

use std::io::{BufRead, Write};

use chrono::{DateTime, Utc};
use paycode_store::{EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError, StreamName};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How many events one `read_all` call fetches while exporting: large enough
/// to amortise the call, small enough to keep memory flat for any log size.
const EXPORT_PAGE: usize = 4_096;

/// One event in a log file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub position: u64,
    pub stream: String,
    pub version: u64,
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub type_version: u32,
    pub recorded_at: DateTime<Utc>,
    pub data: serde_json::Value,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub metadata: serde_json::Value,
}

/// What can go wrong with a log file.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log line {line}: {reason}")]
    BadLine { line: usize, reason: String },
    #[error("stored event at position {position} is not JSON")]
    NotJson {
        position: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("reading or writing the log file failed")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LogLine {
    pub fn from_recorded(event: &RecordedEvent) -> Result<LogLine, LogError> {
        let json = |bytes: &[u8]| -> Result<serde_json::Value, LogError> {
            if bytes.is_empty() {
                return Ok(serde_json::Value::Null);
            }
            serde_json::from_slice(bytes).map_err(|source| LogError::NotJson {
                position: event.position,
                source,
            })
        };
        Ok(LogLine {
            position: event.position,
            stream: event.stream.as_str().to_owned(),
            version: event.version,
            id: event.id,
            event_type: event.event_type.clone(),
            type_version: event.type_version,
            recorded_at: event.recorded_at,
            data: json(&event.data)?,
            metadata: json(&event.metadata)?,
        })
    }

    fn to_new_event(&self) -> NewEvent {
        let bytes = |value: &serde_json::Value| {
            if value.is_null() {
                Vec::new()
            } else {
                value.to_string().into_bytes()
            }
        };
        NewEvent {
            id: self.id,
            event_type: self.event_type.clone(),
            type_version: self.type_version,
            data: bytes(&self.data),
            metadata: bytes(&self.metadata),
        }
    }
}

/// Writes every event after `after` to `out`, one JSON line each, in global
/// order. Returns how many lines were written.
pub async fn export(
    store: &dyn EventStore,
    after: u64,
    out: &mut dyn Write,
) -> Result<u64, LogError> {
    let mut position = after;
    let mut written = 0;
    loop {
        let page = store.read_all(position, EXPORT_PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(written);
        };
        position = last.position;
        for event in &page {
            serde_json::to_writer(&mut *out, &LogLine::from_recorded(event)?).map_err(|e| {
                LogError::BadLine {
                    line: 0,
                    reason: e.to_string(),
                }
            })?;
            out.write_all(b"\n")?;
            written += 1;
        }
    }
}

/// Parses a log file into lines, refusing the first line that is not a
/// well-formed event. Blank lines are allowed (a trailing newline).
pub fn parse(input: impl BufRead) -> Result<Vec<LogLine>, LogError> {
    let mut lines = Vec::new();
    for (index, text) in input.lines().enumerate() {
        let text = text?;
        if text.trim().is_empty() {
            continue;
        }
        let line: LogLine = serde_json::from_str(&text).map_err(|e| LogError::BadLine {
            line: index + 1,
            reason: e.to_string(),
        })?;
        StreamName::parse(&line.stream).map_err(|e| LogError::BadLine {
            line: index + 1,
            reason: e.to_string(),
        })?;
        if line.version == 0 {
            return Err(LogError::BadLine {
                line: index + 1,
                reason: "stream versions start at 1".into(),
            });
        }
        lines.push(line);
    }
    Ok(lines)
}

/// Appends the lines to `store` in order, each run of consecutive events of
/// one stream as one atomic append expecting the version before it.
/// Returns the number of events in the log.
pub async fn load(store: &dyn EventStore, lines: &[LogLine]) -> Result<u64, LogError> {
    for run in lines.chunk_by(|a, b| a.stream == b.stream && a.version + 1 == b.version) {
        let first = &run[0];
        let stream = StreamName::parse(&first.stream)?;
        let expected = match first.version {
            1 => ExpectedVersion::NoStream,
            v => ExpectedVersion::Exact(v - 1),
        };
        let events = run.iter().map(LogLine::to_new_event).collect();
        store.append(&stream, expected, events).await?;
    }
    Ok(lines.len() as u64)
}
