//! Keeps `schemas/events/` (at the repository root) equal to the JSON Schemas
//! generated from the event payloads: one file per event type and version,
//! plus `index.json`, and nothing else.
//!
//! With `PAYCODE_UPDATE_SCHEMAS=1` the test writes the files instead of
//! comparing (that is what `make schemas` runs).

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use paycode_domain::schema::{INDEX_FILE, event_schemas, schema_index};

const REGENERATE: &str =
    "make schemas   (runs: PAYCODE_UPDATE_SCHEMAS=1 cargo test -p paycode-domain --test schemas)";

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/events")
}

/// Every file the folder must hold, by name.
fn expected_files() -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = event_schemas()
        .into_iter()
        .map(|s| (s.file_name(), s.json))
        .collect();
    files.insert(INDEX_FILE.to_owned(), schema_index());
    files
}

fn checked_in_files() -> BTreeMap<String, String> {
    let Ok(entries) = fs::read_dir(schema_dir()) else {
        return BTreeMap::new();
    };
    entries
        .map(|entry| entry.expect("readable schema folder entry"))
        .filter(|entry| entry.path().is_file())
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let text =
                fs::read_to_string(entry.path()).unwrap_or_else(|e| format!("<unreadable: {e}>"));
            (name, text)
        })
        .collect()
}

fn write_all(expected: &BTreeMap<String, String>) {
    let dir = schema_dir();
    fs::create_dir_all(&dir).expect("create schemas/events");
    for name in checked_in_files().keys() {
        if !expected.contains_key(name) {
            fs::remove_file(dir.join(name)).expect("remove a stale schema file");
        }
    }
    for (name, text) in expected {
        fs::write(dir.join(name), text).expect("write a schema file");
    }
}

#[test]
fn checked_in_event_schemas_match_the_code() {
    let expected = expected_files();
    if std::env::var_os("PAYCODE_UPDATE_SCHEMAS").is_some() {
        write_all(&expected);
        return;
    }
    let actual = checked_in_files();
    let mut problems = Vec::new();
    for (name, text) in &expected {
        match actual.get(name) {
            None => problems.push(format!("missing: {name}")),
            Some(found) if found != text => problems.push(format!("differs from the code: {name}")),
            Some(_) => {}
        }
    }
    for name in actual.keys().filter(|name| !expected.contains_key(*name)) {
        problems.push(format!("stale (no such event type/version): {name}"));
    }
    assert!(
        problems.is_empty(),
        "schemas/events/ drifted from the event payloads:\n  {}\nRegenerate with: {REGENERATE}",
        problems.join("\n  ")
    );
}

#[test]
fn every_event_type_has_exactly_one_schema() {
    let names: Vec<String> = event_schemas().iter().map(|s| s.file_name()).collect();
    let expected: Vec<String> = paycode_domain::OrderEvent::TYPES
        .iter()
        .chain(paycode_domain::ReconciliationEvent::TYPES)
        .map(|(event_type, version)| format!("{event_type}.v{version}.json"))
        .collect();
    assert_eq!(names, expected);
}

#[test]
fn money_in_event_schemas_is_a_string() {
    let requested = event_schemas()
        .into_iter()
        .find(|s| s.event_type == "PaymentRequested")
        .unwrap();
    let schema: serde_json::Value = serde_json::from_str(&requested.json).unwrap();
    let amount = &schema["properties"]["amount"];
    let reference = amount["$ref"]
        .as_str()
        .expect("amount refers to the Money definition");
    let name = reference.rsplit('/').next().unwrap();
    assert_eq!(schema["$defs"][name]["type"], "string");
}
