//! The `paycode` binary's log commands, run as a user would.

use std::path::PathBuf;
use std::process::Command;

fn paycode() -> Command {
    Command::new(env!("CARGO_BIN_EXE_paycode"))
}

fn recorded_log() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/orders.jsonl")
}

#[test]
fn replay_prints_every_recorded_order_and_export_gives_the_log_back() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("replayed.db");
    let replay = paycode()
        .args([
            "replay",
            recorded_log().to_str().expect("utf-8 path"),
            "--store",
        ])
        .arg(format!("sqlite:{}", db.display()))
        .output()
        .expect("paycode runs");
    assert!(
        replay.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let states: serde_json::Value =
        serde_json::from_slice(&replay.stdout).expect("replay prints JSON");
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(recorded_log().with_file_name("orders.state.json"))
            .expect("golden states"),
    )
    .expect("golden JSON");
    assert_eq!(
        states, golden,
        "the binary projects what the library projects"
    );

    let out = dir.path().join("exported.jsonl");
    let export = paycode()
        .args([
            "export",
            "--out",
            out.to_str().expect("utf-8 path"),
            "--store",
        ])
        .arg(format!("sqlite:{}", db.display()))
        .output()
        .expect("paycode runs");
    assert!(
        export.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&export.stderr)
    );
    let strip = |text: String| -> Vec<serde_json::Value> {
        text.lines()
            .map(|line| {
                let mut value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
                value
                    .as_object_mut()
                    .expect("an object")
                    .remove("recorded_at");
                value
            })
            .collect()
    };
    let exported = strip(std::fs::read_to_string(&out).expect("export wrote the file"));
    let original = strip(std::fs::read_to_string(recorded_log()).expect("the recorded log"));
    assert_eq!(exported, original);
}

#[test]
fn replay_refuses_a_broken_log_with_the_line_number() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"position\": 1}\n").expect("written");
    let replay = paycode()
        .arg("replay")
        .arg(&bad)
        .output()
        .expect("paycode runs");
    assert!(!replay.status.success());
    let stderr = String::from_utf8_lossy(&replay.stderr);
    assert!(stderr.contains("log line 1"), "{stderr}");
}

#[test]
fn an_unknown_store_kind_is_refused_clearly() {
    let output = paycode()
        .args(["export", "--store", "mysql://x"])
        .output()
        .expect("paycode runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("expected sqlite:PATH"), "{stderr}");
}
