//! `irtx validate FILE...`: reports, STIX bundles or IODEF documents, detected per file.

use std::path::PathBuf;

use serde_json::Value;

use super::{read_input, Failure};
use crate::report;
use crate::schema::{self, Violation};

/// Arguments of `irtx validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files to validate (`-` for standard input).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// What a file turned out to be.
enum Detected {
    Report(Box<report::Report>),
    Stix(usize),
    Iodef(usize),
}

fn check(bytes: &[u8]) -> Result<Detected, Vec<Violation>> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| vec![Violation::new("", format!("not valid JSON: {e}"))])?;
    if value.get("type").and_then(Value::as_str) == Some("bundle") {
        let problems = schema::check_stix_bundle(&value);
        let n = value["objects"].as_array().map_or(0, Vec::len);
        return if problems.is_empty() {
            Ok(Detected::Stix(n))
        } else {
            Err(problems)
        };
    }
    if value.get("Incident").is_some() && value.get("version").is_some() {
        let problems = schema::check(schema::iodef_rfc8727(), &value);
        let n = value["Incident"].as_array().map_or(0, Vec::len);
        return if problems.is_empty() {
            Ok(Detected::Iodef(n))
        } else {
            Err(problems)
        };
    }
    report::validate::parse_value(&value).map(|r| Detected::Report(Box::new(r)))
}

/// Runs `irtx validate`.
pub fn run(args: &Args) -> Result<(), Failure> {
    let mut invalid = false;
    let mut unreadable = false;
    for path in &args.files {
        let name = path.display();
        let bytes = match read_input(path) {
            Ok(b) => b,
            Err(f) => {
                eprintln!("{name}: {}", f.message.unwrap_or_default());
                unreadable = true;
                continue;
            }
        };
        match check(&bytes) {
            Ok(Detected::Report(r)) => println!(
                "{name}: ok ({} report `{}`, TLP:{}, {} indicators)",
                r.kind.as_str(),
                r.effective_id(),
                r.tlp,
                r.indicators.len()
            ),
            Ok(Detected::Stix(n)) => println!("{name}: ok (STIX 2.1 bundle, {n} objects)"),
            Ok(Detected::Iodef(n)) => {
                let s = if n == 1 { "" } else { "s" };
                println!("{name}: ok (IODEF v2 document, {n} incident{s}, RFC 8727 schema)")
            }
            Err(problems) => {
                invalid = true;
                for p in problems {
                    eprintln!("{name}: {p}");
                }
            }
        }
    }
    if unreadable {
        Err(Failure {
            code: 1,
            message: None,
        })
    } else if invalid {
        Err(Failure::invalid())
    } else {
        Ok(())
    }
}
