//! `irtx ledger list|verify|export|checkpoint`: the disclosure ledger. The store is opened
//! directly when no gateway holds it; otherwise the running gateway's API is used.

use std::path::PathBuf;

use serde_json::Value;

use super::client::ApiClient;
use super::{Cli, Failure};
use crate::config::Config;
use crate::keys::TeamKey;
use crate::ledger::chain::Entry;
use crate::ledger::{self, Ledger, Query};
use crate::store::sled_store::SledStore;
use crate::store::Store as _;

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
    /// Only entries at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Only entries before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// Only this event: queued, withheld, delivered, failing, dead-lettered, refused, retried.
    #[arg(long)]
    pub state: Option<String>,
    /// Output format.
    #[arg(long, default_value = "table", value_parser = ["table", "json", "csv"])]
    pub format: String,
}

fn config(cli: &Cli) -> Result<Config, Failure> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    Config::load(&cli.config, env).map_err(|e| Failure::runtime(e.to_string()))
}

/// The store, or `None` when a running gateway holds it.
fn open_store(c: &Config) -> Result<Option<SledStore>, Failure> {
    let dir = c.path(&c.data_dir).join("store");
    if !dir.exists() {
        return Err(Failure::runtime(format!("no store at `{}`", dir.display())));
    }
    // One pass over the ledger: a small cache keeps memory flat however long it is. A store
    // that a gateway holds is locked; one that a gateway is just letting go of soon is not.
    for attempt in 0..20 {
        match SledStore::open_with_cache(&dir, 32 << 20) {
            Ok(s) => return Ok(Some(s)),
            Err(e) if e.to_string().contains("lock") || e.to_string().contains("WouldBlock") => {
                let serving = std::net::TcpStream::connect_timeout(
                    &c.listen,
                    std::time::Duration::from_millis(200),
                )
                .is_ok();
                if serving || c.api.url.is_some() || attempt == 19 {
                    return Ok(None);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => return Err(Failure::runtime(e.to_string())),
        }
    }
    Ok(None)
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
            let c = config(cli)?;
            let team_key = TeamKey::load(&c.path(&c.team.key_file))
                .map_err(|e| Failure::runtime(e.to_string()))?;
            let pk = team_key.0.verifying_key();
            match open_store(&c)? {
                Some(store) => {
                    let checkpoints = store
                        .checkpoints()
                        .map_err(|e| Failure::runtime(e.to_string()))?;
                    let mut read_error = None;
                    let entries = store.ledger_entries().map_while(|e| match e {
                        Ok(e) => Some(e),
                        Err(err) => {
                            read_error = Some(err.to_string());
                            None
                        }
                    });
                    let r = ledger::chain::verify(entries, &checkpoints, &pk)
                        .map_err(|b| b.to_string());
                    if let Some(e) = read_error {
                        return report_verify(Err(format!("unreadable entry: {e}")));
                    }
                    report_verify(r)
                }
                None => {
                    let api = ApiClient::from_cli(cli)?;
                    let text = api.call_text(reqwest::Method::GET, "/api/v1/ledger/export")?;
                    report_verify(ledger::verify_export(std::io::Cursor::new(text), &pk))
                }
            }
        }
        LedgerCommand::Export { out } => {
            let c = config(cli)?;
            let mut sink: Box<dyn std::io::Write> = match out {
                Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(
                    |e| Failure::runtime(format!("cannot write `{}`: {e}", p.display())),
                )?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            match open_store(&c)? {
                Some(store) => {
                    let key = TeamKey::load(&c.path(&c.team.key_file))
                        .map_err(|e| Failure::runtime(e.to_string()))?;
                    let n = ledger::export(&store, &Ledger::new(), &c.team(), &key.0, &mut sink)
                        .map_err(|e| Failure::runtime(e.to_string()))?;
                    sink.flush().map_err(|e| Failure::runtime(e.to_string()))?;
                    eprintln!("exported {n} entries");
                }
                None => {
                    let api = ApiClient::from_cli(cli)?;
                    let text = api.call_text(reqwest::Method::GET, "/api/v1/ledger/export")?;
                    sink.write_all(text.as_bytes())
                        .and_then(|_| sink.flush())
                        .map_err(|e| Failure::runtime(e.to_string()))?;
                }
            }
            Ok(())
        }
        LedgerCommand::List(a) => {
            let c = config(cli)?;
            let time =
                |name: &str, v: &Option<String>| -> Result<Option<time::OffsetDateTime>, Failure> {
                    v.as_deref()
                        .map(|t| {
                            time::OffsetDateTime::parse(
                                t,
                                &time::format_description::well_known::Rfc3339,
                            )
                            .map_err(|_| Failure {
                                code: 2,
                                message: Some(format!("--{name} `{t}` is not an RFC 3339 time")),
                            })
                        })
                        .transpose()
                };
            let q = Query {
                peer: a.peer.clone(),
                report: a.report.clone(),
                indicator: a.indicator.clone(),
                since: time("since", &a.since)?,
                until: time("until", &a.until)?,
                state: a.state.clone(),
            };
            let mut printer = Printer::new(&a.format, a.indicator.clone());
            match open_store(&c)? {
                // Streamed: a million entries need no more memory than one.
                Some(store) => {
                    for e in store.ledger_entries() {
                        let e = e.map_err(|e| Failure::runtime(e.to_string()))?;
                        if q.matches(&e) {
                            printer.entry(&e)?;
                        }
                    }
                }
                None => {
                    let api = ApiClient::from_cli(cli)?;
                    let mut path = String::from("/api/v1/disclosures?");
                    for (k, v) in [
                        ("peer", &a.peer),
                        ("report", &a.report),
                        ("indicator", &a.indicator),
                        ("since", &a.since),
                        ("until", &a.until),
                        ("state", &a.state),
                    ] {
                        if let Some(v) = v {
                            path.push_str(&format!(
                                "{k}={}&",
                                url::form_urlencoded::byte_serialize(v.as_bytes())
                                    .collect::<String>()
                            ));
                        }
                    }
                    let (_, v) = api.call(reqwest::Method::GET, &path, None)?;
                    let entries: Vec<Entry> =
                        serde_json::from_value(v).map_err(|e| Failure::runtime(e.to_string()))?;
                    for e in &entries {
                        printer.entry(e)?;
                    }
                }
            }
            printer.finish()
        }
    }
}

fn report_verify(r: Result<ledger::chain::Verified, String>) -> Result<(), Failure> {
    match r {
        Ok(v) => {
            println!(
                "ledger intact: {} entries, {} signed checkpoints, head {}",
                v.entries, v.checkpoints, v.head
            );
            Ok(())
        }
        Err(e) => Err(Failure {
            code: 3,
            message: Some(format!("ledger broken: {e}")),
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
                let _ = w.write_record([
                    "seq",
                    "at",
                    "event",
                    "peer",
                    "report",
                    "marking",
                    "profile",
                    "format",
                    "message",
                    "removed",
                    "indicators",
                    "reason",
                ]);
                csv = Some(w);
            }
            _ => {
                let _ = writeln!(
                    out,
                    "{:>7}  {:<20}  {:<13}  {:<12}  {:<16}  {:<17}  DETAIL",
                    "SEQ", "AT", "EVENT", "PEER", "REPORT", "MARKING"
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
        let io = |e: std::io::Error| Failure::runtime(e.to_string());
        let b = &e.body;
        if let Some(w) = &mut self.csv {
            let removed: Vec<&str> = b.removed.iter().map(|r| r.pointer.as_str()).collect();
            w.write_record([
                e.seq.to_string(),
                b.at.clone(),
                b.event.clone(),
                b.peer.clone(),
                b.report_id.clone(),
                b.marking.clone().unwrap_or_default(),
                b.profile.clone().unwrap_or_default(),
                b.format.clone().unwrap_or_default(),
                b.message_id.clone().unwrap_or_default(),
                removed.join(" "),
                b.indicators.len().to_string(),
                b.reason.clone().unwrap_or_default(),
            ])
            .map_err(|e| Failure::runtime(e.to_string()))?;
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
        writeln!(
            self.out,
            "{:>7}  {:<20}  {:<13}  {:<12}  {:<16}  {:<17}  {}",
            e.seq,
            b.at.get(..19).unwrap_or(&b.at),
            b.event,
            b.peer,
            b.report_id,
            b.marking
                .as_deref()
                .map(|m| format!("TLP:{m}"))
                .unwrap_or_default(),
            detail.join("; ")
        )
        .map_err(io)
    }

    fn finish(mut self) -> Result<(), Failure> {
        use std::io::Write as _;
        let io = |e: std::io::Error| Failure::runtime(e.to_string());
        if self.format == "json" {
            writeln!(self.out, "\n]").map_err(io)?;
        }
        if let Some(w) = &mut self.csv {
            w.flush().map_err(io)?;
        }
        self.out.flush().map_err(io)
    }
}
