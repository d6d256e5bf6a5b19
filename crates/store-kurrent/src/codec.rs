//! Translating between the store's values and KurrentDB's, without touching
//! the server: stream names under a namespace, versions and revisions,
//! expected versions, event types with their version, recorded events.

use bytes::Bytes;
use kurrentdb::{CurrentRevision, EventData, StreamState};

use paycode_store::{ExpectedVersion, NewEvent, RecordedEvent, StoreError, StreamName};

/// The KurrentDB stream of paycode stream `stream` in `namespace`.
pub(crate) fn stream_id(namespace: &str, stream: &StreamName) -> String {
    format!("{namespace}/{stream}")
}

/// The prefix that selects a namespace's streams in `$all`.
pub(crate) fn prefix(namespace: &str) -> String {
    format!("{namespace}/")
}

/// What KurrentDB must find before the append (revisions are 0-based).
pub(crate) fn stream_state(expected: ExpectedVersion) -> StreamState {
    match expected {
        ExpectedVersion::Any => StreamState::Any,
        ExpectedVersion::NoStream | ExpectedVersion::Exact(0) => StreamState::NoStream,
        ExpectedVersion::Exact(n) => StreamState::StreamRevision(n - 1),
    }
}

/// Our version (event count) of a stream at KurrentDB revision `current`.
pub(crate) fn actual_version(current: CurrentRevision) -> u64 {
    match current {
        CurrentRevision::Current(revision) => revision + 1,
        CurrentRevision::NoStream => 0,
    }
}

pub(crate) fn event_type(event: &NewEvent) -> String {
    format!("{}@{}", event.event_type, event.type_version)
}

/// Splits `{type}@{type_version}`.
pub(crate) fn split_event_type(stored: &str) -> Result<(String, u32), StoreError> {
    let parsed = stored
        .rsplit_once('@')
        .and_then(|(name, version)| Some((name.to_owned(), version.parse().ok()?)));
    parsed.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "event type {stored:?} is not of the form type@version"
        ))
    })
}

pub(crate) fn event_data(event: &NewEvent) -> EventData {
    EventData::binary(event_type(event), Bytes::from(event.data.clone()))
        .id(event.id)
        .metadata(Bytes::from(event.metadata.clone()))
}

/// A KurrentDB event of `namespace` as ours.
pub(crate) fn recorded(
    namespace: &str,
    event: &kurrentdb::RecordedEvent,
) -> Result<RecordedEvent, StoreError> {
    let name = event
        .stream_id()
        .strip_prefix(&prefix(namespace))
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "stream {} is outside namespace {namespace}",
                event.stream_id()
            ))
        })?;
    let (event_type, type_version) = split_event_type(&event.event_type)?;
    Ok(RecordedEvent {
        id: event.id,
        stream: StreamName::parse(name)
            .map_err(|e| StoreError::Corrupt(format!("stored stream name: {e}")))?,
        version: event.revision + 1,
        position: event.position.prepare,
        event_type,
        type_version,
        data: event.data.to_vec(),
        metadata: event.custom_metadata.to_vec(),
        recorded_at: event.created,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_versions_map_to_zero_based_revisions() {
        assert_eq!(stream_state(ExpectedVersion::Any), StreamState::Any);
        assert_eq!(
            stream_state(ExpectedVersion::NoStream),
            StreamState::NoStream
        );
        assert_eq!(
            stream_state(ExpectedVersion::Exact(0)),
            StreamState::NoStream
        );
        assert_eq!(
            stream_state(ExpectedVersion::Exact(3)),
            StreamState::StreamRevision(2)
        );
        assert_eq!(actual_version(CurrentRevision::Current(2)), 3);
        assert_eq!(actual_version(CurrentRevision::NoStream), 0);
    }

    #[test]
    fn event_types_carry_their_version_and_split_back() {
        let event = NewEvent {
            id: uuid::Uuid::new_v4(),
            event_type: "Payment@Requested".to_owned(),
            type_version: 12,
            data: Vec::new(),
            metadata: Vec::new(),
        };
        assert_eq!(event_type(&event), "Payment@Requested@12");
        assert_eq!(
            split_event_type(&event_type(&event)).unwrap(),
            ("Payment@Requested".to_owned(), 12)
        );
        for bad in ["NoVersion", "Type@", "Type@x", "Type@-1"] {
            assert!(
                matches!(split_event_type(bad), Err(StoreError::Corrupt(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn stream_ids_live_under_the_namespace_prefix() {
        let stream = StreamName::parse("order-m1-t1").unwrap();
        let id = stream_id("paycode", &stream);
        assert_eq!(id, "paycode/order-m1-t1");
        assert!(id.starts_with(&prefix("paycode")));
        assert!(!stream_id("paycode_test", &stream).starts_with(&prefix("paycode")));
    }
}
