//! `paycode`: the command line. Each subcommand lives in its own file under
//! `cli/` (`serve`, `export`, `replay`, `reconcile`, `projections`,
//! `cluster`); this
//! file only parses the arguments and starts logging.

use std::process::ExitCode;

use clap::Parser as _;
use paycode_server::cli::{self, Cli};

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    paycode_server::init_tracing(cli.log_json);
    cli::run(cli).await
}
