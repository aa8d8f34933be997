//! The `irtx` binary: parse arguments, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

/// jemalloc: glibc's malloc took a seventh of the outbound sender's CPU (most of it
/// consolidating freed chunks), jemalloc a fraction of that (README "Performance"). Its
/// settings are built in (`.cargo/config.toml`); `_RJEM_MALLOC_CONF` in the environment is
/// read after them and wins.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    irtx::cli::run(irtx::cli::Cli::parse())
}
