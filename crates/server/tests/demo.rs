//! `make demo` cannot rot: this runs the `paycode-demo` binary and checks
//! that its table holds every scenario with the final state that scenario
//! must reach, settled within the demo's bound.

use std::collections::BTreeMap;
use std::process::Command;

/// Every row of the demo: scenario, the final state its cell must show, and
/// an event summary its events cell must contain.
const EXPECTED: &[(&str, &str, &str)] = &[
    ("wx 00 pays at once", "SUCCESS", "requested, paid"),
    ("wx 01 pays after 5 s", "SUCCESS", "pending"),
    ("wx 02 never confirmed", "REVOKED", "reverse-requested"),
    ("wx 03 no balance", "FAILED", "requested, failed"),
    ("wx 04 code expired", "FAILED", "requested, failed"),
    ("wx 05 code invalid", "FAILED", "requested, failed"),
    ("wx 06 unknown, paid", "SUCCESS", "unknown"),
    ("wx 07 unknown, not paid", "REVOKED", "reverse-requested"),
    ("wx 08 reverse retried 3x", "REVOKED", "reverse-retried x3"),
    (
        "wx 09 reverse always retry",
        "REVERSING, needs attention",
        "reverse-abandoned",
    ),
    (
        "wx 10 refund processing 20 s",
        "SUCCESS, refund SUCCEEDED (30.00)",
        "refund-processing",
    ),
    ("ali 00 pays at once", "SUCCESS", "requested, paid"),
    ("ali 01 pays after 12 s", "SUCCESS", "pending"),
    (
        "ali 02 never confirmed",
        "TRADE_CLOSED",
        "reverse-requested",
    ),
    ("ali 03 no balance", "FAILED", "requested, failed"),
    ("ali 06 unknown, paid", "SUCCESS", "unknown"),
    (
        "ali 07 unknown, not paid",
        "TRADE_CLOSED",
        "reverse-requested",
    ),
    (
        "ali 09 cancel always retry",
        "REVERSING, needs attention",
        "reverse-abandoned",
    ),
    ("wx password (> 1000.00)", "SUCCESS", "pending"),
    (
        "wx cashier reversal at 16 s",
        "REVOKED",
        "paid, reverse-requested",
    ),
    (
        "ali refund 60.00 of 100.00",
        "SUCCESS, refund SUCCEEDED (60.00)",
        "refunded",
    ),
    (
        "wx no balance, new code",
        "SUCCESS",
        "failed, retried, paid",
    ),
];

/// A table row: scenario -> (final state, events, settled after).
fn table(stdout: &str) -> BTreeMap<String, (String, String, String)> {
    stdout
        .lines()
        .filter(|l| {
            l.starts_with("| ") && !l.starts_with("| payment code") && !l.starts_with("| ---")
        })
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 6, "a row of six cells: {line}");
            (
                cells[1].to_owned(),
                (
                    cells[3].to_owned(),
                    cells[4].to_owned(),
                    cells[5].to_owned(),
                ),
            )
        })
        .collect()
}

#[test]
fn the_demo_settles_every_scenario_in_its_expected_state() {
    let output = Command::new(env!("CARGO_BIN_EXE_paycode-demo"))
        .output()
        .expect("the demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = table(&stdout);
    assert_eq!(
        rows.len(),
        EXPECTED.len(),
        "one row per scenario:\n{stdout}"
    );
    for (scenario, state, events) in EXPECTED {
        let (got_state, got_events, settled) = rows
            .get(*scenario)
            .unwrap_or_else(|| panic!("no row for {scenario}:\n{stdout}"));
        assert_eq!(got_state, state, "{scenario}:\n{stdout}");
        assert!(
            got_events.contains(events),
            "{scenario}: events {got_events}"
        );
        assert!(
            settled.ends_with(" s") && !settled.starts_with("not"),
            "{scenario}: {settled}"
        );
    }
}

#[test]
fn a_never_confirmed_payment_settles_only_after_the_deadline() {
    let output = Command::new(env!("CARGO_BIN_EXE_paycode-demo"))
        .output()
        .expect("the demo runs");
    let rows = table(&String::from_utf8_lossy(&output.stdout));
    let seconds = |scenario: &str| -> u64 {
        rows.get(scenario)
            .and_then(|(_, _, settled)| settled.trim_end_matches(" s").parse().ok())
            .unwrap_or_else(|| panic!("no settle time for {scenario}"))
    };
    assert_eq!(seconds("wx 00 pays at once"), 0);
    assert!(
        seconds("wx 02 never confirmed") >= 30,
        "reversed at the 30 s deadline, not before"
    );
    assert!(seconds("wx cashier reversal at 16 s") >= 16);
}
