//! Logging: one tracing subscriber, text on standard error. `RUST_LOG` overrides the
//! default level (`info`). Never logged: keys, tokens, documents, indicator values,
//! reporter identities, request bodies.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber (once; later calls do nothing).
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sled=warn,hyper=warn,reqwest=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
