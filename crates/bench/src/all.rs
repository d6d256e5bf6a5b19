//! The `all` section: runs every other section, each in its own child
//! process (this binary again), and writes one Markdown file: the machine,
//! the command, the date and commit, each section's output, and a table of
//! the targets the sections report.
//!
//! A child process per section keeps them independent: one that fails or
//! panics is reported as failed in the file and the others still run, and
//! none inherits another's memory, threads or files.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context as _;

#[derive(Debug, clap::Args)]
pub struct AllArgs {
    /// Where the Markdown goes.
    #[arg(long, default_value = "docs/benchmarks.md")]
    out: PathBuf,
}

/// The sections, in the order they run. `postgres` measures only when
/// `PAYCODE_BENCH_POSTGRES_URL` is set and prints how to run it otherwise.
const SECTIONS: &[&str] = &[
    "store",
    "postgres",
    "reconcile",
    "sign",
    "replay",
    "e2e",
    "backoffice",
    "nodes",
    "projections",
];

/// Lines of a failed section's stderr kept in the file.
const STDERR_TAIL_LINES: usize = 20;

/// One section's outcome.
#[derive(Debug)]
struct Ran {
    name: &'static str,
    markdown: String,
    seconds: u64,
    /// The 1-minute load average just before the section ran.
    load_before: String,
}

pub fn run(args: AllArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding this binary")?;
    let header = header();
    let mut ran = Vec::new();
    for &name in SECTIONS {
        if !section_exists(&exe, name) {
            continue;
        }
        eprintln!("paycode-bench: running {name}");
        ran.push(run_section(&exe, name));
    }
    let mut out = header;
    for section in &ran {
        out.push_str(section.markdown.trim_end());
        let _ = writeln!(
            out,
            "\n\n_Section time: {} s; 1-minute load average before it: {}._\n",
            section.seconds, section.load_before
        );
    }
    out.push_str(&targets_table(&ran));
    let _ = writeln!(
        out,
        "\nLoad average at the end (1, 5, 15 min): {}.",
        load_average(3)
    );
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, out).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("paycode-bench: wrote {}", args.out.display());
    Ok(())
}

/// Whether this binary knows the section (a later one may not exist yet).
fn section_exists(exe: &std::path::Path, name: &str) -> bool {
    Command::new(exe)
        .args([name, "--help"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run_section(exe: &std::path::Path, name: &'static str) -> Ran {
    let load_before = load_average(1);
    let started = Instant::now();
    let output = Command::new(exe)
        .arg(name)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output();
    let seconds = started.elapsed().as_secs();
    let markdown = match output {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
        Ok(output) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            // The error, not the backtrace that follows it under RUST_BACKTRACE.
            let error = stderr
                .split_once("Stack backtrace:")
                .or_else(|| stderr.split_once("stack backtrace:"))
                .map_or(&*stderr, |(before, _)| before);
            let lines: Vec<&str> = error.lines().collect();
            let tail = lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n");
            format!(
                "## Section `{name}`: FAILED\n\n`paycode-bench {name}` ended with {}; the end of its stderr:\n\n```\n{tail}\n```\n\nWhat it printed before failing:\n\n{}\n",
                output.status,
                String::from_utf8_lossy(&output.stdout)
            )
        }
        Err(error) => format!("## Section `{name}`: FAILED\n\nIt could not start: {error}.\n"),
    };
    Ran {
        name,
        markdown,
        seconds,
        load_before,
    }
}

/// The first `n` load averages from /proc/loadavg, comma-separated.
fn load_average(n: usize) -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let figures: Vec<&str> = load.split_whitespace().take(n).collect();
    if figures.is_empty() {
        "unknown".to_owned()
    } else {
        figures.join(", ")
    }
}

fn header() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
        .map_or("unknown".to_owned(), |(_, model)| model.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or("unknown".to_owned(), |kb| format!("{} MiB", kb / 1024));
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|o| {
            o.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|n| n.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".to_owned(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_owned()
        });
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|o| o.status.success() && !o.stdout.is_empty());
    let postgres = if std::env::var_os("PAYCODE_BENCH_POSTGRES_URL").is_some() {
        "PAYCODE_BENCH_POSTGRES_URL=... "
    } else {
        ""
    };
    let mut out = String::from("# Benchmarks\n\n");
    out.push_str(
        "Written by `make bench`; every figure below comes from the run described here.\n\n",
    );
    let _ = writeln!(
        out,
        "- Command: `{postgres}cargo run --release -p paycode-bench -- all --out docs/benchmarks.md` (`make bench`)"
    );
    let _ = writeln!(
        out,
        "- Date: {} UTC",
        chrono::Utc::now().format("%Y-%m-%d %H:%M")
    );
    let _ = writeln!(
        out,
        "- Commit: `{commit}`{}",
        if dirty {
            " with uncommitted changes"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "- CPU: {cpu}, {cores} cores; memory {memory}");
    let _ = writeln!(out, "- OS: {os}, Linux {}", kernel.trim());
    let _ = writeln!(
        out,
        "- Load average at start (1, 5, 15 min): {} on {cores} cores. Anything above 0 is other work on the machine (builds, other benchmarks) competing with the measurements; each section gives the load before it ran.\n",
        load_average(3)
    );
    out
}

/// One target a section reported: `<what>: met (<measured>)`.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    what: String,
    measured: String,
    met: bool,
}

/// Reads the target lines a section printed: `Target: ...: met (...)`, or
/// `- ...: NOT met (...)` under a `Targets:` line.
fn targets(markdown: &str) -> Vec<Target> {
    let mut found = Vec::new();
    let mut in_list = false;
    for line in markdown.lines() {
        let text = if let Some(rest) = line.strip_prefix("Target: ") {
            rest
        } else if line.starts_with("Targets:") {
            in_list = true;
            continue;
        } else if let Some(rest) = line.strip_prefix("- ").filter(|_| in_list) {
            rest
        } else {
            if !line.trim().is_empty() {
                in_list = false;
            }
            continue;
        };
        found.extend(parse_target(text));
    }
    found
}

fn parse_target(text: &str) -> Option<Target> {
    let (what, verdict, rest) = if let Some((what, rest)) = text.split_once(": NOT met") {
        (what, false, rest)
    } else {
        let (what, rest) = text.split_once(": met")?;
        (what, true, rest)
    };
    let measured = rest
        .split_once('(')
        .and_then(|(_, r)| r.rsplit_once(')'))
        .map_or("", |(m, _)| m);
    Some(Target {
        what: what.trim().to_owned(),
        measured: measured.trim().to_owned(),
        met: verdict,
    })
}

fn targets_table(ran: &[Ran]) -> String {
    let mut out = String::from(
        "## Targets\n\n| section | target | measured | met |\n| --- | --- | --- | --- |\n",
    );
    for section in ran {
        let found = targets(&section.markdown);
        if section.markdown.contains(": FAILED") && found.is_empty() {
            let _ = writeln!(out, "| {} | (section failed) | – | no |", section.name);
        }
        for t in found {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                section.name,
                t.what,
                t.measured,
                if t.met { "yes" } else { "**no**" }
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_lines_of_every_shape_are_read() {
        let markdown = "## X\n\nTarget: 1 in <= 5 s: met (4,000 ms).\n\nTargets:\n\n- >= 50 events/s: NOT met (12).\n- half: met (1 of 2, 50%).\n\nGroup commit: - not a target: met (no)\n";
        let found = targets(markdown);
        assert_eq!(
            found,
            [
                Target {
                    what: "1 in <= 5 s".into(),
                    measured: "4,000 ms".into(),
                    met: true
                },
                Target {
                    what: ">= 50 events/s".into(),
                    measured: "12".into(),
                    met: false
                },
                Target {
                    what: "half".into(),
                    measured: "1 of 2, 50%".into(),
                    met: true
                },
            ]
        );
    }

    #[test]
    fn a_target_line_without_a_measure_keeps_an_empty_one() {
        assert_eq!(
            parse_target("lines in <= 10 s: met."),
            Some(Target {
                what: "lines in <= 10 s".into(),
                measured: String::new(),
                met: true
            })
        );
        assert_eq!(parse_target("no verdict here"), None);
    }
}
