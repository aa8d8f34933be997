//! One delivery attempt over HTTP: POST the signed message to the peer's inbox, read the
//! answer (never more than [`MAX_RECEIPT_BYTES`], read as a capped stream), and classify it:
//! delivered with a verified receipt, worth retrying, or refused for good. No store, no
//! clock: the worker records what this returns.

use crate::disclosure::Cause;
use crate::envelope::{Jws, Receipt, ReceiptStatus};
use crate::exchange::inbound::trusted_keys;
use crate::exchange::outbound::{check_receipt, Expected, ReceiptError};
use crate::peer::Peer;
use crate::store::OutboxItem;
use crate::team::TeamId;

/// The largest answer read from a peer: a receipt is a few hundred bytes; a rejection with
/// many reasons a few hundred KiB at most.
pub const MAX_RECEIPT_BYTES: usize = 1 << 20;

/// What one attempt came to.
#[derive(Debug)]
pub enum Attempt {
    /// A valid receipt: accepted or duplicate.
    Delivered {
        /// The receipt as received.
        jws: Jws,
        /// Its content.
        receipt: Receipt,
    },
    /// Try again later.
    Retry {
        /// The kind of failure.
        cause: Cause,
        /// What happened, for the analyst.
        why: String,
    },
    /// A TAXII server took every object (its status, unsigned, stands in for a receipt).
    Accepted {
        /// The status resource it answered with.
        status: serde_json::Value,
    },
    /// The peer refused it for good (a 4xx other than 408 and 429).
    Refused {
        /// Signed rejection or not.
        cause: Cause,
        /// The peer's reasons, decoded.
        why: String,
        /// The peer's signed rejection, when it sent a valid one.
        receipt: Option<Jws>,
    },
}

/// Delivers `item` to `peer` once.
#[tracing::instrument(skip_all, fields(peer.id = %peer.id, message.id = %item.message_id, attempt = item.attempts + 1))]
pub async fn attempt(
    client: &reqwest::Client,
    peer: &Peer,
    item: &OutboxItem,
    us: &TeamId,
) -> Attempt {
    if peer.transport == crate::peer::Transport::Taxii21 {
        return taxii_attempt(client, peer, item).await;
    }
    let url = format!("{}/exchange/v1/messages", peer.url.trim_end_matches('/'));
    let body = serde_json::to_vec(&item.jws).expect("a JWS serializes");
    let req = client
        .post(&url)
        .header("content-type", "application/jose+json")
        .body(body);
    let (status, bytes) = match send_and_read(req, peer).await {
        Ok(answer) => answer,
        Err(attempt) => return attempt,
    };
    let expected = Expected {
        message_id: &item.message_id,
        sha256: &item.sha256,
        us,
        peer: &peer.id,
    };
    let receipt = serde_json::from_slice::<Jws>(&bytes)
        .map_err(|e| ReceiptError::Malformed(e.to_string()))
        .and_then(|jws| check_receipt(&jws, expected, &trusted_keys(peer)).map(|r| (jws, r)));
    if let Err(e @ ReceiptError::UnknownKey(_)) = &receipt {
        return Attempt::Retry {
            cause: Cause::UnknownKey,
            why: format!("{status}: {e}"),
        };
    }
    let final_refusal = (400..=499).contains(&status) && status != 408 && status != 429;
    match receipt {
        Ok((jws, receipt)) if status == 200 && receipt.status != ReceiptStatus::Rejected => {
            Attempt::Delivered { jws, receipt }
        }
        Ok((jws, receipt)) if final_refusal => Attempt::Refused {
            cause: Cause::Rejected,
            why: format!("{status}: {}", receipt.reasons.join("; ")),
            receipt: Some(jws),
        },
        Err(_) if final_refusal => Attempt::Refused {
            cause: Cause::RefusedUnsigned,
            why: format!("{status}: {}", error_text(&bytes)),
            receipt: None,
        },
        Err(why) => Attempt::Retry {
            cause: match status {
                429 => Cause::RateLimited,
                500..=599 => Cause::PeerError,
                _ => Cause::BadAnswer,
            },
            why: format!("{status}: {}", unsigned_text(&bytes, &why)),
        },
        Ok((_, r)) => Attempt::Retry {
            cause: if status == 429 {
                Cause::RateLimited
            } else {
                Cause::BadAnswer
            },
            why: format!("{status}: receipt {:?}: {}", r.status, r.reasons.join("; ")),
        },
    }
}

/// Sends a delivery and reads the answer (status and at most [`MAX_RECEIPT_BYTES`]); a
/// network failure or an answer too long is the attempt's outcome.
async fn send_and_read(
    req: reqwest::RequestBuilder,
    peer: &Peer,
) -> Result<(u16, Vec<u8>), Attempt> {
    let resp = req.send().await.map_err(|e| network_failure(&e, peer))?;
    let status = resp.status().as_u16();
    match read_capped(resp, MAX_RECEIPT_BYTES).await {
        Ok(Some(b)) => Ok((status, b)),
        Ok(None) => Err(Attempt::Retry {
            cause: Cause::AnswerTooLarge,
            why: format!("{status}: the answer is over {MAX_RECEIPT_BYTES} bytes; not read"),
        }),
        Err(e) => Err(network_failure(&e, peer)),
    }
}

/// Adds our credentials on a peer's TAXII server to a request.
pub fn with_taxii_auth(req: reqwest::RequestBuilder, peer: &Peer) -> reqwest::RequestBuilder {
    match &peer.taxii_auth {
        Some(crate::peer::TaxiiAuth::Basic { user, password }) => {
            req.basic_auth(user, Some(password))
        }
        Some(crate::peer::TaxiiAuth::Bearer(t)) => req.bearer_auth(t),
        None => req,
    }
}

/// Pushes the message's document to the peer's TAXII collection as an envelope (DESIGN.md
/// section 8): accepted with the server's status; refused for good on a final 4xx; retried
/// otherwise.
async fn taxii_attempt(client: &reqwest::Client, peer: &Peer, item: &OutboxItem) -> Attempt {
    use crate::taxii::TAXII_MEDIA_TYPE;
    let objects = match crate::envelope::open(&item.jws) {
        Ok(opened) => serde_json::from_slice::<serde_json::Value>(&opened.payload)
            .map(|m| m["document"]["objects"].clone())
            .unwrap_or_default(),
        Err(e) => {
            return Attempt::Refused {
                cause: Cause::BadAnswer,
                why: format!("the queued message does not open: {e}"),
                receipt: None,
            }
        }
    };
    let url = format!("{}/objects/", peer.url.trim_end_matches('/'));
    let body = serde_json::json!({ "objects": objects });
    let req = client
        .post(&url)
        .header("content-type", TAXII_MEDIA_TYPE)
        .header("accept", TAXII_MEDIA_TYPE)
        .body(body.to_string());
    let (status, bytes) = match send_and_read(with_taxii_auth(req, peer), peer).await {
        Ok(answer) => answer,
        Err(attempt) => return attempt,
    };
    let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let text = || {
        answer["description"]
            .as_str()
            .or(answer["title"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(300).collect())
    };
    match status {
        // The server took the envelope: its status is the (unsigned) receipt. Objects it
        // did not add are in the status's failures (medallion counts an object it already
        // holds as one), recorded with the delivery.
        200..=299 if answer["total_count"].is_u64() => Attempt::Accepted { status: answer },
        200..=299 => Attempt::Retry {
            cause: Cause::BadAnswer,
            why: format!("{status}: not a TAXII status resource"),
        },
        408 | 429 => Attempt::Retry {
            cause: Cause::RateLimited,
            why: format!("{status}: {}", text()),
        },
        400..=499 => Attempt::Refused {
            cause: Cause::RefusedUnsigned,
            why: format!("{status}: {}", text()),
            receipt: None,
        },
        _ => Attempt::Retry {
            cause: Cause::PeerError,
            why: format!("{status}: {}", text()),
        },
    }
}

/// Reads a body of at most `cap` bytes; `None` when it is longer (the rest is not read).
pub async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Ok(None);
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if out.len() + chunk.len() > cap {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

/// What to say of an answer that is not a valid receipt: a JSON error's reasons, else why
/// the receipt was not taken.
fn unsigned_text(bytes: &[u8], why: &ReceiptError) -> String {
    match why {
        ReceiptError::Malformed(_) => error_text(bytes),
        why => why.to_string(),
    }
}

/// The text of a refusal that is not a receipt: the reasons of a JSON error
/// (`{"error", "details": [{"reason"}]}`), else the start of the body.
fn error_text(bytes: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
        if let Some(error) = v["error"].as_str() {
            let reasons: Vec<&str> = v["details"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d["reason"].as_str())
                .collect();
            return if reasons.is_empty() {
                error.to_string()
            } else {
                format!("{error}: {}", reasons.join("; "))
            };
        }
    }
    String::from_utf8_lossy(bytes).chars().take(300).collect()
}

/// A failure before an answer was read: a timeout or a connection that did not happen.
fn network_failure(e: &reqwest::Error, peer: &Peer) -> Attempt {
    let (cause, kind) = if e.is_timeout() {
        (Cause::Timeout, "timed out")
    } else if e.is_connect() {
        (Cause::Unreachable, "connection refused or unreachable")
    } else {
        (Cause::Unreachable, "request failed")
    };
    // Without the URL: a query string could carry a secret.
    let detail = match std::error::Error::source(e) {
        Some(s) => format!("{kind}: {s}"),
        None => kind.to_string(),
    };
    Attempt::Retry {
        cause,
        why: format!("cannot reach `{}`: {detail}", peer.id),
    }
}
