//! `irtx ledger list|verify|export|checkpoint`: the disclosure ledger. The store is opened
//! directly when no gateway holds it; otherwise the running gateway's API is used.

use std::path::PathBuf;

use serde_json::Value;

use super::state::State;
use super::{team_key, Cli, Failure};
use crate::disclosure::Entry;
use crate::ledger::{self, Ledger, QueryText};

/// `irtx ledger ...`
#[derive(Debug, clap::Subcommand)]
pub enum LedgerCommand {
    /// What was disclosed to whom.
    List(ListArgs),
    /// Recompute the hash chain and check every signed checkpoint, of the store or of an
    /// export. Exit 0 only if intact; otherwise names the first bad entry (exit 3).
    Verify {
        /// An export (JSON lines) to verify instead of the store.
        #[arg(long, value_name = "FILE", requires = "key")]
        export: Option<PathBuf>,
        /// The team's public JWK (or @FILE), for an export.
        #[arg(long, value_name = "JWK|@FILE")]
        key: Option<String>,
    },
    /// Write the entries and checkpoints as JSON lines, verifiable with the team's public key.
    Export {
        /// Output file (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Arguments of `irtx ledger list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only this peer.
    #[arg(long)]
    pub peer: Option<String>,
    /// Only this report.
    #[arg(long)]
    pub report: Option<String>,
    /// Only disclosures that carried this value (in clear or as its pseudonym).
    #[arg(long)]
    pub indicator: Option<String>,
    /// Only entries at or after this time: RFC 3339, or a date (from its start, UTC).
    #[arg(long)]
    pub since: Option<String>,
    /// Only entries before this time: RFC 3339, or a date (up to its end, UTC).
    #[arg(long)]
    pub until: Option<String>,
    /// Only this event: queued, withheld, delivered, failing, dead-lettered, refused, retried.
    #[arg(long)]
    pub state: Option<String>,
    /// Output format.
    #[arg(long, default_value = "table", value_parser = ["table", "json", "csv"])]
    pub format: String,
}

fn read_jwk(arg: &str) -> Result<ed25519_dalek::VerifyingKey, Failure> {
    let text = match arg.strip_prefix('@') {
        Some(f) => std::fs::read_to_string(f)
            .map_err(|e| Failure::runtime(format!("cannot read `{f}`: {e}")))?,
        None => arg.to_string(),
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| Failure {
        code: 3,
        message: Some(format!("--key: not JSON: {e}")),
    })?;
    crate::envelope::parse_public_jwk(&v).map_err(|e| Failure {
        code: 3,
        message: Some(format!("--key: {e}")),
    })
}

/// Runs `irtx ledger ...`.
pub fn run(cli: &Cli, cmd: &LedgerCommand) -> Result<(), Failure> {
    match cmd {
        LedgerCommand::Verify {
            export: Some(file),
            key,
        } => {
            let key = read_jwk(key.as_deref().unwrap_or_default())?;
            let f = std::fs::File::open(file)
                .map_err(|e| Failure::runtime(format!("cannot read `{}`: {e}", file.display())))?;
            report_verify(ledger::verify_export(std::io::BufReader::new(f), &key))
        }
        LedgerCommand::Verify { export: None, .. } => {
            let state = State::open(cli, super::require_config(cli)?)?;
            let pk = team_key(state.config())?.0.verifying_key();
            match &state {
                State::Local {
                    store: Some(store), ..
                } => {
                    let keys = ledger::team_keys(store.as_ref(), pk)
                        .map_err(|e| Failure::runtime(e.to_string()))?;
                    report_verify(ledger::verify_store(store.as_ref(), &keys))
                }
                State::Local { store: None, .. } => Err(Failure::runtime(format!(
                    "no store at `{}`",
                    state.config().store_dir().display()
                ))),
                State::Remote { api, .. } => {
                    let text = api.call_text(reqwest::Method::GET, "/api/v1/ledger/export")?;
                    report_verify(ledger::verify_export(std::io::Cursor::new(text), &pk))
                }
            }
        }
        LedgerCommand::Export { out } => {
            let state = State::open(cli, super::require_config(cli)?)?;
            let mut sink: Box<dyn std::io::Write> = match out {
                Some(p) => Box::new(std::io::BufWriter::new(
                    crate::keys::create_private_file(p).map_err(|e| {
                        Failure::runtime(format!("cannot write `{}`: {e}", p.display()))
                    })?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            match &state {
                State::Local {
                    store: Some(store),
                    config,
                } => {
                    let key = team_key(config)?;
                    let total = store
                        .ledger_last()
                        .map_err(|e| Failure::runtime(e.to_string()))?
                        .map_or(0, |e| e.seq + 1);
                    let bar = super::progress(total, "entries");
                    let n = ledger::export(
                        store.as_ref(),
                        &Ledger::new(),
                        &config.team(),
                        &key.0,
                        &mut sink,
                        |n| {
                            if n % 1000 == 0 {
                                bar.set_position(n);
                            }
                        },
                    )
                    .map_err(super::quiet_if_closed)?;
                    sink.flush().map_err(super::quiet_if_closed)?;
                    bar.finish_and_clear();
                    eprintln!("exported {n} entries");
                }
                State::Local {
                    store: None,
                    config,
                } => {
                    return Err(Failure::runtime(format!(
                        "no store at `{}`",
                        config.store_dir().display()
                    )))
                }
                State::Remote { api, .. } => {
                    let text = api.call_text(reqwest::Method::GET, "/api/v1/ledger/export")?;
                    sink.write_all(text.as_bytes())
                        .and_then(|_| sink.flush())
                        .map_err(super::quiet_if_closed)?;
                }
            }
            Ok(())
        }
        LedgerCommand::List(a) => {
            let text = QueryText {
                peer: a.peer.clone(),
                report: a.report.clone(),
                indicator: a.indicator.clone(),
                since: a.since.clone(),
                until: a.until.clone(),
                state: a.state.clone(),
            };
            let q = text.parse().map_err(|problems| Failure {
                code: 2,
                message: Some(
                    problems
                        .iter()
                        .map(|p| format!("--{}: {}", p.pointer.trim_start_matches('/'), p.reason))
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
            })?;
            let state = State::open(cli, super::require_config(cli)?)?;
            let mut printer = Printer::new(&a.format, a.indicator.clone());
            match &state {
                // A page at a time, read through the store's indexes: a million entries
                // need no more memory than a page.
                State::Local {
                    store: Some(store), ..
                } => {
                    const PAGE: usize = 1000;
                    let mut after = None;
                    loop {
                        let page = q
                            .page(store.as_ref(), after, PAGE)
                            .map_err(|e| Failure::runtime(e.to_string()))?;
                        for e in &page {
                            printer.entry(e)?;
                        }
                        match page.last() {
                            Some(last) if page.len() == PAGE => after = Some(last.seq),
                            _ => break,
                        }
                    }
                }
                State::Local { store: None, .. } => {}
                State::Remote { api, .. } => {
                    let filters = text.to_query_string();
                    let amp = if filters.is_empty() { "" } else { "&" };
                    let path = format!("/api/v1/disclosures?{filters}{amp}limit=1000");
                    api.each_item(&path, |v| {
                        let e: Entry = serde_json::from_value(v)
                            .map_err(|e| Failure::runtime(e.to_string()))?;
                        printer.entry(&e)
                    })?;
                }
            }
            printer.finish()
        }
    }
}

/// A CSV write that failed: quiet when the reader went away.
fn csv_failure(e: csv::Error) -> Failure {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => super::quiet_if_closed(io),
        other => Failure::runtime(format!("{other:?}")),
    }
}

fn report_verify(
    r: Result<crate::disclosure::Verified, ledger::VerifyExportError>,
) -> Result<(), Failure> {
    match r {
        Ok(v) => {
            println!(
                "ledger intact: {} entries, {} signed checkpoints, head {}",
                v.entries, v.checkpoints, v.head
            );
            Ok(())
        }
        Err(e @ ledger::VerifyExportError::Store(_)) => Err(Failure::runtime(e.to_string())),
        Err(e @ ledger::VerifyExportError::WrongKey { .. }) => Err(Failure {
            code: 3,
            message: Some(e.to_string()),
        }),
        Err(e) => Err(Failure {
            code: 3,
            message: Some(match e {
                ledger::VerifyExportError::Broken(_) => e.to_string(),
                e => format!("ledger broken: {e}"),
            }),
        }),
    }
}

/// Prints entries as they come, in a table, CSV or a JSON array.
struct Printer {
    format: String,
    indicator: Option<String>,
    out: std::io::BufWriter<std::io::Stdout>,
    csv: Option<csv::Writer<std::io::Stdout>>,
    first: bool,
}

impl Printer {
    fn new(format: &str, indicator: Option<String>) -> Self {
        use std::io::Write as _;
        let mut out = std::io::BufWriter::new(std::io::stdout());
        let mut csv = None;
        match format {
            "json" => {
                let _ = write!(out, "[");
            }
            "csv" => {
                let mut w = csv::Writer::from_writer(std::io::stdout());
                let _ = w.write_record(crate::ledger::CSV_HEADER);
                csv = Some(w);
            }
            _ => {
                // Fixed-width columns first, the ids of any length last, the detail on a
                // line of its own: a long id never shifts a column.
                let _ = writeln!(
                    out,
                    "{:>7}  {:<24}  {:<13}  {:<17}  {:<36}  PEER / REPORT",
                    "SEQ", "AT (UTC)", "EVENT", "MARKING", "MESSAGE"
                );
            }
        }
        Printer {
            format: format.to_string(),
            indicator,
            out,
            csv,
            first: true,
        }
    }

    fn entry(&mut self, e: &Entry) -> Result<(), Failure> {
        use std::io::Write as _;
        let io = super::quiet_if_closed;
        let b = &e.body;
        if let Some(w) = &mut self.csv {
            w.write_record(crate::ledger::csv_record(e))
                .map_err(csv_failure)?;
            return Ok(());
        }
        if self.format == "json" {
            let sep = if self.first { "\n" } else { ",\n" };
            write!(
                self.out,
                "{sep}{}",
                serde_json::to_string(e).unwrap_or_default()
            )
            .map_err(io)?;
            self.first = false;
            return Ok(());
        }
        let mut detail = Vec::new();
        if !b.removed.is_empty() {
            detail.push(format!(
                "removed {}",
                b.removed
                    .iter()
                    .map(|r| r.pointer.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        if let Some(v) = &self.indicator {
            if let Some(d) = b
                .indicators
                .iter()
                .find(|d| d.value.eq_ignore_ascii_case(v) || d.sent_as.eq_ignore_ascii_case(v))
            {
                detail.push(if d.value == d.sent_as {
                    "in clear".to_string()
                } else {
                    format!("as {}", d.sent_as)
                });
            }
        }
        if let Some(r) = &b.reason {
            detail.push(r.clone());
        }
        if b.receipt.is_some() {
            detail.push("signed receipt kept (irtx ledger list --format json shows it)".into());
        }
        writeln!(
            self.out,
            "{:>7}  {:<24}  {:<13}  {:<17}  {:<36}  {} / {}",
            e.seq,
            b.at,
            b.event.as_str(),
            b.marking.map(|m| format!("TLP:{m}")).unwrap_or_default(),
            b.message_id
                .map(|m| m.to_string())
                .unwrap_or_else(|| "-".into()),
            b.peer.as_str(),
            b.report_id.as_str(),
        )
        .map_err(super::quiet_if_closed)?;
        if !detail.is_empty() {
            writeln!(self.out, "{:>9}{}", "", detail.join("; ")).map_err(super::quiet_if_closed)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), Failure> {
        use std::io::Write as _;
        let io = super::quiet_if_closed;
        if self.format == "json" {
            writeln!(self.out, "\n]").map_err(io)?;
        }
        if let Some(w) = &mut self.csv {
            w.flush().map_err(io)?;
        }
        self.out.flush().map_err(io)
    }
}
