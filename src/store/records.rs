//! How records are written, whichever backend keeps them: the JSON encoding of each record,
//! the keys of the sled trees (which the PostgreSQL backend keeps as its dedup keys, and
//! which the snapshot format names), and what an import is known by. One place, so a
//! migration between backends reads what the other wrote.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{Alert, AlertSource, Delivered, OutboxItem, Result, StoreError, TaxiiObject};
use crate::envelope::Jws;
use crate::peer::PeerId;

pub(super) fn taxii_key(collection: &str, seq: u64) -> Vec<u8> {
    let mut k = collection.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub(super) fn taxii_index_prefix(collection: &str, id: &str) -> Vec<u8> {
    let mut k = collection.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k.push(0);
    k
}

/// The record under `key` is damaged, and why.
fn corrupt(key: &[u8], reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: reason.into(),
    }
}

pub(super) fn seq_suffix(k: &[u8]) -> Result<u64> {
    k.len()
        .checked_sub(8)
        .and_then(|at| k[at..].try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| corrupt(k, "key does not end in a sequence number"))
}

pub(super) fn pending_key(peer: &PeerId, seq: u64) -> Vec<u8> {
    let mut k = peer.as_str().as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub(super) fn is_pending(i: &OutboxItem) -> bool {
    i.state.is_pending()
}

pub(super) fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// A record is JSON; one of [`PACK_FROM`] bytes or more is kept LZ4-compressed behind this
/// first byte, which no JSON text begins with. Alerts, outbox items and deliveries hold a
/// signed message (tens of KB of base64): compressed they are a third of the size, and sled,
/// which rewrites a leaf of up to 16 values whole, writes a third as much (a sixth with the
/// payload kept apart: [`DETACHED`]).
const PACKED: u8 = 0x01;

/// First byte of a record (packed or not) that keeps the payload of the signed message it
/// carries as the payload's own bytes, not as base64 inside its JSON: LZ4 finds little to
/// repeat in base64, and a 33 KB message's record compresses to half the size. After it: where
/// the JSON holds [`SLOT_JSON`] in place of the payload's base64 (u32, little-endian), the
/// JSON's length (the same), the JSON, the payload. No JSON text begins with it.
const DETACHED: u8 = 0x02;

/// The payload of a carried message while the record's JSON is written, to be found there:
/// no base64url text reads like it (control characters).
const SLOT: &str = "\u{1}payload kept apart\u{1}";

/// [`SLOT`] as a JSON string.
const SLOT_JSON: &[u8] = br#""\u0001payload kept apart\u0001""#;

/// Records shorter than this are kept as they are (compressing them saves little).
const PACK_FROM: usize = 1024;

/// LZ4 expands at most 255-fold: a packed record that claims more is damaged, and is not
/// given the memory it claims.
const MAX_EXPANSION: usize = 255;

pub(super) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    pack(serde_json::to_vec(v).expect("store records serialize"))
}

/// `json` as a record: compressed when it is long and compressing shortens it.
fn pack(json: Vec<u8>) -> Vec<u8> {
    let Some(size) = u32::try_from(json.len())
        .ok()
        .filter(|_| json.len() >= PACK_FROM)
    else {
        return json;
    };
    let mut out = Vec::with_capacity(5 + lz4_flex::block::get_maximum_output_size(json.len()));
    out.push(PACKED);
    out.extend_from_slice(&size.to_le_bytes());
    out.resize(out.capacity(), 0);
    match lz4_flex::block::compress_into(&json, &mut out[5..]) {
        Ok(n) if 5 + n < json.len() => {
            out.truncate(5 + n);
            out
        }
        _ => json,
    }
}

/// A record's JSON: as stored, or decompressed, with the payload it keeps apart put back.
/// Records written before compression was introduced are plain JSON and read as they are.
pub(super) fn unpack<'a>(key: &[u8], bytes: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>> {
    let record = inflate(key, bytes)?;
    if record.first() != Some(&DETACHED) {
        return Ok(record);
    }
    attach(key, &record).map(std::borrow::Cow::Owned)
}

/// A record that keeps a payload apart, read: its JSON, where the slot is in it, and the
/// payload.
fn parts<'a>(key: &[u8], record: &'a [u8]) -> Result<(&'a [u8], usize, &'a [u8])> {
    let short = || corrupt(key, "a record shorter than its header says");
    let (at, rest) = record
        .get(1..)
        .and_then(<[u8]>::split_first_chunk::<4>)
        .ok_or_else(short)?;
    let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(short)?;
    let (json, payload) = rest
        .split_at_checked(u32::from_le_bytes(*len) as usize)
        .ok_or_else(short)?;
    let at = u32::from_le_bytes(*at) as usize;
    if !json
        .get(at..)
        .is_some_and(|rest| rest.starts_with(SLOT_JSON))
    {
        return Err(corrupt(
            key,
            "a record's payload is not where its header says",
        ));
    }
    Ok((json, at, payload))
}

/// The JSON of a record that keeps a payload apart, the payload's base64url in its slot.
fn attach(key: &[u8], record: &[u8]) -> Result<Vec<u8>> {
    let (json, at, payload) = parts(key, record)?;
    let text = base64::encoded_len(payload.len(), false)
        .ok_or_else(|| corrupt(key, "a payload too long to encode"))?;
    let mut out = Vec::with_capacity(json.len() + text);
    out.extend_from_slice(&json[..at]);
    out.push(b'"');
    let start = out.len();
    out.resize(start + text, 0);
    URL_SAFE_NO_PAD
        .encode_slice(payload, &mut out[start..])
        .map_err(|e| corrupt(key, e.to_string()))?;
    out.push(b'"');
    out.extend_from_slice(&json[at + SLOT_JSON.len()..]);
    Ok(out)
}

/// A record as stored, decompressed.
fn inflate<'a>(key: &[u8], bytes: &'a [u8]) -> Result<std::borrow::Cow<'a, [u8]>> {
    let Some((&PACKED, rest)) = bytes.split_first() else {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    };
    let (size, packed) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt(key, "a compressed record shorter than its header"))?;
    let size = u32::from_le_bytes(*size) as usize;
    if size > packed.len().saturating_mul(MAX_EXPANSION) {
        return Err(corrupt(
            key,
            format!(
                "a compressed record of {} bytes claims {size} bytes",
                packed.len()
            ),
        ));
    }
    // Not `lz4_flex::block::decompress`: its `vec![0; size]` is a calloc, and jemalloc zeroes
    // a reused large extent with madvise, which flushes the other cores' TLBs (2% of the
    // sender's CPU, read by the delivery loop). A malloc and a memset cost far less.
    #[allow(clippy::slow_vector_initialization)] // `vec![0; size]` is the calloc
    let mut json = Vec::with_capacity(size);
    json.resize(size, 0);
    match lz4_flex::block::decompress_into(packed, &mut json) {
        Ok(n) if n == size => Ok(std::borrow::Cow::Owned(json)),
        Ok(n) => Err(corrupt(
            key,
            format!("a compressed record of {size} bytes decompresses to {n}"),
        )),
        Err(e) => Err(corrupt(
            key,
            format!("a compressed record does not decompress: {e}"),
        )),
    }
}

pub(super) fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(&unpack(key, bytes)?).map_err(|e| corrupt(key, e.to_string()))
}

/// The objects one publish adds to a TAXII collection, as sled keeps them: one record (of up
/// to 100: a larger publish is cut into several) under the first object's position, each
/// object's own position beside it. One write for the lot
/// instead of one each (a report of 39 new objects shared with 3 peers was 117 object records
/// beside the 117 index records, and sled reads every key a transaction writes before it
/// writes it). The positions are increasing.
#[derive(serde::Deserialize)]
struct TaxiiBatch {
    seqs: Vec<u64>,
    objects: Vec<TaxiiObject>,
}

/// As [`TaxiiBatch`], borrowed, to write one.
#[derive(Serialize)]
struct TaxiiBatchRef<'a> {
    seqs: &'a [u64],
    objects: &'a [&'a TaxiiObject],
}

/// What a batch record's JSON begins with (the field [`TaxiiBatchRef`] writes first); a
/// record of one object, as written before batches and as a snapshot carries objects,
/// begins with its `id`.
const TAXII_BATCH: &[u8] = b"{\"seqs\":";

/// The record of a publish's objects at positions `seqs` (the same length, increasing).
pub(super) fn encode_taxii_batch(seqs: &[u64], objects: &[&TaxiiObject]) -> Vec<u8> {
    debug_assert_eq!(seqs.len(), objects.len());
    encode(&TaxiiBatchRef { seqs, objects })
}

/// The objects of the record under `key` of the TAXII objects tree, with their positions:
/// a batch ([`encode_taxii_batch`]), or one object at the key's position.
pub(super) fn decode_taxii_row(key: &[u8], bytes: &[u8]) -> Result<Vec<(u64, TaxiiObject)>> {
    let json = unpack(key, bytes)?;
    if !json.starts_with(TAXII_BATCH) {
        let o = serde_json::from_slice(&json).map_err(|e| corrupt(key, e.to_string()))?;
        return Ok(vec![(seq_suffix(key)?, o)]);
    }
    let b: TaxiiBatch = serde_json::from_slice(&json).map_err(|e| corrupt(key, e.to_string()))?;
    let first = seq_suffix(key)?;
    let ordered = b.seqs.first() == Some(&first) && b.seqs.windows(2).all(|w| w[0] < w[1]);
    if b.seqs.len() != b.objects.len() || !ordered {
        return Err(corrupt(
            key,
            format!(
                "a batch of {} objects with {} positions, not increasing from the key's",
                b.objects.len(),
                b.seqs.len()
            ),
        ));
    }
    Ok(b.seqs.into_iter().zip(b.objects).collect())
}

/// The TAXII objects record under `key` as records of one object each, the form a snapshot
/// carries and the PostgreSQL store keeps: a batch is split, a record of one object is kept
/// as it is.
pub(super) fn taxii_object_records(key: &[u8], bytes: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    if !unpack(key, bytes)?.starts_with(TAXII_BATCH) {
        return Ok(vec![(key.to_vec(), bytes.to_vec())]);
    }
    let objects = decode_taxii_row(key, bytes)?;
    // The key ends in a position: the batch was read by it.
    let collection = &key[..key.len() - 8];
    Ok(objects
        .into_iter()
        .map(|(seq, o)| ([collection, &seq.to_be_bytes()].concat(), encode(&o)))
        .collect())
}

/// An outbox record's `next_attempt_ms`, the rest of it (the signed message) skipped over,
/// not built: what the delivery loop asks of every pending peer on each turn.
pub(super) fn decode_next_attempt_ms(key: &[u8], bytes: &[u8]) -> Result<i64> {
    #[derive(serde::Deserialize)]
    struct Due {
        next_attempt_ms: i64,
    }
    // Read from the JSON with the slot still in it: the payload is not wanted.
    let record = inflate(key, bytes)?;
    let json = match record.first() {
        Some(&DETACHED) => parts(key, &record)?.0,
        _ => &record,
    };
    serde_json::from_slice::<Due>(json)
        .map(|d| d.next_attempt_ms)
        .map_err(|e| corrupt(key, e.to_string()))
}

/// An alert as this store writes it: a peer's document is the payload of the JWS kept
/// beside it, so it is not written a second time ([`decode_alert`] reads it back from there).
/// The same fields as [`Alert`], borrowed.
#[derive(Serialize)]
pub(super) struct AlertRecord<'a> {
    id: &'a str,
    #[serde(flatten)]
    source: &'a AlertSource,
    received_at: &'a str,
    sha256: &'a str,
    tlp: crate::tlp::Tlp,
    format: super::AlertFormat,
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retracted: Option<&'a super::Retracted>,
}

/// `a`'s record, with `source` for its own (the same but for the JWS's payload).
fn alert_record<'a>(a: &'a Alert, source: &'a AlertSource) -> AlertRecord<'a> {
    AlertRecord {
        id: &a.id,
        source,
        received_at: &a.received_at,
        sha256: &a.sha256,
        tlp: a.tlp,
        format: a.format,
        document: (!matches!(a.source, AlertSource::Peer { .. })).then_some(&a.document),
        retracted: a.retracted.as_ref(),
    }
}

pub(super) fn encode_alert(a: &Alert) -> Vec<u8> {
    if let AlertSource::Peer {
        sender,
        kid,
        message_id,
        jws,
    } = &a.source
    {
        let (slotted, payload) = slotted(jws);
        let source = AlertSource::Peer {
            sender: sender.clone(),
            kid: kid.clone(),
            message_id: *message_id,
            jws: slotted,
        };
        if let Some(r) = payload.and_then(|p| detach(&alert_record(a, &source), &p)) {
            return r;
        }
    }
    encode(&alert_record(a, &a.source))
}

/// An alert record; a peer's document, when the record does not hold it (as written by
/// [`encode_alert`]; records written before hold it), from its JWS's payload.
pub(super) fn decode_alert(key: &[u8], bytes: &[u8]) -> Result<Alert> {
    let mut alert: Alert = decode(key, bytes)?;
    if let (Value::Null, AlertSource::Peer { jws, .. }) = (&alert.document, &alert.source) {
        let opened = crate::envelope::open(jws)
            .map_err(|e| corrupt(key, format!("the alert's message does not open: {e}")))?;
        let message: crate::envelope::Message = serde_json::from_slice(&opened.payload)
            .map_err(|e| corrupt(key, format!("the alert's message does not read: {e}")))?;
        alert.document = message.document;
    }
    Ok(alert)
}

/// An outbox record: its message's payload kept apart.
pub(super) fn encode_outbox_item(item: &OutboxItem) -> Vec<u8> {
    let (jws, payload) = slotted(&item.jws);
    let slotted = with_jws(item, jws);
    payload
        .and_then(|p| detach(&slotted, &p))
        .unwrap_or_else(|| encode(item))
}

/// A delivery's record: its message's payload kept apart.
pub(super) fn encode_delivered(d: &Delivered) -> Vec<u8> {
    let (jws, payload) = slotted(&d.item.jws);
    let slotted = Delivered {
        item: with_jws(&d.item, jws),
        receipt_jws: d.receipt_jws.clone(),
        receipt: d.receipt.clone(),
        taxii_status: d.taxii_status.clone(),
        delivered_at: d.delivered_at.clone(),
    };
    payload
        .and_then(|p| detach(&slotted, &p))
        .unwrap_or_else(|| encode(d))
}

/// A copy of `item` carrying `jws` (its own message is not copied).
fn with_jws(item: &OutboxItem, jws: Jws) -> OutboxItem {
    OutboxItem {
        message_id: item.message_id,
        report_id: item.report_id.clone(),
        peer: item.peer.clone(),
        jws,
        sha256: item.sha256.clone(),
        queued_at: item.queued_at.clone(),
        attempts: item.attempts,
        next_attempt_ms: item.next_attempt_ms,
        state: item.state,
        last_error: item.last_error.clone(),
        last_cause: item.last_cause,
    }
}

/// `jws` with [`SLOT`] for its payload, and the payload's bytes; none when its base64url is
/// not strict (no padding, no stray bits): only then does the payload encode back to the
/// very text received, so that the signature stays checkable. Anything else is kept as it
/// came.
fn slotted(jws: &Jws) -> (Jws, Option<Vec<u8>>) {
    (
        Jws {
            payload: SLOT.to_string(),
            protected: jws.protected.clone(),
            signature: jws.signature.clone(),
        },
        URL_SAFE_NO_PAD.decode(&jws.payload).ok(),
    )
}

/// `slotted` (a record whose carried message has [`SLOT`] for a payload) as a record that
/// keeps `payload` apart; none when its JSON holds the slot other than once (a string from
/// elsewhere that reads like it: the record is then written whole).
fn detach<T: Serialize>(slotted: &T, payload: &[u8]) -> Option<Vec<u8>> {
    let json = serde_json::to_vec(slotted).expect("store records serialize");
    let mut found = json
        .windows(SLOT_JSON.len())
        .enumerate()
        .filter(|(_, w)| *w == SLOT_JSON)
        .map(|(i, _)| i);
    let (Some(at), None) = (found.next(), found.next()) else {
        return None;
    };
    let mut out = Vec::with_capacity(9 + json.len() + payload.len());
    out.push(DETACHED);
    out.extend_from_slice(&u32::try_from(at).ok()?.to_le_bytes());
    out.extend_from_slice(&u32::try_from(json.len()).ok()?.to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(payload);
    Some(pack(out))
}

/// A big-endian u64 value (0 when it is not one).
pub(super) fn read_u64(v: &[u8]) -> u64 {
    v.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

/// The key an imported document is known by: no peer id contains a NUL, so it cannot meet
/// a [`seen_key`].
pub(super) fn import_key(sha256: &str) -> Vec<u8> {
    let mut k = b"\0import\0".to_vec();
    k.extend_from_slice(sha256.as_bytes());
    k
}

pub(super) fn seen_key(sender: &PeerId, message_id: &str) -> Vec<u8> {
    let mut k = sender.as_str().as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(message_id.as_bytes());
    k
}

/// What an import is known by, so no alert is taken twice: the record of its message (or,
/// for documents without one, its content), the sender whose quota it counts against, and
/// for a peer's version of a report, the keys of that version and of the report's latest
/// alert.
pub(super) struct DedupKeys<'a> {
    /// (sender, message id), or the content for an import.
    pub key: Vec<u8>,
    /// The sender whose quota it counts against.
    pub peer: Option<&'a PeerId>,
    /// (this version of the report, the report) for a peer's report.
    pub version: Option<(Vec<u8>, Vec<u8>)>,
}

impl<'a> DedupKeys<'a> {
    /// The keys `alert` is known by.
    pub fn of(alert: &'a Alert) -> Self {
        // A peer's message is known by (sender, message id), and counts against the
        // sender's quota; an import is known by its content alone.
        let (key, peer) = match &alert.source {
            AlertSource::Peer {
                sender, message_id, ..
            } => (seen_key(sender, &message_id.to_string()), Some(sender)),
            AlertSource::Import { .. } => (import_key(&alert.sha256), None),
            // A TAXII post has no message id: known by its content, per peer.
            AlertSource::Taxii { taxii } => (
                seen_key(&taxii.peer, &format!("taxii:{}", alert.sha256)),
                Some(&taxii.peer),
            ),
        };
        // A peer's version of a report is held once, whatever message carried it.
        let version = match (&alert.source, alert.report_key()) {
            (AlertSource::Peer { sender, .. }, Some((report, version))) => Some((
                seen_key(sender, &format!("version:{report}#{version}")),
                report_seen_key(sender, &report),
            )),
            _ => None,
        };
        DedupKeys { key, peer, version }
    }
}

/// What a ledger index knows an indicator by: 16 bytes of the SHA-256 of its value,
/// ASCII-lowercased (a query matches ASCII case aside).
pub(super) fn indicator_digest(value: &str) -> [u8; 16] {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(value.to_ascii_lowercase().as_bytes());
    let mut out = [0; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// The digests of every indicator ledger entry `e` carried, in clear and as sent, each
/// once: a query by indicator matches either.
pub(super) fn carried_digests(e: &crate::disclosure::Entry) -> Vec<[u8; 16]> {
    let mut carried: Vec<[u8; 16]> = e
        .body
        .indicators
        .iter()
        .flat_map(|d| [indicator_digest(&d.value), indicator_digest(&d.sent_as)])
        .collect();
    carried.sort_unstable();
    carried.dedup();
    carried
}

/// The key under which the latest alert of a peer's report is recorded.
pub(super) fn report_seen_key(sender: &PeerId, report: &str) -> Vec<u8> {
    seen_key(sender, &format!("report:{report}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_records_are_compressed_short_ones_kept_and_both_read_back() {
        let short = json!({"id": "a", "n": 1});
        assert_eq!(encode(&short), serde_json::to_vec(&short).unwrap());
        assert_eq!(decode::<Value>(b"k", &encode(&short)).unwrap(), short);
        // A message-like record: base64 text compresses, and reads back the same.
        let long = json!({"id": "b", "jws": {"payload": "eyJjcmVhdGVkIjoiMjAyNi0x".repeat(400)}});
        let plain = serde_json::to_vec(&long).unwrap();
        let packed = encode(&long);
        assert_eq!(packed[0], PACKED);
        assert!(
            packed.len() * 3 < plain.len(),
            "{} of {}",
            packed.len(),
            plain.len()
        );
        assert_eq!(decode::<Value>(b"k", &packed).unwrap(), long);
        // Records an earlier release wrote, long ones too, are plain JSON and still read.
        assert_eq!(decode::<Value>(b"k", &plain).unwrap(), long);
        // Text that does not compress is kept as it is.
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let noise: String = (0..4000)
            .map(|_| {
                // xorshift64: no repeats for LZ4 to find.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'!' + (x % 90) as u8)
            })
            .collect();
        let noisy = json!({ "n": noise });
        assert_eq!(encode(&noisy), serde_json::to_vec(&noisy).unwrap());
        assert_eq!(decode::<Value>(b"k", &encode(&noisy)).unwrap(), noisy);
    }

    #[test]
    fn a_damaged_compressed_record_is_corrupt_not_a_panic_or_a_huge_allocation() {
        let long = json!({"jws": "abcdefgh".repeat(500)});
        let packed = encode(&long);
        let mut bad = Vec::new();
        // Cut short, its header only, a claimed size far beyond what it could hold, bytes
        // changed in the middle.
        bad.push(packed[..packed.len() / 2].to_vec());
        bad.push(packed[..3].to_vec());
        let mut huge = packed.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        bad.push(huge);
        let mut flipped = packed.clone();
        let mid = flipped.len() / 2;
        flipped[mid..mid + 8].copy_from_slice(&[0xff; 8]);
        bad.push(flipped);
        for b in bad {
            match decode::<Value>(b"alerts/7", &b) {
                Err(StoreError::Corrupt { key, .. }) => assert_eq!(key, "alerts/7"),
                other => panic!("{other:?}"),
            }
        }
    }

    /// A peer's alert whose signed message carries a bundle of `n` indicators.
    fn peer_alert(n: usize) -> Alert {
        use crate::envelope::MessageId;
        use crate::exchange::outbound::{seal, Envelope};
        let objects: Vec<Value> = (0..n)
            .map(|i| {
                let h = crate::envelope::sha256_hex(format!("{i}").as_bytes());
                json!({
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": format!("indicator--{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]),
                    "created": format!("2026-12-03T00:{:02}:{:02}.000Z", i / 60 % 60, i % 60),
                    "modified": format!("2026-12-03T00:{:02}:{:02}.000Z", i / 60 % 60, i % 60),
                    "name": format!("Malicious file {}", &h[32..40]),
                    "pattern": format!("[file:hashes.'SHA-256' = '{h}']"),
                    "pattern_type": "stix",
                    "valid_from": "2026-12-03T00:00:00Z",
                })
            })
            .collect();
        let document = json!({"type": "bundle", "objects": objects});
        let (from, id) = (
            "cert-a".parse().unwrap(),
            MessageId(uuid::Uuid::from_u128(7)),
        );
        let sealed = seal(
            document.clone(),
            crate::convert::Format::Stix,
            crate::tlp::Tlp::Green,
            Envelope {
                from: &from,
                to: &"cert-b".parse().unwrap(),
                id,
                now: time::macros::datetime!(2026-12-03 0:00 UTC),
            },
            &ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
        );
        Alert {
            id: "alert-1".into(),
            source: AlertSource::Peer {
                sender: from,
                kid: "kid".into(),
                message_id: id,
                jws: sealed.jws,
            },
            received_at: "2026-12-03T00:00:00Z".into(),
            sha256: "sha".into(),
            tlp: crate::tlp::Tlp::Green,
            format: super::super::AlertFormat::Stix,
            document,
            retracted: None,
        }
    }

    /// The record an alert was written as before its payload was kept apart: the whole JWS
    /// in the JSON.
    fn embedded(a: &Alert) -> Vec<u8> {
        encode(&alert_record(a, &a.source))
    }

    #[test]
    fn a_peer_alert_keeps_its_payload_apart_and_reads_back_exactly() {
        let a = peer_alert(200);
        let record = encode_alert(&a);
        assert_eq!(inflate(b"k", &record).unwrap()[0], DETACHED);
        let back = decode_alert(b"k", &record).unwrap();
        assert_eq!(back, a, "the JWS and the document read back as received");
        let AlertSource::Peer { jws, .. } = &back.source else {
            unreachable!()
        };
        crate::envelope::open(jws).expect("the signed message still opens");
        // Its JSON is what the record held before, byte for byte.
        let before = embedded(&a);
        assert_eq!(
            *unpack(b"k", &record).unwrap(),
            *unpack(b"k", &before).unwrap()
        );
        // Smaller by a quarter at least than with the base64 inside the JSON (a bench
        // message's record is half the size).
        assert!(
            record.len() * 4 <= before.len() * 3,
            "{} against {}",
            record.len(),
            before.len()
        );
        // Records written before read as they did.
        assert_eq!(decode_alert(b"k", &before).unwrap(), a);
        // A short one is not compressed, and is still told apart.
        let small = peer_alert(0);
        let record = encode_alert(&small);
        assert_eq!(record[0], DETACHED);
        assert_eq!(decode_alert(b"k", &record).unwrap(), small);
    }

    #[test]
    fn outbox_items_and_deliveries_keep_their_payload_apart_and_read_back_exactly() {
        let AlertSource::Peer { jws, .. } = peer_alert(100).source else {
            unreachable!()
        };
        let item = OutboxItem {
            message_id: crate::envelope::MessageId(uuid::Uuid::from_u128(9)),
            report_id: "EVT-1".parse().unwrap(),
            peer: "cert-b".parse().unwrap(),
            jws,
            sha256: "sha".into(),
            queued_at: "2026-12-03T00:00:00Z".into(),
            attempts: 2,
            next_attempt_ms: 1_234,
            state: super::super::DeliveryState::Failing,
            last_error: Some("503".into()),
            last_cause: None,
        };
        let record = encode_outbox_item(&item);
        assert_eq!(inflate(b"k", &record).unwrap()[0], DETACHED);
        assert_eq!(decode::<OutboxItem>(b"k", &record).unwrap(), item);
        assert_eq!(
            *unpack(b"k", &record).unwrap(),
            serde_json::to_vec(&item).unwrap()
        );
        assert!(record.len() * 4 <= encode(&item).len() * 3);
        assert_eq!(decode_next_attempt_ms(b"k", &record).unwrap(), 1_234);
        let d = Delivered {
            item: item.clone(),
            receipt_jws: Some(Jws {
                payload: "eyJhIjoxfQ".into(),
                protected: "eyJhbGciOiJFZERTQSJ9".into(),
                signature: "c2ln".into(),
            }),
            receipt: None,
            taxii_status: None,
            delivered_at: "2026-12-03T00:00:01Z".into(),
        };
        let record = encode_delivered(&d);
        assert_eq!(inflate(b"k", &record).unwrap()[0], DETACHED);
        assert_eq!(decode::<Delivered>(b"k", &record).unwrap(), d);
        assert!(record.len() * 4 <= encode(&d).len() * 3);
        // A string from elsewhere that reads like the slot: the record is written whole.
        let odd = OutboxItem {
            last_error: Some(SLOT.into()),
            ..item
        };
        let record = encode_outbox_item(&odd);
        assert_eq!(inflate(b"k", &record).unwrap()[0], b'{');
        assert_eq!(decode::<OutboxItem>(b"k", &record).unwrap(), odd);
    }

    #[test]
    fn a_payload_that_is_not_strict_base64url_is_kept_as_it_came() {
        let mut a = peer_alert(20);
        let AlertSource::Peer { jws, .. } = &mut a.source else {
            unreachable!()
        };
        // Padded: it would not encode back to the same text.
        jws.payload.push('=');
        let record = encode_alert(&a);
        assert_eq!(inflate(b"k", &record).unwrap()[0], b'{');
        let mut back: Alert = decode(b"k", &record).unwrap();
        back.document = a.document.clone();
        assert_eq!(back, a);
    }

    #[test]
    fn a_damaged_record_with_its_payload_apart_is_corrupt_not_a_panic() {
        let whole = inflate(b"k", &encode_alert(&peer_alert(3)))
            .unwrap()
            .into_owned();
        let json_len = u32::from_le_bytes(whole[5..9].try_into().unwrap()) as usize;
        for cut in [1, 3, 7, 9 + json_len - 1] {
            assert!(
                matches!(
                    decode_alert(b"k", &whole[..cut]),
                    Err(StoreError::Corrupt { .. })
                ),
                "cut at {cut}"
            );
        }
        // The payload damaged: the document does not read.
        let mut bad = whole.clone();
        bad.truncate(whole.len() - 10);
        assert!(matches!(
            decode_alert(b"k", &bad),
            Err(StoreError::Corrupt { .. })
        ));
        // The slot is not where the header says, or past the JSON's end.
        for at in [0u32, 1 << 30] {
            let mut moved = whole.clone();
            moved[1..5].copy_from_slice(&at.to_le_bytes());
            assert!(
                matches!(decode_alert(b"k", &moved), Err(StoreError::Corrupt { .. })),
                "slot at {at}"
            );
        }
    }
}
