//! The JSON Schema of every stored event type, generated from the payload
//! structs with `schemars`.
//!
//! The generated text is checked in under `schemas/events/` (one file per
//! type and version, plus `index.json`) and a test fails when the files and
//! the code drift apart, so a change to a payload's JSON shape is always seen
//! in review. This module only renders text; writing files is the test's job.

use serde_json::json;

use crate::event::payload_schemas;
use crate::reconciliation;

/// One event type's schema, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSchema {
    /// The kind of stream the event lives in: `order` or `reconciliation`.
    pub stream: &'static str,
    pub event_type: &'static str,
    pub version: u32,
    /// Pretty-printed JSON with a trailing newline, as checked in.
    pub json: String,
}

impl EventSchema {
    /// `<EventType>.v<N>.json`.
    pub fn file_name(&self) -> String {
        format!("{}.v{}.json", self.event_type, self.version)
    }
}

/// The name of the index file listing every schema file.
pub const INDEX_FILE: &str = "index.json";

/// Every event type's schema: order events, then reconciliation events,
/// each in declaration order.
pub fn event_schemas() -> Vec<EventSchema> {
    let order = payload_schemas().into_iter().map(|s| ("order", s));
    let runs = reconciliation::payload_schemas()
        .into_iter()
        .map(|s| ("reconciliation", s));
    order
        .chain(runs)
        .map(|(stream, (event_type, version, mut schema))| {
            schema.insert("x-event-type".to_owned(), json!(event_type));
            schema.insert("x-event-version".to_owned(), json!(version));
            EventSchema {
                stream,
                event_type,
                version,
                json: pretty(&schema.to_value()),
            }
        })
        .collect()
}

/// `index.json`: each event type, its stream kind, its version and its
/// schema file.
pub fn schema_index() -> String {
    let entries: Vec<_> = event_schemas()
        .iter()
        .map(|s| {
            json!({
                "stream": s.stream,
                "event_type": s.event_type,
                "version": s.version,
                "file": s.file_name(),
            })
        })
        .collect();
    pretty(&json!({ "events": entries }))
}

fn pretty(value: &serde_json::Value) -> String {
    // Rendering a `Value` cannot fail: its keys are strings.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}
