//! Importing what other tools wrote (DESIGN.md section 9): each document of a file is read
//! (`intake`), then stored as an alert, recognised as a duplicate by its content,
//! quarantined for an analyst (a marking that is not exactly TLP), or refused with where and
//! why. Works on any [`Store`], so `irtx import` can write a store no gateway holds.
//! Blocking (the store flushes): call it off the async threads.

use serde::Serialize;
use serde_json::json;

use super::{Gateway, ServiceError};
use crate::config::ImportConfig;
use crate::intake::{self, AlertFormat, Intake};
use crate::report::Timestamp;
use crate::store::{Alert, AlertSource, ImportRecord, Imported, Store, StoreError};
use crate::timestamp::rfc3339;
use crate::tlp::Tlp;

/// What became of one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemOutcome {
    /// Stored as a new alert.
    Imported,
    /// The same content was imported before.
    Duplicate,
    /// Held for an analyst: a marking is not exactly TLP.
    Quarantined,
    /// Not a document irtx reads.
    Refused,
}

/// One document of a file and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// Where it is in the file (a JSON pointer; empty for the whole file).
    pub pointer: String,
    /// What became of it.
    pub outcome: ItemOutcome,
    /// The alert it became.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<String>,
    /// Its title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The label it was imported under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tlp: Option<Tlp>,
    /// How the label was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marking: Option<String>,
    /// Why it was quarantined or refused.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// What the report form does not carry (kept in the stored document all the same).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lost: Vec<String>,
}

impl Item {
    /// An item with `reasons` only (no alert, title or label).
    pub fn bare(pointer: &str, outcome: ItemOutcome, reasons: Vec<String>) -> Item {
        Item {
            pointer: pointer.to_string(),
            outcome,
            alert_id: None,
            title: None,
            tlp: None,
            marking: None,
            reasons,
            lost: Vec::new(),
        }
    }
}

/// What importing one file did.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    /// The file, as named.
    pub file: String,
    /// Each document.
    pub items: Vec<Item>,
}

impl FileSummary {
    /// How many documents had `outcome`.
    pub fn count(&self, outcome: ItemOutcome) -> usize {
        self.items.iter().filter(|i| i.outcome == outcome).count()
    }
}

/// Imports one file's bytes into `store`. `file` names it in the alerts' provenance;
/// `provider_permission` records that its source allows passing TLP:AMBER on to service
/// providers.
pub fn import_file(
    store: &dyn Store,
    bytes: &[u8],
    file: &str,
    config: &ImportConfig,
    provider_permission: bool,
    now: time::OffsetDateTime,
) -> Result<FileSummary, StoreError> {
    read_file(bytes, file, config, provider_permission, now).write(store)
}

/// One file's documents read and checked, not yet written: [`read_file`] needs no store, so
/// files can be read side by side and written in the order they were named.
#[derive(Debug)]
pub struct ReadFile {
    file: String,
    documents: Vec<Read>,
}

/// What a document read calls for.
#[derive(Debug)]
enum Read {
    /// Nothing to write (refused).
    Settled(Item),
    /// The document to hold for an analyst (`record`, `body`); `item` says so.
    Quarantine {
        record: serde_json::Value,
        body: Vec<u8>,
        item: Item,
    },
    /// The alert to import; `item` says what it is once its outcome is known.
    Import { alert: Box<Alert>, item: Item },
}

/// Reads one file's bytes into its documents, each checked: what [`import_file`] writes.
pub fn read_file(
    bytes: &[u8],
    file: &str,
    config: &ImportConfig,
    provider_permission: bool,
    now: time::OffsetDateTime,
) -> ReadFile {
    let settled = |items: Vec<Item>| ReadFile {
        file: file.to_string(),
        documents: items.into_iter().map(Read::Settled).collect(),
    };
    if bytes.len() as u64 > config.max_file_bytes {
        return settled(vec![Item::bare(
            "",
            ItemOutcome::Refused,
            vec![format!(
                "the file is {} bytes; at most {} are taken ([import] max_file_bytes)",
                bytes.len(),
                config.max_file_bytes
            )],
        )]);
    }
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            return settled(vec![Item::bare(
                "",
                ItemOutcome::Refused,
                vec![format!("not JSON: {e}")],
            )])
        }
    };
    let docs = match intake::split(value) {
        Ok(d) => d,
        Err(e) => return settled(vec![Item::bare("", ItemOutcome::Refused, vec![e])]),
    };
    ReadFile {
        file: file.to_string(),
        documents: docs
            .into_iter()
            .map(|doc| read_document(doc, file, config, provider_permission, now))
            .collect(),
    }
}

impl ReadFile {
    /// Writes what was read into `store`: quarantined documents held, alerts imported (a
    /// duplicate recognised by its content).
    pub fn write(self, store: &dyn Store) -> Result<FileSummary, StoreError> {
        let mut items = Vec::with_capacity(self.documents.len());
        for read in self.documents {
            items.push(match read {
                Read::Settled(item) => item,
                Read::Quarantine { record, body, item } => {
                    store.quarantine(&record, &body)?;
                    tracing::warn!(file = record["import"]["file"].as_str().unwrap_or_default(), reasons = item.reasons.len(), "imported document quarantined");
                    item
                }
                Read::Import { alert, mut item } => {
                    if store.import(&alert, None)? == Imported::New {
                        item.alert_id = Some(alert.id.clone());
                    } else {
                        item.outcome = ItemOutcome::Duplicate;
                    }
                    tracing::info!(file = %self.file, outcome = ?item.outcome, tlp = ?item.tlp, "document imported");
                    item
                }
            });
        }
        Ok(FileSummary {
            file: self.file,
            items,
        })
    }
}

fn objects_in(doc: &intake::Document) -> usize {
    let v = &doc.value;
    match doc.format {
        AlertFormat::Stix => v["objects"].as_array().map_or(0, Vec::len),
        AlertFormat::Misp => {
            let e = &v["Event"];
            e["Attribute"].as_array().map_or(0, Vec::len)
                + e["Object"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|o| 1 + o["Attribute"].as_array().map_or(0, Vec::len))
                    .sum::<usize>()
        }
        AlertFormat::Iodef => v["Incident"][0]["Indicator"].as_array().map_or(0, Vec::len),
    }
}

fn read_document(
    doc: intake::Document,
    file: &str,
    config: &ImportConfig,
    provider_permission: bool,
    now: time::OffsetDateTime,
) -> Read {
    let n = objects_in(&doc);
    if n > config.max_objects {
        return Read::Settled(Item::bare(
            &doc.pointer,
            ItemOutcome::Refused,
            vec![format!(
                "it holds {n} objects; at most {} are taken ([import] max_objects)",
                config.max_objects
            )],
        ));
    }
    let named = if doc.pointer.is_empty() {
        file.to_string()
    } else {
        format!("{file}#{}", doc.pointer)
    };
    let read = match intake::read(&doc, config.default_tlp, Timestamp(now)) {
        Intake::Ready(r) => r,
        Intake::Refuse(reasons) => {
            return Read::Settled(Item::bare(&doc.pointer, ItemOutcome::Refused, reasons))
        }
        Intake::Quarantine(reasons) => {
            let body = serde_json::to_vec(&doc.value).expect("JSON serializes");
            return Read::Quarantine {
                record: json!({
                    "received_at": rfc3339(now),
                    "import": { "file": named, "format": doc.format.wire_name() },
                    "reasons": reasons,
                    "bytes": body.len(),
                }),
                body,
                item: Item::bare(&doc.pointer, ItemOutcome::Quarantined, reasons),
            };
        }
    };
    let sha256 = crate::envelope::sha256_hex(&crate::envelope::canonical(&doc.value));
    let item = Item {
        pointer: doc.pointer.clone(),
        outcome: ItemOutcome::Imported,
        alert_id: None,
        title: Some(read.report.title.clone()),
        tlp: Some(read.tlp),
        marking: Some(read.marking.clone()),
        reasons: Vec::new(),
        lost: read.lost,
    };
    let alert = Alert {
        id: uuid::Uuid::new_v4().to_string(),
        source: AlertSource::Import {
            import: ImportRecord {
                file: named,
                tool: read.tool,
                source: read.source,
                marking: read.marking,
                provider_permission,
            },
        },
        received_at: rfc3339(now),
        sha256,
        tlp: read.tlp,
        format: doc.format,
        document: doc.value,
        retracted: None,
    };
    Read::Import {
        alert: Box::new(alert),
        item,
    }
}

impl Gateway {
    /// Imports one file's bytes (`POST /api/v1/imports`).
    pub fn import(
        &self,
        bytes: &[u8],
        file: &str,
        provider_permission: bool,
    ) -> Result<FileSummary, ServiceError> {
        Ok(import_file(
            self.store.as_ref(),
            bytes,
            file,
            &self.import,
            provider_permission,
            self.clock.now(),
        )?)
    }
}
