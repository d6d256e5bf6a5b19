//! Keeps the layering of docs/ARCHITECTURE.md true without review effort:
//! reads `cargo metadata` and fails unless the dependency edges between
//! paycode crates are exactly those of the table below: an edge the
//! architecture does not allow fails, and so does a listed edge that no
//! longer exists, so the table stays the map of what is.
//!
//! Only normal (non-dev) dependencies are checked: a client crate may test
//! itself against the simulator, but may not call it.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// For each paycode package, the paycode packages it depends on. A package
/// that exists but is missing here fails the test, so a new crate must take
/// its place in the map.
const EDGES: &[(&str, &[&str])] = &[
    ("paycode-domain", &[]),
    ("paycode-store", &[]),
    ("paycode-store-sqlite", &["paycode-store"]),
    ("paycode-store-postgres", &["paycode-store"]),
    ("paycode-store-kurrent", &["paycode-store"]),
    ("paycode-provider", &["paycode-domain"]),
    ("paycode-wechatpay", &["paycode-domain", "paycode-provider"]),
    ("paycode-alipay", &["paycode-domain", "paycode-provider"]),
    ("paycode-reconcile", &["paycode-domain"]),
    ("paycode-sim", &[]),
    ("paycode-projections", &["paycode-domain", "paycode-store"]),
    (
        "paycode-app",
        &[
            "paycode-domain",
            "paycode-store",
            "paycode-provider",
            "paycode-reconcile",
            // The bill parsers only: the app turns their rows into matching input.
            "paycode-wechatpay",
            "paycode-alipay",
        ],
    ),
    (
        "paycode-server",
        &[
            "paycode-domain",
            "paycode-store",
            "paycode-store-sqlite",
            "paycode-store-postgres",
            "paycode-store-kurrent",
            "paycode-provider",
            "paycode-wechatpay",
            "paycode-alipay",
            "paycode-app",
            "paycode-projections",
            // Optional: only with the `simulator` feature (`make run`, the tests).
            "paycode-sim",
        ],
    ),
    // Benchmarks measure every layer, so they may reach all of them.
    (
        "paycode-bench",
        &[
            "paycode-domain",
            "paycode-store",
            "paycode-store-sqlite",
            "paycode-store-postgres",
            "paycode-provider",
            "paycode-wechatpay",
            "paycode-alipay",
            "paycode-app",
            "paycode-reconcile",
            "paycode-projections",
            "paycode-sim",
            // The `e2e` section serves the POS API in process.
            "paycode-server",
        ],
    ),
];

fn metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

fn workspace_edges() -> BTreeMap<String, BTreeSet<String>> {
    let metadata = metadata();
    let mut edges = BTreeMap::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().expect("name").to_owned();
        let deps = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null()) // normal dependencies only
            .filter_map(|d| d["name"].as_str())
            .filter(|d| d.starts_with("paycode-"))
            .map(str::to_owned)
            .collect();
        edges.insert(name, deps);
    }
    edges
}

#[test]
fn crates_depend_only_downwards() {
    let table: BTreeMap<&str, &[&str]> = EDGES.iter().copied().collect();
    let mut wrong = Vec::new();
    let edges = workspace_edges();
    for (package, deps) in &edges {
        let Some(may) = table.get(package.as_str()) else {
            wrong.push(format!(
                "{package} is not in the layering map of tests/layering.rs"
            ));
            continue;
        };
        for dep in deps {
            if !may.contains(&dep.as_str()) {
                wrong.push(format!("{package} -> {dep} points the wrong way"));
            }
        }
        for listed in *may {
            if !deps.contains(*listed) {
                wrong.push(format!(
                    "{package} -> {listed} is in the table but not in the code: remove it"
                ));
            }
        }
    }
    for package in table.keys() {
        if !edges.contains_key(*package) {
            wrong.push(format!("{package} is in the table but is no crate"));
        }
    }
    assert!(
        wrong.is_empty(),
        "layering broken (see docs/ARCHITECTURE.md):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_domain_has_no_io_dependencies() {
    let metadata = metadata();
    let domain = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == "paycode-domain")
        .expect("paycode-domain is a workspace member");
    let forbidden = [
        "tokio",
        "rusqlite",
        "axum",
        "reqwest",
        "hyper",
        "sqlx",
        "async-trait",
    ];
    for dep in domain["dependencies"].as_array().expect("dependencies") {
        let name = dep["name"].as_str().expect("name");
        assert!(
            !forbidden.contains(&name),
            "paycode-domain must stay pure, but depends on {name}"
        );
    }
}

/// `paycode-sim` reaches the server only through its `simulator` feature:
/// a production build of `paycode` does not carry the simulator.
#[test]
fn the_simulator_is_optional_in_the_server() {
    let metadata = metadata();
    let server = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == "paycode-server")
        .expect("paycode-server is a workspace member");
    let sim = server["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .find(|d| d["name"] == "paycode-sim" && d["kind"].is_null())
        .expect("the server may run the simulator in process");
    assert_eq!(sim["optional"], true, "{sim}");
    assert_eq!(
        server["features"]["simulator"],
        serde_json::json!(["dep:paycode-sim"])
    );
}
