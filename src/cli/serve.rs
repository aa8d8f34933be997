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
    let marker = config.path(&config.data_dir).join(GATEWAY_URL_FILE);
    rt.block_on(async {
        let app = App::build(config)
            .await
            .map_err(|e| Failure::runtime(format!("{e:#}")))?;
        // Where this gateway answers, for the other commands of this data dir: `serve
        // --listen` (or port 0) is then no surprise to them.
        let url = format!("{}://{}\n", app.scheme(), app.local_addr());
        if let Err(e) = std::fs::write(&marker, url) {
            tracing::warn!(error = %e, "cannot write {}", marker.display());
        }
        let served = app
            .run_until(shutdown_signal())
            .await
            .map_err(|e| Failure::runtime(format!("{e:#}")));
        let _ = std::fs::remove_file(&marker);
        served
    })
}

/// The file in the data dir that says where the running gateway answers.
pub const GATEWAY_URL_FILE: &str = "gateway.url";
