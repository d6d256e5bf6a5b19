//! The `paycode-sim` binary: reads a TOML config, listens, and prints what it serves.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use paycode_sim::scenario::marker_table;
use paycode_sim::{SimConfig, start};

/// The default listen address when neither the config nor `--listen` names one.
const DEFAULT_LISTEN: &str = "127.0.0.1:8089";

#[derive(Debug, Parser)]
#[command(
    name = "paycode-sim",
    about = "WeChat Pay v2 and Alipay look-alike for paycode's tests and demo (plain HTTP on loopback; mTLS is not simulated).",
    after_help = after_help()
)]
struct Args {
    /// TOML configuration (see crates/simulator/sim.example.toml).
    #[arg(long, env = "PAYCODE_SIM_CONFIG")]
    config: PathBuf,
    /// Listen address; overrides `listen` in the config.
    #[arg(long)]
    listen: Option<SocketAddr>,
}

fn after_help() -> String {
    format!(
        "{}\nAmounts above the password threshold (default 1000.00) wait for the password (default 10 s of simulator clock).\n\
         Control API: GET /_sim/trades, POST /_sim/reset, GET /_sim/clock, POST /_sim/clock/advance, GET|POST /_sim/scenarios,\n\
         GET|PUT /_sim/faults, GET|POST|DELETE /_sim/bill/tampers (see crates/simulator/README.md).",
        marker_table()
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs go to stderr so that stdout carries only what the simulator serves (tests and scripts read its first line).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let config = SimConfig::load(&args.config)
        .with_context(|| format!("loading {}", args.config.display()))?;
    let listen = match args.listen.or(config.listen) {
        Some(addr) => addr,
        None => DEFAULT_LISTEN.parse().context("default listen address")?,
    };
    let summary = describe(&config);
    let sim = start(config, listen).await?;
    let base = sim.base_url();
    println!("paycode-sim listening on {base}");
    println!("{summary}");
    println!(
        "  WeChat Pay v2: {base}/pay/micropay, /pay/orderquery, /secapi/pay/reverse, /secapi/pay/refund, /pay/refundquery, /pay/downloadbill"
    );
    println!("  Alipay:        {base}/gateway.do (bill files under {base}/_bill/alipay/)");
    println!(
        "  Control API:   {base}/_sim/trades, /_sim/clock, /_sim/scenarios, /_sim/faults, /_sim/bill/tampers"
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    sim.shutdown().await;
    Ok(())
}

fn describe(config: &SimConfig) -> String {
    let wechat: Vec<String> = config
        .wechat
        .iter()
        .map(|m| match &m.sub_mch_id {
            Some(sub) => format!("appid {} mch_id {} sub_mch_id {sub}", m.appid, m.mch_id),
            None => format!("appid {} mch_id {}", m.appid, m.mch_id),
        })
        .collect();
    let alipay: Vec<String> = config
        .alipay
        .iter()
        .map(|a| format!("app_id {}", a.app_id))
        .collect();
    format!(
        "  merchants: WeChat [{}]; Alipay [{}]",
        wechat.join(", "),
        alipay.join(", ")
    )
}
