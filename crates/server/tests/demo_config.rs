//! The configuration behind `make run` loads, and every provider client and
//! the back office it names can be built from it, so the quick start cannot
//! rot unnoticed. Its own test binary: it changes the working directory to
//! the repository root, where `make run` starts and the config's paths point.

use paycode_server::{Config, wiring::provider_directory};

#[test]
fn the_demo_config_builds_every_client_it_names() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    std::env::set_current_dir(root).expect("the repository root");
    let config = Config::load(std::path::Path::new("crates/server/paycode.demo.toml"))
        .expect("the demo config loads");
    assert_eq!(config.merchants.len(), 1);
    assert!(
        config.simulator.is_some(),
        "make run starts the simulator with paycode"
    );
    assert_eq!(config.operators.len(), 1, "one back-office token");
    provider_directory(&config).expect("a WeChat and an Alipay client for the demo merchant");
    let demo_key = paycode_server::config::ApiKeys::from_merchants(&config.merchants);
    assert_eq!(
        demo_key
            .merchant("demo-key")
            .expect("the printed demo key works")
            .as_str(),
        "demo"
    );
    let sim = paycode_sim::SimConfig::load(&config.simulator.expect("checked").config)
        .expect("the simulator config loads");
    assert_eq!(sim.wechat.len(), 1);
}
