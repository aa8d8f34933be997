//! Subscriptions to peers' TAXII 2.1 collections (`peer add --transport taxii21 --pull`,
//! DESIGN.md section 8): every `--poll-every`, the objects added since the last poll are read
//! page by page and become alerts, checked as any inbound document is. The place reached
//! (the last `X-TAXII-Date-Added-Last`) is kept in the peer's record, so a restart reads
//! only what is new.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::watch;

use super::client::{read_capped, with_taxii_auth};
use super::taxii::Ingested;
use super::{Gateway, ServiceError};
use crate::peer::{PeerId, Transport};
use crate::store::TaxiiRecord;
use crate::taxii::TAXII_MEDIA_TYPE;

/// The largest page read from a peer's TAXII server.
const MAX_PAGE_BYTES: usize = 16 << 20;
/// Objects asked for per page.
const PAGE: usize = 200;
/// Pages read in one poll at most; the rest comes at the next.
const MAX_PAGES: usize = 50;

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Polled {
    /// Pages read.
    pub pages: usize,
    /// Objects read.
    pub objects: usize,
    /// New alerts.
    pub alerts: usize,
    /// Pages that were duplicates, quarantined or refused.
    pub not_taken: usize,
}

/// What a poll step that panics is called in the error it becomes.
const STEP: &str = "a poll step";

impl Gateway {
    /// Reads what the peer's collection added since the last poll into alerts.
    pub async fn poll_peer(self: &Arc<Self>, id: &PeerId) -> Result<Polled, ServiceError> {
        let mut done = Polled::default();
        let mut next: Option<String> = None;
        // The place at the start of this poll: every page of it asks with the same filter
        // (servers such as medallion refuse a `next` whose filters changed).
        let mut since: Option<Option<String>> = None;
        for _ in 0..MAX_PAGES {
            let p = id.clone();
            let peer = self
                .off_runtime(STEP, move |g| {
                    g.store.peer(&p)?.ok_or(ServiceError::NotFound {
                        what: "peer",
                        id: p.to_string(),
                    })
                })
                .await?;
            let Some(pull) = peer.taxii_pull.clone() else {
                return Ok(done);
            };
            let url = format!("{}/objects/", peer.url.trim_end_matches('/'));
            let since = since.get_or_insert_with(|| pull.cursor.clone());
            let mut query: Vec<(&str, String)> = vec![("limit", PAGE.to_string())];
            if let Some(c) = since {
                query.push(("added_after", c.clone()));
            }
            if let Some(n) = &next {
                query.push(("next", n.clone()));
            }
            let req = self
                .client
                .get(&url)
                .query(&query)
                .header("accept", TAXII_MEDIA_TYPE);
            let resp = with_taxii_auth(req, &peer).send().await.map_err(|e| {
                ServiceError::Conflict(format!("cannot reach `{id}`'s TAXII server: {e}"))
            })?;
            let status = resp.status();
            let last_added = resp
                .headers()
                .get("x-taxii-date-added-last")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let bytes = read_capped(resp, MAX_PAGE_BYTES)
                .await
                .map_err(|e| ServiceError::Conflict(format!("`{id}`'s TAXII server: {e}")))?
                .ok_or_else(|| {
                    ServiceError::Conflict(format!(
                        "`{id}`'s TAXII page is over {MAX_PAGE_BYTES} bytes"
                    ))
                })?;
            if !status.is_success() {
                return Err(ServiceError::Conflict(format!(
                    "`{id}`'s TAXII server answered {status}: {}",
                    String::from_utf8_lossy(&bytes)
                        .chars()
                        .take(300)
                        .collect::<String>()
                )));
            }
            let envelope: Value = serde_json::from_slice(&bytes).map_err(|e| {
                ServiceError::Conflict(format!("`{id}`'s TAXII page is not JSON: {e}"))
            })?;
            let objects = envelope["objects"].as_array().cloned().unwrap_or_default();
            done.pages += 1;
            done.objects += objects.len();
            if !objects.is_empty() {
                let record = TaxiiRecord {
                    peer: id.clone(),
                    status_id: None,
                    pulled_from: Some(peer.url.clone()),
                };
                let body = json!({ "objects": objects });
                let (bundle, _) = crate::taxii::bundle_of_post(&body)
                    .map_err(|e| ServiceError::Conflict(format!("`{id}`'s TAXII page: {e}")))?;
                let raw = body.to_string().into_bytes();
                let got = self
                    .off_runtime(STEP, move |g| g.ingest(bundle, record, &raw))
                    .await?;
                match got {
                    Ingested::New(_) => done.alerts += 1,
                    Ingested::OverQuota(used) => {
                        return Err(ServiceError::Conflict(format!(
                            "`{id}`'s alerts take {used} bytes, its quota; the pull waits"
                        )))
                    }
                    _ => done.not_taken += 1,
                }
            }
            // The place reached is kept only once the page is taken.
            if let Some(last) = last_added.filter(|_| !objects.is_empty()) {
                let p = id.clone();
                self.off_runtime(STEP, move |g| {
                    if let Some(mut peer) = g.store.peer(&p)? {
                        if let Some(pull) = &mut peer.taxii_pull {
                            pull.cursor = Some(last);
                        }
                        g.store.put_peer(&peer)?;
                    }
                    Ok(())
                })
                .await?;
            }
            next = envelope["next"].as_str().map(str::to_string);
            if envelope["more"] != true || next.is_none() {
                break;
            }
        }
        tracing::info!(peer.id = %id, pages = done.pages, objects = done.objects, alerts = done.alerts, "TAXII collection polled");
        Ok(done)
    }

    /// Polls every subscribed peer when its `--poll-every` has passed, until `stop`.
    pub async fn run_subscriptions(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut last: HashMap<PeerId, Instant> = HashMap::new();
        loop {
            let peers = self
                .off_runtime(STEP, |g| Ok(g.store.peers()?))
                .await
                .unwrap_or_default();
            for p in peers {
                let (Transport::Taxii21, Some(pull)) = (p.transport, &p.taxii_pull) else {
                    continue;
                };
                let due = last
                    .get(&p.id)
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(pull.every_s));
                if due {
                    last.insert(p.id.clone(), Instant::now());
                    if let Err(e) = self.poll_peer(&p.id).await {
                        tracing::warn!(peer.id = %p.id, error = %e, "TAXII poll failed; trying again at the next");
                    }
                }
            }
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}
