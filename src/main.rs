//! The `irtx` binary: parse arguments, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    irtx::cli::run(irtx::cli::Cli::parse())
}
