//! Deciding a group of appends, without touching the database: given what the
//! transaction read under the append lock (the head, the current version of
//! every stream in the group, the stored rows of every event id in the
//! group), it answers each append and numbers the rows to insert.
//!
//! Appends are decided in queue order, each against the store plus the
//! appends accepted before it in the same group, so the group behaves as if
//! its appends had committed one by one. A refused append writes nothing and
//! leaves the others alone.

use std::collections::HashMap;

use uuid::Uuid;

use paycode_store::{Appended, ExpectedVersion, NewEvent, StoreError, StreamName};

/// One append as the caller asked for it (already through `check_append`).
#[derive(Debug)]
pub(crate) struct Append {
    pub stream: StreamName,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

/// Where an event id is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub stream: String,
    pub version: u64,
    pub position: u64,
}

/// What the transaction knows, grown by each accepted append of the group.
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub head: u64,
    /// Current version of every stream in the group (0: no stream).
    pub versions: HashMap<String, u64>,
    /// Every stored id among the group's ids.
    pub ids: HashMap<Uuid, Stored>,
}

/// One row to insert: the event `events[index]` of append `append`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row {
    pub append: usize,
    pub index: usize,
    pub version: u64,
    pub position: u64,
}

/// The answers (one per append, in order) and the rows to insert.
#[derive(Debug)]
pub(crate) struct Plan {
    pub answers: Vec<Result<Appended, StoreError>>,
    pub rows: Vec<Row>,
}

pub(crate) fn plan(mut known: Known, group: &[&Append]) -> Plan {
    let mut plan = Plan {
        answers: Vec::with_capacity(group.len()),
        rows: Vec::new(),
    };
    for (n, append) in group.iter().enumerate() {
        let answer = match retry_or_mismatch(&known, append) {
            Some(answer) => answer,
            None => accept(&mut known, &mut plan.rows, n, append),
        };
        plan.answers.push(answer);
    }
    plan
}

/// `None` when no id of the append is stored yet. An identical retry has all
/// its ids stored, in this stream, at consecutive versions and positions in
/// the append's order (how a batch is stored); anything else with a stored
/// id is a mismatch.
fn retry_or_mismatch(known: &Known, append: &Append) -> Option<Result<Appended, StoreError>> {
    let found: Vec<&Stored> = append
        .events
        .iter()
        .filter_map(|e| known.ids.get(&e.id))
        .collect();
    let last = found.last()?;
    let same_batch = found.len() == append.events.len()
        && found.iter().all(|s| s.stream == append.stream.as_str())
        && found
            .windows(2)
            .all(|w| w[1].version == w[0].version + 1 && w[1].position == w[0].position + 1);
    Some(if same_batch {
        Ok(Appended {
            version: last.version,
            position: last.position,
        })
    } else {
        Err(StoreError::IdempotencyMismatch {
            stream: append.stream.to_string(),
        })
    })
}

/// Checks the expected version and, when it holds, numbers the events.
fn accept(
    known: &mut Known,
    rows: &mut Vec<Row>,
    n: usize,
    append: &Append,
) -> Result<Appended, StoreError> {
    let actual = known
        .versions
        .get(append.stream.as_str())
        .copied()
        .unwrap_or(0);
    if !append.expected.admits(actual) {
        return Err(StoreError::Conflict {
            stream: append.stream.to_string(),
            expected: append.expected,
            actual,
        });
    }
    let mut ack = Appended {
        version: actual,
        position: known.head,
    };
    for (index, event) in append.events.iter().enumerate() {
        ack.version += 1;
        ack.position += 1;
        rows.push(Row {
            append: n,
            index,
            version: ack.version,
            position: ack.position,
        });
        let stored = Stored {
            stream: append.stream.to_string(),
            version: ack.version,
            position: ack.position,
        };
        known.ids.insert(event.id, stored);
    }
    known.head = ack.position;
    known
        .versions
        .insert(append.stream.to_string(), ack.version);
    Ok(ack)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(stream: &str, expected: ExpectedVersion, ids: &[Uuid]) -> Append {
        let events = ids
            .iter()
            .map(|&id| NewEvent {
                id,
                event_type: "Test".to_owned(),
                type_version: 1,
                data: b"{}".to_vec(),
                metadata: Vec::new(),
            })
            .collect();
        Append {
            stream: StreamName::parse(stream).unwrap(),
            expected,
            events,
        }
    }

    fn known(head: u64, versions: &[(&str, u64)]) -> Known {
        Known {
            head,
            versions: versions
                .iter()
                .map(|(s, v)| ((*s).to_owned(), *v))
                .collect(),
            ids: HashMap::new(),
        }
    }

    #[test]
    fn appends_in_a_group_see_the_ones_accepted_before_them() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let first = append("s", ExpectedVersion::Exact(2), &[a, b]);
        let second = append("s", ExpectedVersion::Exact(4), &[c]);
        let loser = append("s", ExpectedVersion::Exact(2), &[Uuid::new_v4()]);
        let plan = plan(known(10, &[("s", 2)]), &[&first, &second, &loser]);
        assert_eq!(
            plan.answers[0].as_ref().unwrap(),
            &Appended {
                version: 4,
                position: 12
            }
        );
        assert_eq!(
            plan.answers[1].as_ref().unwrap(),
            &Appended {
                version: 5,
                position: 13
            }
        );
        assert!(matches!(
            plan.answers[2],
            Err(StoreError::Conflict { actual: 5, .. })
        ));
        let numbered: Vec<_> = plan
            .rows
            .iter()
            .map(|r| (r.append, r.index, r.version, r.position))
            .collect();
        assert_eq!(numbered, [(0, 0, 3, 11), (0, 1, 4, 12), (1, 0, 5, 13)]);
    }

    #[test]
    fn a_retry_inside_the_same_group_gets_the_first_ack_and_no_rows() {
        let ids = [Uuid::new_v4(), Uuid::new_v4()];
        let first = append("s", ExpectedVersion::NoStream, &ids);
        let again = append("s", ExpectedVersion::NoStream, &ids);
        let plan = plan(known(0, &[("s", 0)]), &[&first, &again]);
        assert_eq!(
            plan.answers[0].as_ref().unwrap(),
            plan.answers[1].as_ref().unwrap()
        );
        assert_eq!(plan.rows.len(), 2);
    }

    #[test]
    fn stored_ids_in_another_order_or_stream_are_a_mismatch() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut store = known(2, &[("s", 2), ("t", 0)]);
        for (id, version) in [(a, 1), (b, 2)] {
            let stored = Stored {
                stream: "s".to_owned(),
                version,
                position: version,
            };
            store.ids.insert(id, stored);
        }
        let swapped = append("s", ExpectedVersion::Any, &[b, a]);
        let elsewhere = append("t", ExpectedVersion::Any, &[a, b]);
        let partial = append("s", ExpectedVersion::Any, &[a, Uuid::new_v4()]);
        let same = append("s", ExpectedVersion::Exact(7), &[a, b]);
        let plan = plan(store, &[&swapped, &elsewhere, &partial, &same]);
        for answer in &plan.answers[..3] {
            assert!(matches!(
                answer,
                Err(StoreError::IdempotencyMismatch { .. })
            ));
        }
        assert_eq!(
            plan.answers[3].as_ref().unwrap(),
            &Appended {
                version: 2,
                position: 2
            },
            "an identical retry ignores the expected version"
        );
        assert!(plan.rows.is_empty());
    }
}
