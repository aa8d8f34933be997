//! `irtx import [--provider-permission] FILE|DIR...`: STIX 2.1 bundles and MISP events
//! written by other tools, into the gateway's alerts (DESIGN.md section 9). Directly into the
//! store when no gateway holds it, else through the running gateway's API. Shows progress
//! over many files, one line per document that was not simply imported, and a summary;
//! exit 0 only when nothing was refused (3 otherwise).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::state::State;
use super::{Cli, Failure};
use crate::federation::import::{read_file, FileSummary, Item, ItemOutcome, ReadFile};

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

/// Files read and checked at once, for a store written directly.
const READERS: usize = 4;

/// What a file read calls for.
enum Step {
    /// What became of it, known (a gateway imported it, or it could not be read).
    Done(FileSummary),
    /// Its documents, to write into the store.
    Write(ReadFile),
}

/// The summary of a file that could not be read.
fn unreadable(file: String, e: &std::io::Error) -> FileSummary {
    FileSummary {
        file,
        items: vec![Item::bare(
            "",
            ItemOutcome::Refused,
            vec![format!("cannot read it: {e}")],
        )],
    }
}

/// Runs `work` on each of `items` on `workers` threads and hands each result to `done` in
/// the order of `items`. The first failure (of `work` or `done`) stops the work not yet
/// begun, and nothing more is handed to `done`; it is returned once the work begun has
/// ended.
fn in_order<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    work: impl Fn(&T) -> Result<R, Failure> + Sync,
    mut done: impl FnMut(&T, R) -> Result<(), Failure>,
) -> Result<(), Failure> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (next, stop) = (AtomicUsize::new(0), AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<R, Failure>)>();
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            let (tx, work, next, stop) = (tx.clone(), &work, &next, &stop);
            // An item taken is worked on: the items handed out run from the first on,
            // none left out.
            scope.spawn(move || loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items.len() {
                    break;
                }
                let r = work(&items[i]);
                if r.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                if tx.send((i, r)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut waiting = std::collections::BTreeMap::new();
        let (mut printed, mut failed) = (0, None);
        for (i, r) in rx {
            waiting.insert(i, r);
            while let Some(r) = waiting.remove(&printed) {
                if failed.is_none() {
                    if let Err(e) = r.and_then(|r| done(&items[printed], r)) {
                        stop.store(true, Ordering::Relaxed);
                        failed = Some(e);
                    }
                }
                printed += 1;
            }
        }
        failed.map_or(Ok(()), Err)
    })
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
    let store: Option<&dyn crate::store::Store> = match (&state, &local_store) {
        (State::Local { store: Some(s), .. }, _) | (_, Some(s)) => Some(s.as_ref()),
        _ => None,
    };
    // Into the store: files are read and checked a few at a time, and written in the order
    // they were named (of two files holding one document, the first named imports it).
    // Through a gateway: one file a request, in order.
    let read_one = |f: &PathBuf| -> Result<Step, Failure> {
        let name = f.display().to_string();
        let bytes = match std::fs::read(f) {
            Ok(bytes) => bytes,
            Err(e) => return Ok(Step::Done(unreadable(name, &e))),
        };
        match &state {
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
                Ok(Step::Done(from_api(&name, &v)?))
            }
            State::Local { config, .. } => Ok(Step::Write(read_file(
                &bytes,
                &name,
                &config.import,
                args.provider_permission,
                time::OffsetDateTime::now_utc(),
            ))),
        }
    };
    let workers = if store.is_some() { READERS } else { 1 };
    let mut totals = [0usize; 4];
    let stdout = std::io::stdout();
    in_order(&files, workers, read_one, |f, step| {
        let summary = match (step, store) {
            (Step::Done(summary), _) => summary,
            (Step::Write(read), Some(store)) => read
                .write(store)
                .map_err(|e| Failure::runtime(e.to_string()))?,
            (Step::Write(_), None) => unreachable!("files are read to be written to a store"),
        };
        bar.set_message(f.display().to_string());
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
        Ok(())
    })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_done_on_several_threads_is_handed_on_in_order() {
        let items: Vec<u64> = (0..200).collect();
        let mut seen = Vec::new();
        // Later items end sooner: the order handed on is still the items'.
        in_order(
            &items,
            4,
            |i| {
                std::thread::sleep(std::time::Duration::from_micros((200 - i) * 20));
                Ok(i * 2)
            },
            |i, r| {
                seen.push((*i, r));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, items.iter().map(|i| (*i, i * 2)).collect::<Vec<_>>());
    }

    #[test]
    fn a_failure_of_the_work_or_of_handing_on_stops_what_follows() {
        let items: Vec<u64> = (0..1000).collect();
        for work_fails in [true, false] {
            let worked = std::sync::Mutex::new(Vec::new());
            let mut seen = Vec::new();
            let failed = in_order(
                &items,
                3,
                |i| {
                    worked.lock().unwrap().push(*i);
                    std::thread::sleep(std::time::Duration::from_micros(200));
                    if work_fails && *i == 10 {
                        return Err(Failure::runtime("item 10 failed"));
                    }
                    Ok(*i)
                },
                |_, r| {
                    if r == 10 {
                        return Err(Failure::runtime("item 10 failed"));
                    }
                    seen.push(r);
                    Ok(())
                },
            )
            .unwrap_err();
            assert_eq!(failed.message.as_deref(), Some("item 10 failed"));
            // What came before the failure was handed on, nothing after it; the items
            // worked on are the first ones, and little was begun after the failure.
            assert_eq!(seen, (0..10).collect::<Vec<_>>());
            let mut worked = worked.into_inner().unwrap();
            worked.sort_unstable();
            assert!(worked.len() < 500, "{} items worked on", worked.len());
            assert_eq!(worked, (0..worked.len() as u64).collect::<Vec<_>>());
        }
    }
}
