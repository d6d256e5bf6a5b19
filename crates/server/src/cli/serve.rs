//! `paycode serve`: the configuration file, overridden by flags and the
//! environment, then [`crate::serve`].

use std::path::PathBuf;

use crate::{Config, StoreUrl};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The configuration file (TOML): merchants, provider accounts, policy.
    #[arg(long, env = "PAYCODE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the event log lives: `sqlite:PATH` (overrides the file's `store`).
    #[arg(long, env = "PAYCODE_STORE")]
    pub store: Option<StoreUrl>,
    /// Address of the HTTP API (overrides the file's `listen`).
    #[arg(long, env = "PAYCODE_LISTEN")]
    pub listen: Option<std::net::SocketAddr>,
    /// This node's name among the nodes sharing a store (overrides the file's `node`).
    #[arg(long, env = "PAYCODE_NODE")]
    pub node: Option<String>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = match args.config {
        Some(path) => Config::load(&path)?,
        None => Config::empty(),
    };
    if let Some(store) = args.store {
        config.store = store.to_string();
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(node) = args.node {
        config.node = Some(node);
    }
    crate::serve(config).await
}
