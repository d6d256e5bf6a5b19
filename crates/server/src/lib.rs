//! The paycode service: configuration, the HTTP API and its operations
//! endpoints, and the command-line work behind `paycode export` / `replay`.
//!
//! Invariant: only this crate knows HTTP, the command line and which store
//! backend runs; everything below it is reached through `paycode_app` and
//! the `EventStore` trait.

pub mod api;
pub mod checks;
pub mod cli;
pub mod config;
pub mod console;
pub mod graphql;
mod http;
pub mod openapi;
pub mod service;
mod store_url;
pub mod wiring;

use anyhow::Context as _;

pub use config::Config;
pub use http::router;
pub use service::Service;
pub use store_url::{OpenedStore, StoreUrl};

/// Human-readable logs by default; JSON lines when asked (for log shippers).
/// The level comes from `RUST_LOG` (default `info`). Levels: ERROR when an
/// order goes to the manual-intervention queue or a provider account is
/// misconfigured; WARN for provider faults (unknown answers, timeouts,
/// signatures that did not verify, 5xx) and every retry of a reverse or a
/// refund; INFO for each order change, with order and merchant.
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only for a person at a terminal, never into a log file.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Runs paycode: opens the store, starts the simulator when configured, the
/// process worker, and the HTTP API on `config.listen`, until Ctrl-C or
/// SIGTERM; then stops accepting connections, lets in-flight requests (and
/// their appends) finish, and hands its work partitions over.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let simulator = start_simulator(&config).await?;
    let store_url: StoreUrl = config.store.parse().map_err(anyhow::Error::msg)?;
    let opened = store_url.open().await.context("opening the event store")?;
    for warning in crate::checks::check_config(&config).warnings {
        tracing::warn!(warning = warning.as_str(), "configuration");
    }
    let mut service = Service::on_store(opened, &config)?;
    let (app, projector) = wiring::app(&mut service, &config).await?;
    let worker = tokio::spawn(service.clone().run_worker());
    // Simulator accounts answer once it is up, which it is by now.
    let self_check = tokio::spawn(
        service
            .accounts
            .clone()
            .watch(service.process.providers().accounts()),
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, store = %config.store, merchants = config.merchants.len(), "paycode is serving");
    println!(
        "paycode listening on http://{addr} (store {})",
        config.store
    );
    println!(
        "  POST http://{addr}/v1/payments        charge a payment code (Bearer <merchant API key>)"
    );
    println!("  GET  http://{addr}/openapi.json       the POS API");
    println!("  GET  http://{addr}/healthz, /readyz   operations");
    println!(
        "  GET  http://{addr}/                   the back-office console (sign in with an operator token)"
    );
    println!(
        "  GET  http://{addr}/graphql            the back office's GraphQL API (GraphiQL in a browser)"
    );
    if let Some(banner) = &config.banner {
        println!("{}", banner.trim_end());
    }
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    // Hand the partitions over before stopping, so the other nodes (if any)
    // take this node's follow-up work at once instead of after its leases
    // run out. The worker stops working them the moment they are given up.
    service.process.leave().await;
    worker.abort();
    projector.abort();
    self_check.abort();
    if let Some(running) = simulator {
        stop_simulator(running).await;
    }
    served.context("serving HTTP")
}

/// The in-process simulator, in a build that carries it (the `simulator`
/// feature); a build without it can hold none.
#[cfg(feature = "simulator")]
type Simulator = paycode_sim::RunningSim;
#[cfg(not(feature = "simulator"))]
type Simulator = std::convert::Infallible;

/// Starts the configured in-process simulator (`[simulator]`), when this
/// build carries it.
#[cfg(feature = "simulator")]
async fn start_simulator(config: &Config) -> anyhow::Result<Option<Simulator>> {
    let Some(sim) = &config.simulator else {
        return Ok(None);
    };
    let sim_config = paycode_sim::SimConfig::load(&sim.config)
        .with_context(|| format!("loading the simulator config {}", sim.config.display()))?;
    let running = paycode_sim::start(sim_config, sim.listen)
        .await
        .context("starting the simulator")?;
    println!(
        "paycode-sim (WeChat Pay + Alipay simulator) on {}",
        running.base_url()
    );
    Ok(Some(running))
}

/// This build has no simulator: a configuration that asks for one is refused.
#[cfg(not(feature = "simulator"))]
async fn start_simulator(config: &Config) -> anyhow::Result<Option<Simulator>> {
    if config.simulator.is_some() {
        anyhow::bail!(
            "the configuration asks for the in-process simulator ([simulator]), \
             which this build leaves out: build with `--features simulator` (as `make run` does)"
        );
    }
    Ok(None)
}

#[cfg(feature = "simulator")]
async fn stop_simulator(running: Simulator) {
    running.shutdown().await;
}

#[cfg(not(feature = "simulator"))]
async fn stop_simulator(never: Simulator) {
    match never {}
}

async fn shutdown_signal() {
    let ctrl_c = async {
        // If the handler cannot be installed we only lose graceful Ctrl-C.
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
