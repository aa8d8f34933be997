//! `/api/v1/outbox` and `/api/v1/deliveries`: what is waiting, what failed, what arrived.

use axum::extract::{OriginalUri, State};
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery};
use super::page::{searched, PageQuery};
use super::{blocking, AppState};
use crate::envelope::MessageId;
use crate::peer::PeerId;
use crate::report::ReportId;
use crate::store::OutboxItem;
use serde::Deserialize;
use std::time::Duration;

/// `?peer=&report=` on the outbox and the deliveries: only that peer's, that report's.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MessageFilter {
    limit: Option<usize>,
    after: Option<String>,
    peer: Option<PeerId>,
    report: Option<ReportId>,
}

impl MessageFilter {
    fn page(&self) -> PageQuery {
        PageQuery {
            limit: self.limit,
            after: self.after.clone(),
        }
    }

    fn keeps(&self, item: &OutboxItem) -> bool {
        self.peer.as_ref().is_none_or(|p| &item.peer == p)
            && self.report.as_ref().is_none_or(|r| &item.report_id == r)
    }
}

/// `GET /api/v1/outbox?peer=&report=&limit=&after=`: messages not yet delivered, without
/// their documents.
pub async fn list(
    State(s): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ApiQuery(q): ApiQuery<MessageFilter>,
) -> Result<Response, ApiError> {
    let (after, limit) = (q.page().after_seq()?, q.page().limit());
    let (o, at) = blocking(&s, move |g| {
        Ok(crate::store::scan_pages(
            |a, n| g.store.outbox_page(a, n),
            |i| q.keeps(i),
            after,
            limit,
            crate::store::SCAN_BUDGET,
        )?)
    })
    .await?;
    let next = at.map(|seq| seq.to_string());
    let items: Vec<Value> = o
        .into_iter()
        .map(|(seq, i)| {
            json!({"seq": seq, "message_id": i.message_id, "report_id": i.report_id, "peer": i.peer,
                   "state": i.state, "attempts": i.attempts, "last_error": i.last_error,
                   "last_cause": i.last_cause, "queued_at": i.queued_at,
                   "next_attempt_ms": i.next_attempt_ms})
        })
        .collect();
    Ok(searched(&uri, items, limit, next))
}

/// `POST /api/v1/outbox/{seq}/retry`: a dead-lettered message goes round again.
pub async fn retry(
    State(s): State<AppState>,
    ApiPath(seq): ApiPath<u64>,
) -> Result<Json<Value>, ApiError> {
    let i = blocking(&s, move |g| g.retry(seq, "an analyst (API)")).await?;
    Ok(Json(
        json!({"seq": seq, "message_id": i.message_id, "state": i.state}),
    ))
}

/// `GET /api/v1/deliveries?peer=&report=&limit=&after=`: delivered messages, each with
/// the peer's signed receipt.
pub async fn delivered(
    State(s): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ApiQuery(q): ApiQuery<MessageFilter>,
) -> Result<Response, ApiError> {
    let (after, limit) = (q.page().after_seq()?, q.page().limit());
    let (d, at) = blocking(&s, move |g| {
        Ok(crate::store::scan_pages(
            |a, n| g.store.delivered_page(a, n),
            |d| q.keeps(&d.item),
            after,
            limit,
            crate::store::SCAN_BUDGET,
        )?)
    })
    .await?;
    let next = at.map(|seq| seq.to_string());
    let items: Vec<_> = d.into_iter().map(|(_, d)| d).collect();
    Ok(searched(&uri, items, limit, next))
}

/// `?wait=SECONDS` on a message: answer once it is delivered (or refused, dead-lettered,
/// published), or when that many seconds have passed, whichever comes first.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageQuery {
    #[serde(default)]
    wait: u64,
}

/// The longest a request may wait for a message to be delivered.
pub const MAX_WAIT_SECONDS: u64 = 60;

/// Looks at message `id`'s delivery until it is no longer pending or `wait` seconds have
/// passed (none: once), and answers the last look (`None`: no such message).
async fn settled(
    s: &AppState,
    id: MessageId,
    wait: u64,
) -> Result<Option<crate::federation::messages::DeliveryView>, ApiError> {
    if wait > MAX_WAIT_SECONDS {
        return Err(ApiError::bad_request(format!(
            "query: wait: at most {MAX_WAIT_SECONDS} seconds, not {wait}"
        )));
    }
    let until = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        // Watched before the message is read: an attempt recorded after the read is seen.
        let mut recorded = s.gateway.attempts_recorded.subscribe();
        let delivery = blocking(s, move |g| g.delivery(&id)).await?;
        let now = tokio::time::Instant::now();
        if !delivery.as_ref().is_some_and(|d| d.is_pending()) || now >= until {
            return Ok(delivery);
        }
        // Another gateway of the team may deliver it: looked at again each second too.
        let _ = tokio::time::timeout(
            (until - now).min(Duration::from_secs(1)),
            recorded.changed(),
        )
        .await;
    }
}

/// The error for a message nothing names.
fn no_message(id: MessageId) -> ApiError {
    crate::federation::ServiceError::NotFound {
        what: "message",
        id: id.to_string(),
    }
    .into()
}

/// `GET /api/v1/messages/{id}[?wait=SECONDS]`: one message with everything known of it:
/// the document as sent, its delivery, the ledger entries that name it, and the peer's
/// receipt verified now. With `wait`, a message still queued or failing is answered once
/// an attempt settles it (at most [`MAX_WAIT_SECONDS`]); its `state` says which.
pub async fn message(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<MessageId>,
    ApiQuery(q): ApiQuery<MessageQuery>,
) -> Result<Json<crate::federation::messages::MessageView>, ApiError> {
    if q.wait > 0 {
        settled(&s, id, q.wait).await?;
    }
    blocking(&s, move |g| g.message(&id))
        .await?
        .map(Json)
        .ok_or_else(|| no_message(id))
}

/// `GET /api/v1/messages/{id}/delivery[?wait=SECONDS]`: where the message's delivery
/// stands, from its outbox record alone (no document, no ledger entries; the receipt as
/// verified when it arrived). What a client waiting for a share asks: with `wait`, as
/// for the message itself.
pub async fn delivery(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<MessageId>,
    ApiQuery(q): ApiQuery<MessageQuery>,
) -> Result<Json<crate::federation::messages::DeliveryView>, ApiError> {
    settled(&s, id, q.wait)
        .await?
        .map(Json)
        .ok_or_else(|| no_message(id))
}
