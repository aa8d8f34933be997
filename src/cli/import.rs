//! `irtx import [--provider-permission] FILE|DIR...`: STIX 2.1 bundles and MISP events
//! written by other tools, into the gateway's alerts (DESIGN.md section 9). Directly into the
//! store when no gateway holds it, else through the running gateway's API. Shows progress
//! over many files, one line per document that was not simply imported, and a summary;
//! exit 0 only when nothing was refused (3 otherwise).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::state::State;
use super::{Cli, Failure};
use crate::federation::import::{import_file, FileSummary, Item, ItemOutcome};

/// Arguments of `irtx import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sources allow passing what they marked TLP:AMBER on to our service providers
    /// (recorded with each alert; TLP 2.0 needs the source's permission for that).
    #[arg(long)]
    pub provider_permission: bool,
    /// JSON files, or directories searched for `*.json` files.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,
}

/// The files named, directories expanded to the `*.json` files beneath them, in order.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if p
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"))
            {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)
                .map_err(|e| Failure::runtime(format!("cannot read `{}`: {e}", p.display())))?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// A summary from the API's answer.
fn from_api(file: &str, v: &Value) -> Result<FileSummary, Failure> {
    let items: Vec<Value> = v["items"].as_array().cloned().unwrap_or_default();
    let items = items
        .into_iter()
        .map(|i| {
            let outcome = match i["outcome"].as_str() {
                Some("imported") => ItemOutcome::Imported,
                Some("duplicate") => ItemOutcome::Duplicate,
                Some("quarantined") => ItemOutcome::Quarantined,
                _ => ItemOutcome::Refused,
            };
            let strings = |k: &str| -> Vec<String> {
                i[k].as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            };
            Item {
                pointer: i["pointer"].as_str().unwrap_or_default().to_string(),
                outcome,
                alert_id: i["alert_id"].as_str().map(str::to_string),
                title: i["title"].as_str().map(str::to_string),
                tlp: i["tlp"].as_str().and_then(|t| t.parse().ok()),
                marking: i["marking"].as_str().map(str::to_string),
                reasons: strings("reasons"),
                lost: strings("lost"),
            }
        })
        .collect();
    Ok(FileSummary {
        file: file.to_string(),
        items,
    })
}

/// Prints what became of one file's documents.
fn report(s: &FileSummary, out: &mut impl std::io::Write) {
    for i in &s.items {
        let at = if i.pointer.is_empty() {
            s.file.clone()
        } else {
            format!("{}#{}", s.file, i.pointer)
        };
        let _ = match i.outcome {
            ItemOutcome::Imported => writeln!(
                out,
                "{at}: imported as alert {} (TLP:{}, {}): {}",
                i.alert_id.as_deref().unwrap_or(""),
                i.tlp.map(|t| t.to_string()).unwrap_or_default(),
                i.marking.as_deref().unwrap_or(""),
                i.title.as_deref().unwrap_or("")
            ),
            ItemOutcome::Duplicate => writeln!(out, "{at}: duplicate (imported before)"),
            ItemOutcome::Quarantined => {
                writeln!(out, "{at}: quarantined: {}", i.reasons.join("; "))
            }
            ItemOutcome::Refused => writeln!(out, "{at}: refused: {}", i.reasons.join("; ")),
        };
        for l in &i.lost {
            let _ = writeln!(
                out,
                "  not carried onward (kept in the alert's document): {l}"
            );
        }
    }
}

/// Runs `irtx import`.
pub fn run(cli: &Cli, args: &Args) -> Result<(), Failure> {
    let config = super::require_config(cli)?;
    let files = files(&args.paths)?;
    if files.is_empty() {
        return Err(Failure {
            code: 2,
            message: Some("no JSON files found in the paths given".into()),
        });
    }
    let state = State::open(cli, config)?;
    let local_store = match &state {
        State::Local {
            store: None,
            config,
        } => Some(super::state::open_or_create(config)?),
        _ => None,
    };
    let bar = super::progress(files.len() as u64, "files");
    if files.len() < 2 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut totals = [0usize; 4];
    let stdout = std::io::stdout();
    for f in &files {
        let name = f.display().to_string();
        bar.set_message(name.clone());
        let summary = match std::fs::read(f) {
            Err(e) => FileSummary {
                file: name.clone(),
                items: vec![Item {
                    pointer: String::new(),
                    outcome: ItemOutcome::Refused,
                    alert_id: None,
                    title: None,
                    tlp: None,
                    marking: None,
                    reasons: vec![format!("cannot read it: {e}")],
                    lost: Vec::new(),
                }],
            },
            Ok(bytes) => match &state {
                State::Remote { api, .. } => {
                    let query: String = url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("file", &name)
                        .append_pair(
                            "provider_permission",
                            if args.provider_permission {
                                "true"
                            } else {
                                "false"
                            },
                        )
                        .finish();
                    let (_, v) = api.call_raw(
                        reqwest::Method::POST,
                        &format!("/api/v1/imports?{query}"),
                        bytes,
                    )?;
                    from_api(&name, &v)?
                }
                State::Local { store, config } => {
                    let store: &dyn crate::store::Store = match (store, &local_store) {
                        (Some(s), _) | (None, Some(s)) => s.as_ref(),
                        (None, None) => unreachable!("a store was opened above"),
                    };
                    import_file(
                        store,
                        &bytes,
                        &name,
                        &config.import,
                        args.provider_permission,
                        time::OffsetDateTime::now_utc(),
                    )
                    .map_err(|e| Failure::runtime(e.to_string()))?
                }
            },
        };
        bar.suspend(|| report(&summary, &mut stdout.lock()));
        for (i, o) in [
            ItemOutcome::Imported,
            ItemOutcome::Duplicate,
            ItemOutcome::Quarantined,
            ItemOutcome::Refused,
        ]
        .into_iter()
        .enumerate()
        {
            totals[i] += summary.count(o);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "imported {}, duplicates {}, quarantined {}, refused {} (from {} file{})",
        totals[0],
        totals[1],
        totals[2],
        totals[3],
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    );
    if totals[3] > 0 {
        Err(Failure {
            code: 3,
            message: None,
        })
    } else {
        Ok(())
    }
}
