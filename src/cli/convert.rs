//! `irtx convert --to stix|iodef FILE`: one report to one exchange document, offline.

use std::path::PathBuf;

use super::{load_team, read_input, Cli, Failure};
use crate::convert::{convert_json, ConvertError, Format};

/// Arguments of `irtx convert`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub to: Format,
    /// The report (`-` for standard input).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

/// Runs `irtx convert`.
pub fn run(cli: &Cli, args: &Args) -> Result<(), Failure> {
    let team = load_team(cli)?;
    let bytes = read_input(&args.file)?;
    let name = args.file.display();
    match convert_json(&bytes, &team, args.to) {
        Ok(doc) => {
            let text = serde_json::to_string_pretty(&doc)
                .map_err(|e| Failure::runtime(format!("cannot serialize: {e}")))?;
            println!("{text}");
            Ok(())
        }
        Err(ConvertError::Invalid(problems)) => {
            for p in problems {
                eprintln!("{name}: {p}");
            }
            Err(Failure::invalid())
        }
        Err(e @ ConvertError::BadOutput(_)) => Err(Failure::runtime(format!("{name}: {e}"))),
    }
}
