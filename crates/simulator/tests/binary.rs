//! The `paycode-sim` binary: its help lists the scenario markers, and it serves with the example config as `make sim` runs it.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Command, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_paycode-sim");

#[test]
fn help_lists_the_scenario_markers_and_the_control_api() {
    let output = Command::new(BINARY)
        .arg("--help")
        .output()
        .expect("binary runs");
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success());
    for expected in [
        "--config",
        "--listen",
        "  08  retries",
        "/_sim/faults",
        "mTLS is not simulated",
    ] {
        assert!(help.contains(expected), "help lacks `{expected}`:\n{help}");
    }
}

#[test]
fn the_example_config_serves_from_the_repo_root() {
    let repo_root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut child = Command::new(BINARY)
        .current_dir(repo_root)
        .args([
            "--config",
            "crates/simulator/sim.example.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let base = first_line
        .trim()
        .strip_prefix("paycode-sim listening on http://")
        .map(str::to_owned);
    let answer = base.as_deref().map(|addr| {
        let mut stream = std::net::TcpStream::connect(addr).expect("connects");
        write!(
            stream,
            "GET /_sim/clock HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    });
    child.kill().expect("stop the child we started");
    child.wait().unwrap();
    let answer = answer.unwrap_or_else(|| panic!("unexpected first line: {first_line}"));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"now\""), "{answer}");
}
