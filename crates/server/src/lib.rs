//! The paycode service: configuration, the HTTP API and its operations
//! endpoints, and the command-line work behind `paycode export` / `replay`.
//!
//! Invariant: only this crate knows HTTP, the command line and which store
//! backend runs; everything below it is reached through `paycode_app` and
//! the `EventStore` trait.

pub mod api;
pub mod cli;
pub mod config;
mod http;
pub mod openapi;
pub mod service;

use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context as _;
use paycode_store::EventStore;

pub use config::Config;
pub use http::router;
pub use service::Service;

/// Where the event log lives, as given by `--store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `sqlite:PATH`: the embedded store, one file.
    Sqlite(std::path::PathBuf),
}

impl FromStr for StoreUrl {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once(':') {
            Some(("sqlite", path)) if !path.is_empty() => Ok(StoreUrl::Sqlite(path.into())),
            _ => Err(format!("unsupported store {text:?}: expected sqlite:PATH")),
        }
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreUrl::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
        }
    }
}

impl StoreUrl {
    /// Opens the store, creating its file (and parent folder) when needed.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn EventStore>> {
        match self {
            StoreUrl::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                let store = paycode_store_sqlite::SqliteStore::open(path)
                    .with_context(|| format!("opening {}", path.display()))?;
                Ok(Arc::new(store))
            }
        }
    }
}

/// Human-readable logs by default; JSON lines when asked (for log shippers).
/// The level comes from `RUST_LOG` (default `info`).
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Runs paycode: opens the store, starts the simulator when configured, the
/// process worker, and the HTTP API on `config.listen`, until Ctrl-C or
/// SIGTERM; then stops accepting connections and lets in-flight requests
/// (and their appends) finish.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let simulator = match &config.simulator {
        Some(sim) => {
            let sim_config = paycode_sim::SimConfig::load(&sim.config).with_context(|| {
                format!("loading the simulator config {}", sim.config.display())
            })?;
            let running = paycode_sim::start(sim_config, sim.listen)
                .await
                .context("starting the simulator")?;
            println!(
                "paycode-sim (WeChat Pay + Alipay simulator) on {}",
                running.base_url()
            );
            Some(running)
        }
        None => None,
    };
    let store_url: StoreUrl = config.store.parse().map_err(anyhow::Error::msg)?;
    let store = store_url.open().await.context("opening the event store")?;
    let service = Service::new(store, &config)?;
    let worker = tokio::spawn(service.clone().run_worker());
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
    if let Some(banner) = &config.banner {
        println!("{}", banner.trim_end());
    }
    let served = axum::serve(listener, router(service))
        .with_graceful_shutdown(shutdown_signal())
        .await;
    worker.abort();
    if let Some(running) = simulator {
        running.shutdown().await;
    }
    served.context("serving HTTP")
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
