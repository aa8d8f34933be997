//! `/api/v1/disclosures`, `/api/v1/decisions` and `/api/v1/ledger/*`: the disclosure ledger.

use axum::extract::{OriginalUri, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::ApiQuery;
use super::page::{paged, PageQuery};
use super::{blocking, AppState};
use crate::federation::ServiceError;
use crate::ledger::{self, QueryText};

/// `GET /api/v1/disclosures?peer=&report=&indicator=&since=&until=&state=&limit=&after=`:
/// ledger entries, a page at a time (`after` is an entry's `seq`).
pub async fn disclosures(
    State(s): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ApiQuery(q): ApiQuery<QueryText>,
    ApiQuery(p): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let query = q.parse().map_err(ApiError::BadRequest)?;
    let (after, limit) = (p.after_seq()?, p.limit());
    let entries = blocking(&s, move |g| {
        Ok(query.page(g.store.as_ref(), after, limit)?)
    })
    .await?;
    let next = entries.last().map(|e| e.seq.to_string());
    Ok(paged(&uri, entries, limit, next))
}

/// `GET /api/v1/decisions?limit=&after=`: the decisions (queued, withheld, error), from
/// the ledger.
pub async fn decisions(
    State(s): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ApiQuery(p): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let (after, limit) = (p.after_seq()?, p.limit());
    let entries = blocking(&s, move |g| {
        Ok(ledger::select_page(
            g.store.as_ref(),
            |e| e.body.event.is_decision(),
            after,
            limit,
        )?)
    })
    .await?;
    let next = entries.last().map(|e| e.seq.to_string());
    let d: Vec<_> = entries.iter().filter_map(ledger::Decision::of).collect();
    Ok(paged(&uri, d, limit, next))
}

/// `POST /api/v1/ledger/checkpoint`: sign the head now.
pub async fn checkpoint(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let c = blocking(&s, |g| g.checkpoint()).await?;
    Ok(Json(json!(c)))
}

/// `GET /api/v1/ledger/export`: JSON lines (header, checkpoints, entries), after a fresh
/// checkpoint, verifiable with the team's public key alone.
pub async fn export(State(s): State<AppState>) -> Result<Response, ApiError> {
    let text = blocking(&s, |g| {
        let mut out = Vec::new();
        ledger::export(
            g.store.as_ref(),
            &g.ledger,
            &g.team,
            &g.key.current().0,
            &mut out,
            |_| {},
        )
        .map_err(|e| ServiceError::Corrupt(e.to_string()))?;
        Ok(out)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/jsonl")], text).into_response())
}

/// `GET /api/v1/backup`: a consistent snapshot of the store, taken while the gateway runs
/// (writes wait while it is taken; the download does not hold them).
pub async fn backup(State(s): State<AppState>) -> Result<Response, ApiError> {
    let path = blocking(&s, |g| {
        let path = g
            .data_dir
            .join(format!("backup-{}.tmp", uuid::Uuid::new_v4()));
        let mut f = std::io::BufWriter::new(
            crate::keys::create_private_file(&path)
                .map_err(|e| ServiceError::Corrupt(format!("cannot write a backup: {e}")))?,
        );
        let stats = g.store.snapshot(&mut f)?;
        std::io::Write::flush(&mut f)
            .map_err(|e| ServiceError::Corrupt(format!("cannot write a backup: {e}")))?;
        tracing::info!(bytes = stats.bytes, "backup taken");
        Ok(path)
    })
    .await?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::Internal(format!("cannot read the backup: {e}")))?;
    // Unlinked now; the open file is read to its end.
    let _ = tokio::fs::remove_file(&path).await;
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"irtx.backup\"",
            ),
        ],
        body,
    )
        .into_response())
}
