//! `irtx serve [--config C] [--listen ADDR]`: runs the gateway.

use std::net::SocketAddr;

use super::{Cli, Failure};
use crate::app::{shutdown_signal, App};
use crate::config::Config;

/// Arguments of `irtx serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Listen here instead of the config's `listen`.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

/// Runs `irtx serve` until SIGINT or SIGTERM.
pub fn run(cli: &Cli, args: &Args) -> Result<(), Failure> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let mut config = Config::load(&cli.config, env).map_err(|e| {
        Failure::runtime(format!(
            "{e}\n(run `irtx init --team-id ID` to make a config)"
        ))
    })?;
    crate::telemetry::init(config.log.format);
    if let Some(l) = args.listen {
        config.listen = l;
    }
    let rt = tokio::runtime::Runtime::new()
        .map_err(|e| Failure::runtime(format!("cannot start the runtime: {e}")))?;
    rt.block_on(async {
        let app = App::build(config)
            .await
            .map_err(|e| Failure::runtime(format!("{e:#}")))?;
        app.run_until(shutdown_signal())
            .await
            .map_err(|e| Failure::runtime(format!("{e:#}")))
    })
}
