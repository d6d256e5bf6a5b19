//! The facts of a reconciliation run, as stored in the run's own stream
//! (`recon-{provider}-{merchant}-{yyyymmdd}`, see [`reconciliation_stream`]):
//! a run started on a bill, the discrepancies it found, the run completed
//! with its counts and the items it carries to the next day, and an
//! operator's resolution of a discrepancy.
//!
//! The matching itself lives in `paycode-reconcile`, which depends on this
//! crate; the payloads here therefore mirror its results in their own plain
//! types (a discrepancy's kind as its stable code, amounts as [`Amount`]).
//! A discrepancy is recorded once per stream, keyed by its deterministic id:
//! a rerun of the same day never records the same disagreement twice.
//!
//! A discrepancy stays open until a person resolves it
//! ([`DiscrepancyResolved`]) or a later run no longer finds it
//! ([`DiscrepancySuperseded`], naming that run and its bill's digest). A
//! superseded discrepancy found again by a still later run is open again:
//! that run records its `DiscrepancyFound` once more.
//!
//! [`RunLog`] folds the stream into what the report and the next run need.
//! Like `OrderEvent`, every payload has a name, a version and a JSON Schema
//! under `schemas/events/`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::DecodeError;
use crate::ids::{MerchantId, OutTradeNo, Provider};
use crate::money::Amount;

/// The prefix of every reconciliation run stream.
pub const RECONCILIATION_STREAM_PREFIX: &str = "recon-";

/// The stream of one provider's run for one merchant and Beijing day, e.g.
/// `recon-wechatpay-shop-a-20261120`.
pub fn reconciliation_stream(provider: Provider, merchant: &MerchantId, day: NaiveDate) -> String {
    format!(
        "{RECONCILIATION_STREAM_PREFIX}{provider}-{merchant}-{}",
        day.format("%Y%m%d")
    )
}

/// Where the run's bill came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum BillSource {
    /// Downloaded through the provider's API.
    Download,
    /// Given as a file by an operator (`paycode reconcile --file`).
    File { name: String },
}

/// A part of a ledger entry carried to the next day's run (the matching's
/// `Carried`), by key: the next run rebuilds the entry from the order's
/// stream, so it sees the order as it is then.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct CarriedItem {
    /// The merchant's order number.
    pub order: OutTradeNo,
    /// The provider order number of the pay attempt.
    pub out_trade_no: String,
    pub item: CarriedPart,
}

/// Which part of the entry is expected on the next day's bill.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "part")]
pub enum CarriedPart {
    Payment,
    Reversal,
    Refund { out_refund_no: String },
}

/// Counts and sums of one side of a run, in the bill summary's terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunFigures {
    pub payment_count: u64,
    pub refund_count: u64,
    pub paid_total: Amount,
    pub refund_total: Amount,
}

/// A run began on a bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReconciliationStarted {
    /// 1 for the first run of the day, then 2, ...
    pub run: u32,
    pub provider: Provider,
    pub merchant: MerchantId,
    pub day: NaiveDate,
    pub source: BillSource,
    /// SHA-256 (hex) of the bill's bytes as received; `None` when the
    /// provider said there is no bill for the day.
    pub bill_sha256: Option<String>,
    pub bill_lines: u64,
    pub ledger_entries: u64,
    pub carried_in: u64,
    /// Who asked (an operator, or `None` for a scheduled run).
    pub by: Option<String>,
    /// What the parser read past, such as a column it does not know. Absent
    /// in runs recorded before warnings existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub at: DateTime<Utc>,
}

/// A disagreement between the bill and the ledger (or within the bill),
/// recorded once per day whatever the number of runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DiscrepancyFound {
    pub run: u32,
    /// The matching's deterministic id:
    /// `{provider}/{merchant}/{day}/{CODE}/{subject}/{keys}`.
    pub id: String,
    /// The stable code, e.g. `MISSING_IN_BILL`, `AMOUNT_MISMATCH`.
    pub kind: String,
    /// `payment`, `refund`, `reversal` or `summary:{field}`.
    pub subject: String,
    pub order: Option<OutTradeNo>,
    pub out_trade_no: Option<String>,
    pub out_refund_no: Option<String>,
    pub provider_trade_no: Option<String>,
    pub bill_amount: Option<Amount>,
    pub ledger_amount: Option<Amount>,
    pub bill_lines: Vec<u64>,
    pub detail: String,
    pub at: DateTime<Utc>,
}

/// A run finished: its counts, how many discrepancies it found (new or
/// already recorded) with a fingerprint of their ids, and what it carries
/// to the next day.
///
/// Version 2: version 1 listed every discrepancy id, which a day of tens of
/// thousands of discrepancies cannot fit in one event; a version 1 event is
/// read as version 2 by counting and fingerprinting its list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReconciliationCompleted {
    pub run: u32,
    pub matched_payments: u64,
    pub matched_refunds: u64,
    pub matched_reversals: u64,
    /// How many discrepancies this run found, new or already recorded.
    pub discrepancies: u64,
    /// [`discrepancy_fingerprint`] of their ids: two runs that found the same
    /// set have the same fingerprint.
    pub discrepancy_fingerprint: String,
    /// How many of them this run recorded for the first time (or reopened).
    pub new_discrepancies: u64,
    pub carried_over: Vec<CarriedItem>,
    /// The bill's lines added up.
    pub bill: RunFigures,
    /// What the ledger expected on this bill.
    pub ledger: RunFigures,
    pub at: DateTime<Utc>,
}

/// Version 1 of [`ReconciliationCompleted`], as stored by earlier runs.
#[derive(Debug, Clone, Deserialize)]
struct ReconciliationCompletedV1 {
    run: u32,
    matched_payments: u64,
    matched_refunds: u64,
    matched_reversals: u64,
    discrepancy_ids: Vec<String>,
    new_discrepancies: u64,
    carried_over: Vec<CarriedItem>,
    bill: RunFigures,
    ledger: RunFigures,
    at: DateTime<Utc>,
}

impl From<ReconciliationCompletedV1> for ReconciliationCompleted {
    fn from(v1: ReconciliationCompletedV1) -> ReconciliationCompleted {
        ReconciliationCompleted {
            run: v1.run,
            matched_payments: v1.matched_payments,
            matched_refunds: v1.matched_refunds,
            matched_reversals: v1.matched_reversals,
            discrepancies: u64::try_from(v1.discrepancy_ids.len()).unwrap_or(u64::MAX),
            discrepancy_fingerprint: discrepancy_fingerprint(&v1.discrepancy_ids),
            new_discrepancies: v1.new_discrepancies,
            carried_over: v1.carried_over,
            bill: v1.bill,
            ledger: v1.ledger,
            at: v1.at,
        }
    }
}

/// A fingerprint of a set of discrepancy ids, whatever their order: FNV-1a
/// (64 bits, hex) over the sorted ids, each ended by a newline. It tells two
/// runs' results apart; it is not a cryptographic digest and needs not be.
pub fn discrepancy_fingerprint<S: AsRef<str>>(ids: &[S]) -> String {
    let mut sorted: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
    sorted.sort_unstable();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in sorted.iter().flat_map(|id| id.bytes().chain([b'\n'])) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// What an operator established about a discrepancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionOutcome {
    /// The provider's bill is right; our books were put right by other means
    /// (a manual resolution of the order, a booking outside paycode).
    BillCorrect,
    /// Our ledger is right; the provider was asked to correct its side.
    LedgerCorrect,
    /// The difference is accepted as it is (written off).
    WrittenOff,
    /// Not a real difference (a timing effect, a duplicate report).
    NoIssue,
}

/// An operator resolved a discrepancy of this day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DiscrepancyResolved {
    pub id: String,
    pub outcome: ResolutionOutcome,
    pub by: String,
    pub note: String,
    pub at: DateTime<Utc>,
}

/// A later run no longer found an open discrepancy: the bill it read (by
/// digest) agrees with the ledger on that point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DiscrepancySuperseded {
    pub id: String,
    /// The run that no longer found it.
    pub run: u32,
    /// SHA-256 (hex) of that run's bill; `None` when the provider said there
    /// is no bill.
    pub bill_sha256: Option<String>,
    pub at: DateTime<Utc>,
}

/// Every fact of a reconciliation run stream. The variant name is the
/// stored type name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReconciliationEvent {
    ReconciliationStarted(ReconciliationStarted),
    DiscrepancyFound(DiscrepancyFound),
    ReconciliationCompleted(ReconciliationCompleted),
    DiscrepancyResolved(DiscrepancyResolved),
    DiscrepancySuperseded(DiscrepancySuperseded),
}

impl ReconciliationEvent {
    /// Every (type, current version) pair, in declaration order.
    pub const TYPES: &'static [(&'static str, u32)] = &[
        ("ReconciliationStarted", 1),
        ("DiscrepancyFound", 1),
        ("ReconciliationCompleted", 2),
        ("DiscrepancyResolved", 1),
        ("DiscrepancySuperseded", 1),
    ];

    pub fn event_type(&self) -> &'static str {
        match self {
            ReconciliationEvent::ReconciliationStarted(_) => "ReconciliationStarted",
            ReconciliationEvent::DiscrepancyFound(_) => "DiscrepancyFound",
            ReconciliationEvent::ReconciliationCompleted(_) => "ReconciliationCompleted",
            ReconciliationEvent::DiscrepancyResolved(_) => "DiscrepancyResolved",
            ReconciliationEvent::DiscrepancySuperseded(_) => "DiscrepancySuperseded",
        }
    }

    /// The version of the payload's JSON shape (see [`Self::TYPES`]).
    pub fn event_version(&self) -> u32 {
        match self {
            ReconciliationEvent::ReconciliationCompleted(_) => 2,
            ReconciliationEvent::ReconciliationStarted(_)
            | ReconciliationEvent::DiscrepancyFound(_)
            | ReconciliationEvent::DiscrepancyResolved(_)
            | ReconciliationEvent::DiscrepancySuperseded(_) => 1,
        }
    }

    /// The store's format: type name, version and the payload as JSON.
    pub fn encode(&self) -> (&'static str, u32, Vec<u8>) {
        let data = match self {
            ReconciliationEvent::ReconciliationStarted(e) => serde_json::to_vec(e),
            ReconciliationEvent::DiscrepancyFound(e) => serde_json::to_vec(e),
            ReconciliationEvent::ReconciliationCompleted(e) => serde_json::to_vec(e),
            ReconciliationEvent::DiscrepancyResolved(e) => serde_json::to_vec(e),
            ReconciliationEvent::DiscrepancySuperseded(e) => serde_json::to_vec(e),
        };
        // Plain structs with string keys: serialising cannot fail.
        let data = data.expect("reconciliation payloads always serialise to JSON");
        (self.event_type(), self.event_version(), data)
    }

    /// Reads an event back from the store's format.
    pub fn decode(
        event_type: &str,
        version: u32,
        data: &[u8],
    ) -> Result<ReconciliationEvent, DecodeError> {
        let invalid = |source| DecodeError::InvalidPayload {
            event_type: event_type.to_owned(),
            version,
            source,
        };
        let known = ReconciliationEvent::TYPES
            .iter()
            .any(|(name, _)| *name == event_type);
        if !known {
            return Err(DecodeError::UnknownType {
                event_type: event_type.to_owned(),
            });
        }
        // Every type is at 1 except ReconciliationCompleted, at 2 and read
        // from 1 too.
        let readable = match event_type {
            "ReconciliationCompleted" => version == 1 || version == 2,
            _ => version == 1,
        };
        if !readable {
            return Err(DecodeError::UnknownVersion {
                event_type: event_type.to_owned(),
                version,
            });
        }
        let event = match event_type {
            "ReconciliationStarted" => {
                serde_json::from_slice(data).map(ReconciliationEvent::ReconciliationStarted)
            }
            "DiscrepancyFound" => {
                serde_json::from_slice(data).map(ReconciliationEvent::DiscrepancyFound)
            }
            "ReconciliationCompleted" if version == 1 => {
                serde_json::from_slice::<ReconciliationCompletedV1>(data)
                    .map(|v1| ReconciliationEvent::ReconciliationCompleted(v1.into()))
            }
            "ReconciliationCompleted" => {
                serde_json::from_slice(data).map(ReconciliationEvent::ReconciliationCompleted)
            }
            "DiscrepancyResolved" => {
                serde_json::from_slice(data).map(ReconciliationEvent::DiscrepancyResolved)
            }
            _ => serde_json::from_slice(data).map(ReconciliationEvent::DiscrepancySuperseded),
        };
        event.map_err(invalid)
    }
}

/// The JSON Schema of every reconciliation event type's current version.
pub(crate) fn payload_schemas() -> Vec<(&'static str, u32, schemars::Schema)> {
    vec![
        (
            "ReconciliationStarted",
            1,
            schemars::schema_for!(ReconciliationStarted),
        ),
        (
            "DiscrepancyFound",
            1,
            schemars::schema_for!(DiscrepancyFound),
        ),
        (
            "ReconciliationCompleted",
            2,
            schemars::schema_for!(ReconciliationCompleted),
        ),
        (
            "DiscrepancyResolved",
            1,
            schemars::schema_for!(DiscrepancyResolved),
        ),
        (
            "DiscrepancySuperseded",
            1,
            schemars::schema_for!(DiscrepancySuperseded),
        ),
    ]
}

/// One completed run, as the stream tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub started: ReconciliationStarted,
    pub completed: ReconciliationCompleted,
}

/// A recorded discrepancy, its resolution and whether a later run no longer
/// found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedDiscrepancy {
    /// The latest `DiscrepancyFound` (a reopened discrepancy's is the run
    /// that found it again).
    pub found: DiscrepancyFound,
    pub resolution: Option<DiscrepancyResolved>,
    pub superseded: Option<DiscrepancySuperseded>,
}

/// Where a recorded discrepancy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiscrepancyStatus {
    /// Waiting for a person or a later run.
    Open,
    /// A person resolved it.
    Resolved,
    /// A later run no longer found it.
    Superseded,
}

impl DiscrepancyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DiscrepancyStatus::Open => "open",
            DiscrepancyStatus::Resolved => "resolved",
            DiscrepancyStatus::Superseded => "superseded",
        }
    }
}

impl RecordedDiscrepancy {
    pub fn status(&self) -> DiscrepancyStatus {
        match (&self.resolution, &self.superseded) {
            (Some(_), _) => DiscrepancyStatus::Resolved,
            (None, Some(_)) => DiscrepancyStatus::Superseded,
            (None, None) => DiscrepancyStatus::Open,
        }
    }

    pub fn is_open(&self) -> bool {
        self.status() == DiscrepancyStatus::Open
    }
}

/// A run stream folded: every completed run, every discrepancy by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunLog {
    pub runs: Vec<RunRecord>,
    pub discrepancies: BTreeMap<String, RecordedDiscrepancy>,
    /// A run started and not completed (only a corrupt or torn stream has one:
    /// a run is appended as one atomic batch).
    pending: Option<ReconciliationStarted>,
    /// Events folded: the stream version to append after.
    pub version: u64,
}

impl RunLog {
    /// Folds one event in.
    pub fn apply(&mut self, event: &ReconciliationEvent) {
        match event {
            ReconciliationEvent::ReconciliationStarted(e) => self.pending = Some(e.clone()),
            ReconciliationEvent::DiscrepancyFound(e) => {
                match self.discrepancies.get_mut(&e.id) {
                    // Found again after a run had superseded it: open again.
                    Some(recorded) if recorded.superseded.is_some() => {
                        recorded.found = e.clone();
                        recorded.superseded = None;
                    }
                    Some(_) => {}
                    None => {
                        self.discrepancies.insert(
                            e.id.clone(),
                            RecordedDiscrepancy {
                                found: e.clone(),
                                resolution: None,
                                superseded: None,
                            },
                        );
                    }
                }
            }
            ReconciliationEvent::ReconciliationCompleted(e) => {
                if let Some(started) = self.pending.take() {
                    self.runs.push(RunRecord {
                        started,
                        completed: e.clone(),
                    });
                }
            }
            ReconciliationEvent::DiscrepancyResolved(e) => {
                if let Some(recorded) = self.discrepancies.get_mut(&e.id) {
                    recorded.resolution = Some(e.clone());
                }
            }
            ReconciliationEvent::DiscrepancySuperseded(e) => {
                if let Some(recorded) = self.discrepancies.get_mut(&e.id) {
                    recorded.superseded = Some(e.clone());
                }
            }
        }
        self.version += 1;
    }

    /// The latest completed run.
    pub fn latest(&self) -> Option<&RunRecord> {
        self.runs.last()
    }

    /// The next run's number.
    pub fn next_run(&self) -> u32 {
        u32::try_from(self.runs.len()).map_or(u32::MAX, |n| n.saturating_add(1))
    }
}

/// Why an operator's resolution is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolutionRejected {
    #[error("no discrepancy {id} was recorded for this day")]
    UnknownDiscrepancy { id: String },
    #[error("discrepancy {id} is already resolved")]
    AlreadyResolved { id: String },
    #[error("discrepancy {id} is closed: run {run} no longer found it")]
    Superseded { id: String, run: u32 },
    #[error("a resolution needs the operator's name and a note")]
    MissingNote,
}

impl ResolutionRejected {
    /// The stable code an API returns.
    pub fn code(&self) -> &'static str {
        match self {
            ResolutionRejected::UnknownDiscrepancy { .. } => "UNKNOWN_DISCREPANCY",
            ResolutionRejected::AlreadyResolved { .. } => "DISCREPANCY_ALREADY_RESOLVED",
            ResolutionRejected::Superseded { .. } => "DISCREPANCY_SUPERSEDED",
            ResolutionRejected::MissingNote => "RESOLUTION_NOTE_REQUIRED",
        }
    }
}

/// Decides an operator's resolution against the folded stream.
pub fn decide_resolution(
    log: &RunLog,
    id: &str,
    outcome: ResolutionOutcome,
    by: &str,
    note: &str,
    at: DateTime<Utc>,
) -> Result<DiscrepancyResolved, ResolutionRejected> {
    if by.trim().is_empty() || note.trim().is_empty() {
        return Err(ResolutionRejected::MissingNote);
    }
    let Some(recorded) = log.discrepancies.get(id) else {
        return Err(ResolutionRejected::UnknownDiscrepancy { id: id.to_owned() });
    };
    if recorded.resolution.is_some() {
        return Err(ResolutionRejected::AlreadyResolved { id: id.to_owned() });
    }
    if let Some(superseded) = &recorded.superseded {
        return Err(ResolutionRejected::Superseded {
            id: id.to_owned(),
            run: superseded.run,
        });
    }
    Ok(DiscrepancyResolved {
        id: id.to_owned(),
        outcome,
        by: by.to_owned(),
        note: note.to_owned(),
        at,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, 0).unwrap()
    }

    fn found(id: &str) -> ReconciliationEvent {
        ReconciliationEvent::DiscrepancyFound(DiscrepancyFound {
            run: 1,
            id: id.to_owned(),
            kind: "MISSING_IN_BILL".to_owned(),
            subject: "payment".to_owned(),
            order: Some(OutTradeNo::parse("A1").unwrap()),
            out_trade_no: Some("p1".to_owned()),
            out_refund_no: None,
            provider_trade_no: None,
            bill_amount: None,
            ledger_amount: Amount::from_fen(1_200),
            bill_lines: vec![],
            detail: "not on the bill".to_owned(),
            at: at(),
        })
    }

    #[test]
    fn the_stream_name_holds_provider_merchant_and_compact_day() {
        let merchant = MerchantId::parse("shop-a").unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        assert_eq!(
            reconciliation_stream(Provider::Wechatpay, &merchant, day),
            "recon-wechatpay-shop-a-20261120"
        );
    }

    #[test]
    fn events_round_trip_through_the_store_format() {
        let event = found("x/1");
        let (event_type, version, data) = event.encode();
        let back = ReconciliationEvent::decode(event_type, version, &data).unwrap();
        assert_eq!(back, event);
        assert!(matches!(
            ReconciliationEvent::decode("DiscrepancyFound", 2, &data),
            Err(DecodeError::UnknownVersion { .. })
        ));
        assert!(matches!(
            ReconciliationEvent::decode("Nope", 1, &data),
            Err(DecodeError::UnknownType { .. })
        ));
    }

    #[test]
    fn a_discrepancy_is_resolved_once_and_only_if_it_was_recorded() {
        let mut log = RunLog::default();
        log.apply(&found("x/1"));
        let ok = ResolutionOutcome::NoIssue;
        assert_eq!(
            decide_resolution(&log, "x/2", ok, "ops", "checked", at()),
            Err(ResolutionRejected::UnknownDiscrepancy { id: "x/2".into() })
        );
        assert_eq!(
            decide_resolution(&log, "x/1", ok, "ops", " ", at()),
            Err(ResolutionRejected::MissingNote)
        );
        let resolved = decide_resolution(&log, "x/1", ok, "ops", "checked", at()).unwrap();
        log.apply(&ReconciliationEvent::DiscrepancyResolved(resolved));
        assert_eq!(
            decide_resolution(&log, "x/1", ok, "ops", "again", at()),
            Err(ResolutionRejected::AlreadyResolved { id: "x/1".into() })
        );
        assert_eq!(log.version, 2);
    }

    #[test]
    fn a_version_1_completion_is_read_with_its_ids_counted_and_fingerprinted() {
        let v1 = serde_json::json!({
            "run": 1, "matched_payments": 2, "matched_refunds": 0, "matched_reversals": 0,
            "discrepancy_ids": ["b/2", "a/1"], "new_discrepancies": 2, "carried_over": [],
            "bill": {"payment_count": 2, "refund_count": 0, "paid_total": "1.00", "refund_total": "0.00"},
            "ledger": {"payment_count": 2, "refund_count": 0, "paid_total": "1.00", "refund_total": "0.00"},
            "at": "2026-11-21T02:00:00Z"
        });
        let data = serde_json::to_vec(&v1).unwrap();
        let event = ReconciliationEvent::decode("ReconciliationCompleted", 1, &data).unwrap();
        let ReconciliationEvent::ReconciliationCompleted(completed) = &event else {
            panic!("{event:?}");
        };
        assert_eq!(completed.discrepancies, 2);
        assert_eq!(
            completed.discrepancy_fingerprint,
            discrepancy_fingerprint(&["a/1", "b/2"])
        );
        assert_ne!(
            completed.discrepancy_fingerprint,
            discrepancy_fingerprint(&["a/1"])
        );
        let (event_type, version, data) = event.encode();
        assert_eq!((event_type, version), ("ReconciliationCompleted", 2));
        assert_eq!(
            ReconciliationEvent::decode(event_type, version, &data).unwrap(),
            event
        );
    }

    #[test]
    fn a_superseded_discrepancy_cannot_be_resolved_and_opens_again_when_found_again() {
        let mut log = RunLog::default();
        log.apply(&found("x/1"));
        assert_eq!(log.discrepancies["x/1"].status(), DiscrepancyStatus::Open);
        log.apply(&ReconciliationEvent::DiscrepancySuperseded(
            DiscrepancySuperseded {
                id: "x/1".into(),
                run: 2,
                bill_sha256: Some("ab".into()),
                at: at(),
            },
        ));
        assert_eq!(
            log.discrepancies["x/1"].status(),
            DiscrepancyStatus::Superseded
        );
        let ok = ResolutionOutcome::NoIssue;
        assert_eq!(
            decide_resolution(&log, "x/1", ok, "ops", "checked", at()),
            Err(ResolutionRejected::Superseded {
                id: "x/1".into(),
                run: 2
            })
        );
        log.apply(&found("x/1"));
        assert!(log.discrepancies["x/1"].is_open());
        assert!(decide_resolution(&log, "x/1", ok, "ops", "checked", at()).is_ok());
    }
}
