//! A page of the log as the projections see it: read once, its order events
//! decoded once ([`Batch`]) and handed to every projection; and how a
//! projection gets back the earlier events of an order it no longer holds
//! in memory ([`History`], read by [`history`]).
//!
//! Invariant: this module only reads the log; it writes no SQLite and knows
//! no projection, so every projection can depend on it. Positions increase
//! along a page, and only the events of order streams are kept.

use paycode_domain::OrderEvent;
use paycode_store::{EventStore, RecordedEvent, StreamName};

use crate::error::ProjectionError;

/// Events per read when an order is folded again from its stream.
const HISTORY_PAGE: usize = 256;

/// A decoded order event with where it sits in the log.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub position: u64,
    pub stream: String,
    pub event: OrderEvent,
}

/// A page of the log, decoded once for every projection: its order events
/// and the position of its last event (of any stream).
#[derive(Debug)]
pub(crate) struct Batch {
    pub last: u64,
    pub events: Vec<Decoded>,
}

impl Batch {
    pub(crate) fn decode(page: &[RecordedEvent]) -> Result<Batch, ProjectionError> {
        Ok(Batch {
            last: page.last().map_or(0, |e| e.position),
            events: decode(page)?,
        })
    }

    /// The events past `checkpoint` (positions increase along the page).
    pub(crate) fn after(&self, checkpoint: u64) -> &[Decoded] {
        let start = self.events.partition_point(|d| d.position <= checkpoint);
        &self.events[start..]
    }
}

/// How a projection gets back an order it no longer holds in memory: the
/// events of `stream` before log position `before`, decoded.
pub(crate) type History<'a> = dyn FnMut(&str, u64) -> Result<Vec<OrderEvent>, ProjectionError> + 'a;

/// Reads [`History`] from the log. Runs on the blocking thread that applies
/// a page, so it waits for the store there.
pub(crate) fn history(
    store: &dyn EventStore,
    stream: &str,
    before: u64,
) -> Result<Vec<OrderEvent>, ProjectionError> {
    let name = StreamName::parse(stream).map_err(|error| ProjectionError::Corrupt {
        position: before,
        reason: error.to_string(),
    })?;
    let runtime = tokio::runtime::Handle::current();
    let mut decoded = Vec::new();
    let mut from_version = 1;
    loop {
        let events = runtime.block_on(store.read_stream(&name, from_version, HISTORY_PAGE))?;
        let full = events.len() == HISTORY_PAGE;
        for event in events.iter().take_while(|e| e.position < before) {
            let event = OrderEvent::decode(&event.event_type, event.type_version, &event.data)
                .map_err(|error| ProjectionError::Corrupt {
                    position: event.position,
                    reason: error.to_string(),
                })?;
            decoded.push(event);
        }
        match events.last() {
            Some(last) if full && last.position < before => from_version = last.version + 1,
            _ => return Ok(decoded),
        }
    }
}

/// The order events of a page; other streams are skipped.
fn decode(page: &[RecordedEvent]) -> Result<Vec<Decoded>, ProjectionError> {
    page.iter()
        .filter(|e| paycode_domain::is_order_stream(e.stream.as_str()))
        .map(|e| {
            OrderEvent::decode(&e.event_type, e.type_version, &e.data)
                .map(|event| Decoded {
                    position: e.position,
                    stream: e.stream.as_str().to_owned(),
                    event,
                })
                .map_err(|error| ProjectionError::Corrupt {
                    position: e.position,
                    reason: error.to_string(),
                })
        })
        .collect()
}

/// The error for an order stream that does not open with `PaymentRequested`
/// (the domain's rule, `paycode_domain::evolve_checked`).
pub(crate) fn not_opened(decoded: &Decoded) -> ProjectionError {
    let refused = paycode_domain::NotAnOrderOpening {
        opened_with: decoded.event.event_type(),
    };
    ProjectionError::Corrupt {
        position: decoded.position,
        reason: format!("stream {}: {refused}", decoded.stream),
    }
}
