//! Durability under SIGKILL: a child process (`sqlite-crash-writer`) appends
//! batches from several tasks and prints every acknowledged append; the test
//! kills it at a seeded moment, reopens the file and proves every
//! acknowledged event is there and no batch is torn. Several rounds run on
//! the same file, so recovery of a previously killed writer is tested too.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

use paycode_store::{EventStore, RecordedEvent};
use paycode_store_sqlite::SqliteStore;

const ROUNDS: u32 = 4;
const APPENDERS: u32 = 6;
/// The kill comes after this many acknowledgements plus a seeded share of
/// `KILL_SPREAD`, so each round stops at a different point.
const MIN_ACKS_BEFORE_KILL: u64 = 20;
const KILL_SPREAD: u64 = 400;
const READ_PAGE: usize = 1_000;
const MAX_READ_PAGES: usize = 10_000;

/// One `ack <stream> <version> <position> <batch>` line of the child.
#[derive(Debug)]
struct Ack {
    stream: String,
    version: u64,
    position: u64,
    batch: String,
}

/// What an event's data says about its batch.
#[derive(Debug)]
struct Part {
    batch: String,
    index: u64,
    count: u64,
}

#[test]
fn every_acknowledged_batch_survives_sigkill_whole_and_no_batch_is_torn() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let mut seed: u64 = 0x5eed_cafe;
    let mut acked = Vec::new();
    for round in 0..ROUNDS {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let kill_after = MIN_ACKS_BEFORE_KILL + (seed >> 33) % KILL_SPREAD;
        let acks = run_and_kill(&db, round, kill_after);
        println!(
            "round {round}: SIGKILL after {} acknowledged appends",
            acks.len()
        );
        acked.extend(acks);
        check_database(&db, &acked);
    }
}

/// Runs the child until `kill_after` acknowledgements, SIGKILLs it, and
/// returns every acknowledgement it printed (including those still in the pipe).
fn run_and_kill(db: &Path, round: u32, kill_after: u64) -> Vec<Ack> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sqlite-crash-writer"))
        .args([
            db.to_str().unwrap(),
            &round.to_string(),
            &APPENDERS.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the crash writer");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acks = Vec::new();
    while (acks.len() as u64) < kill_after {
        let line = lines
            .next()
            .expect("the writer kept running until killed")
            .unwrap();
        acks.push(parse_ack(&line));
    }
    child.kill().expect("SIGKILL the writer");
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the writer died of SIGKILL, not on its own: {status}"
    );
    // Lines already in the pipe were acknowledged before the kill, too.
    acks.extend(lines.map(|line| parse_ack(&line.unwrap())));
    acks
}

fn parse_ack(line: &str) -> Ack {
    let fields: Vec<&str> = line.split(' ').collect();
    let ["ack", stream, version, position, batch] = fields.as_slice() else {
        panic!("unexpected line from the writer: {line:?}");
    };
    Ack {
        stream: (*stream).to_owned(),
        version: version.parse().unwrap(),
        position: position.parse().unwrap(),
        batch: (*batch).to_owned(),
    }
}

fn check_database(db: &Path, acked: &[Ack]) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let all = runtime.block_on(async {
        let store = SqliteStore::open(db).expect("the killed writer's database opens");
        read_everything(&store).await
    });
    let positions: Vec<u64> = all.iter().map(|e| e.position).collect();
    assert_eq!(
        positions,
        (1..=all.len() as u64).collect::<Vec<_>>(),
        "positions are gap-free"
    );
    let batches = check_batches_whole(&all);
    let by_position: HashMap<u64, &RecordedEvent> = all.iter().map(|e| (e.position, e)).collect();
    for ack in acked {
        let event = by_position
            .get(&ack.position)
            .unwrap_or_else(|| panic!("acknowledged {ack:?} was lost"));
        assert_eq!(
            (event.stream.as_str(), event.version),
            (ack.stream.as_str(), ack.version),
            "{ack:?}"
        );
        let part = part_of(event);
        assert_eq!(
            part.batch, ack.batch,
            "the ack names the batch of its last event"
        );
        assert_eq!(
            part.index + 1,
            part.count,
            "an ack points at the last event of its batch"
        );
        assert!(batches.contains_key(&ack.batch));
    }
    println!(
        "  reopened: {} events, every acknowledged one present, no batch torn",
        all.len()
    );
}

/// Groups events by batch and asserts each batch is complete, in order, in
/// one stream at consecutive versions and positions. Returns the batches.
fn check_batches_whole(all: &[RecordedEvent]) -> HashMap<String, Vec<&RecordedEvent>> {
    let mut batches: HashMap<String, Vec<&RecordedEvent>> = HashMap::new();
    for event in all {
        batches.entry(part_of(event).batch).or_default().push(event);
    }
    for (batch, events) in &batches {
        let count = part_of(events[0]).count;
        assert_eq!(events.len() as u64, count, "batch {batch} is torn");
        for (i, event) in events.iter().enumerate() {
            assert_eq!(
                part_of(event).index,
                i as u64,
                "batch {batch} is out of order"
            );
            assert_eq!(event.stream, events[0].stream);
            assert_eq!(event.version, events[0].version + i as u64);
            assert_eq!(event.position, events[0].position + i as u64);
        }
    }
    batches
}

fn part_of(event: &RecordedEvent) -> Part {
    let data: serde_json::Value = serde_json::from_slice(&event.data).expect("event data is JSON");
    Part {
        batch: data["batch"].as_str().expect("a batch id").to_owned(),
        index: data["index"].as_u64().expect("an index"),
        count: data["count"].as_u64().expect("a count"),
    }
}

async fn read_everything(store: &SqliteStore) -> Vec<RecordedEvent> {
    let mut all: Vec<RecordedEvent> = Vec::new();
    for _ in 0..MAX_READ_PAGES {
        let after = all.last().map_or(0, |e| e.position);
        let page = store.read_all(after, READ_PAGE).await.unwrap();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
    panic!("read_all never ended");
}
