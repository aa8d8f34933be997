//! What travels between gateways (DESIGN.md section 4, wire format): messages and receipts,
//! each a JWS (RFC 7515) in the flattened JSON serialization, signed with Ed25519 (RFC 8037),
//! whose payload is the RFC 8785 canonical JSON of the object. `kid` is the RFC 7638 JWK
//! thumbprint of the signer's key.
//!
//! The receiver verifies the exact bytes it got, then parses them: nothing is
//! re-canonicalized on the way in, so any JOSE library with the sender's public JWK can
//! check a message. Pure: keys and times are arguments.

pub mod strict;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::team::TeamId;
use crate::tlp::Tlp;

/// RFC 8785: the canonical bytes of a JSON value.
///
/// For the common case — every object key ASCII, every number an integer within ±2^53 —
/// serde_json's own output already is the RFC 8785 form: keys sorted (byte order equals
/// UTF-16 order for ASCII), the same string escapes (`\b \t \n \f \r`, other controls as
/// lowercase `\u00xx`, nothing else escaped), integers in plain decimal. That is about ten times
/// faster than a general canonicalizer, which handles everything else (float formatting,
/// key order beyond ASCII). A property test holds the two to the same bytes.
pub fn canonical(v: &Value) -> Vec<u8> {
    if plain(v) {
        serde_json::to_vec(v).expect("a serde_json::Value serializes")
    } else {
        serde_json_canonicalizer::to_vec(v).expect("a serde_json::Value canonicalizes")
    }
}

/// The canonical bytes of `object` with `key` added, given the canonical bytes of the
/// value for `key` ([`canonical`] of it): the same bytes as canonicalizing the whole, without
/// canonicalizing that value again. A message is its document's canonical bytes inside a
/// small envelope object; the document's bytes are needed on their own too (the ledger
/// records their digest). `object` must not hold `key`.
pub fn canonical_with(object: &serde_json::Map<String, Value>, key: &str, value: &[u8]) -> Vec<u8> {
    debug_assert!(!object.contains_key(key), "`{key}` given twice");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).chain([key]).collect();
    // RFC 8785 section 3.2.3: properties sorted by their names' UTF-16 code units.
    keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    let mut out = Vec::with_capacity(value.len() + 64 * keys.len());
    out.push(b'{');
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend(canonical(&Value::String(k.to_string())));
        out.push(b':');
        match object.get(k) {
            Some(v) => out.extend(canonical(v)),
            None => out.extend_from_slice(value),
        }
    }
    out.push(b'}');
    out
}

/// True when `v` has only ASCII object keys and numbers that are integers within
/// ±2^53 (RFC 8785 formats numbers as IEEE 754 doubles: a larger integer would be rounded).
fn plain(v: &Value) -> bool {
    const SAFE: u64 = 1 << 53;
    match v {
        Value::Number(n) => {
            n.as_u64().is_some_and(|u| u <= SAFE)
                || n.as_i64().is_some_and(|i| i.unsigned_abs() <= SAFE)
        }
        Value::Array(a) => a.iter().all(plain),
        Value::Object(m) => m.iter().all(|(k, x)| k.is_ascii() && plain(x)),
        _ => true,
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The RFC 7638 thumbprint of an Ed25519 public key: base64url of SHA-256 over the
/// canonical `{"crv":"Ed25519","kty":"OKP","x":...}`.
pub fn thumbprint(key: &VerifyingKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
    let input = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(input.as_bytes()))
}

/// The public JWK (RFC 8037 section 2) of a key, with its `kid`.
pub fn public_jwk(key: &VerifyingKey) -> Value {
    serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(key.as_bytes()),
        "kid": thumbprint(key),
    })
}

/// Why a JWK is not an Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an Ed25519 public JWK: {0}")]
pub struct JwkError(pub String);

/// Reads an Ed25519 public key from a JWK (`kty` OKP, `crv` Ed25519, `x`). A JWK that
/// carries a private part (`d`) is refused: a peer's key is public.
pub fn parse_public_jwk(jwk: &Value) -> Result<VerifyingKey, JwkError> {
    if jwk.get("kty").and_then(Value::as_str) != Some("OKP") {
        return Err(JwkError("`kty` must be \"OKP\"".into()));
    }
    if jwk.get("crv").and_then(Value::as_str) != Some("Ed25519") {
        return Err(JwkError("`crv` must be \"Ed25519\"".into()));
    }
    if jwk.get("d").is_some() {
        return Err(JwkError(
            "it holds a private key (`d`); give the public key only".into(),
        ));
    }
    let x = jwk
        .get("x")
        .and_then(Value::as_str)
        .ok_or_else(|| JwkError("`x` is missing".into()))?;
    let bytes: [u8; 32] = URL_SAFE_NO_PAD
        .decode(x)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| JwkError("`x` is not 32 bytes of base64url".into()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| JwkError("`x` is not a curve point".into()))
}

/// A JWS in the flattened JSON serialization (RFC 7515 section 7.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jws {
    /// base64url of the payload bytes.
    pub payload: String,
    /// base64url of the protected header's JSON.
    pub protected: String,
    /// base64url of the signature.
    pub signature: String,
}

impl Jws {
    /// The bytes of its three parts: what a peer's stored message counts against the
    /// peer's storage quota.
    pub fn size(&self) -> u64 {
        (self.payload.len() + self.protected.len() + self.signature.len()) as u64
    }
}

/// Signs `payload` with `key` under a protected header `{"alg":"EdDSA","kid":...}`.
pub fn sign(payload: &[u8], key: &SigningKey) -> Jws {
    let header = serde_json::json!({"alg": "EdDSA", "kid": thumbprint(&key.verifying_key())});
    let protected = URL_SAFE_NO_PAD.encode(canonical(&header));
    // The signing input is encoded in place, not gathered from an encoded payload: `encode`'s
    // zeroed buffer is a calloc, which jemalloc serves for a large payload with an madvise
    // that flushes the other cores' TLBs.
    let mut input = String::with_capacity(protected.len() + 1 + payload.len().div_ceil(3) * 4);
    input.push_str(&protected);
    input.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut input);
    let signature = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).to_bytes());
    Jws {
        payload: input.split_off(protected.len() + 1),
        protected,
        signature,
    }
}

/// A JWS taken apart, before its signature is checked.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The `kid` of the protected header.
    pub kid: String,
    /// The decoded payload bytes (exactly what was signed, base64url-decoded).
    pub payload: Vec<u8>,
    signature: Signature,
    input: String,
}

/// Why a JWS is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Not the flattened JSON serialization.
    #[error("not a JWS in the flattened JSON serialization: {0}")]
    Malformed(String),
    /// An algorithm other than EdDSA / Ed25519.
    #[error("algorithm `{0}` is not accepted; use EdDSA (Ed25519)")]
    Algorithm(String),
    /// The signature does not verify.
    #[error("the signature does not verify with key `{0}`")]
    BadSignature(String),
}

impl Opened {
    /// Checks the signature with `key` (strict Ed25519 verification).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), JwsError> {
        key.verify_strict(self.input.as_bytes(), &self.signature)
            .map_err(|_| JwsError::BadSignature(self.kid.clone()))
    }
}

/// Decodes a JWS: its header (`alg` EdDSA or Ed25519, RFC 9864; a `kid`), payload and
/// signature. The signature is checked by [`Opened::verify`].
pub fn open(jws: &Jws) -> Result<Opened, JwsError> {
    let bad = |what: &str| JwsError::Malformed(what.to_string());
    let header_bytes = URL_SAFE_NO_PAD
        .decode(&jws.protected)
        .map_err(|_| bad("`protected` is not base64url"))?;
    let header = strict::read(&header_bytes, strict::JsonLimits::default())
        .map_err(|e| JwsError::Malformed(format!("the protected header: {e}")))?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("the protected header has no `alg`"))?;
    if alg != "EdDSA" && alg != "Ed25519" {
        return Err(JwsError::Algorithm(alg.to_string()));
    }
    // RFC 7797 section 6: `b64` must be listed in `crit`; a verifier that ignored it would
    // read an unencoded payload as base64. irtx supports no critical extension at all.
    if header.get("b64").is_some() && header.get("crit").is_none() {
        return Err(bad(
            "`b64` without `crit`: RFC 7797 requires `b64` to be listed in `crit`",
        ));
    }
    if header.get("crit").is_some() {
        return Err(bad(
            "`crit` header parameters (such as RFC 7797 `b64`) are not supported",
        ));
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("the protected header has no `kid`"))?
        .to_string();
    let payload = URL_SAFE_NO_PAD
        .decode(&jws.payload)
        .map_err(|_| bad("`payload` is not base64url"))?;
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(&jws.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("`signature` is not 64 bytes of base64url"))?;
    Ok(Opened {
        kid,
        payload,
        signature: Signature::from_bytes(&sig),
        input: format!("{}.{}", jws.protected, jws.payload),
    })
}

/// A message id: a UUID in its canonical form (lowercase, hyphenated), which is the only form
/// accepted, so the id a receipt names compares byte for byte with the id sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub uuid::Uuid);

/// Why a string is not a message id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("message id `{0}` is not a UUID in lowercase hyphenated form")]
pub struct MessageIdError(pub String);

impl std::str::FromStr for MessageId {
    type Err = MessageIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || MessageIdError(s.chars().take(64).collect());
        let u = uuid::Uuid::try_parse(s).map_err(|_| bad())?;
        if u.hyphenated().to_string() != s {
            return Err(bad());
        }
        Ok(MessageId(u))
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

impl Serialize for MessageId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MessageId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A message between gateways (DESIGN.md section 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// A UUID (lowercase, hyphenated).
    pub id: MessageId,
    /// The sending team.
    pub from: TeamId,
    /// The receiving team.
    pub to: TeamId,
    /// When it was signed (RFC 3339).
    pub created: String,
    /// The TLP label of the document (its most restrictive marking).
    pub tlp: Tlp,
    /// `stix-2.1` or `iodef-2`.
    pub format: String,
    /// The exchange document.
    pub document: Value,
}

impl Message {
    /// The message a JSON value holds. Its document is moved, not rebuilt (as
    /// `serde_json::from_value` would, node by node).
    pub fn from_value(mut v: Value) -> Result<Message, serde_json::Error> {
        let document = v
            .as_object_mut()
            .and_then(|m| m.insert("document".into(), Value::Null));
        let mut message: Message = serde_json::from_value(v)?;
        message.document = document.ok_or_else(|| serde::de::Error::missing_field("document"))?;
        Ok(message)
    }
}

/// What a receiver says of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptStatus {
    /// Verified and imported.
    Accepted,
    /// Seen before with the same content; not imported again.
    Duplicate,
    /// Refused; the reasons say why.
    Rejected,
}

/// A receiver's signed answer to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The message's id.
    pub message_id: MessageId,
    /// Lowercase hex SHA-256 of the message's decoded payload bytes.
    pub message_sha256: String,
    /// The receiver.
    pub from: TeamId,
    /// The sender of the message.
    pub to: TeamId,
    /// When the receiver got it (RFC 3339).
    pub received: String,
    /// Accepted, duplicate or rejected.
    pub status: ReceiptStatus,
    /// Why, for a rejection.
    pub reasons: Vec<String>,
}

/// Signs a serializable object: JWS over its RFC 8785 canonical bytes.
pub fn sign_object<T: Serialize>(obj: &T, key: &SigningKey) -> Jws {
    let v = serde_json::to_value(obj).expect("the object serializes");
    sign(&canonical(&v), key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 8037 Appendix A.1.
    fn rfc8037_key() -> SigningKey {
        let d: [u8; 32] = URL_SAFE_NO_PAD
            .decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
            .unwrap()
            .try_into()
            .unwrap();
        SigningKey::from_bytes(&d)
    }

    #[test]
    fn rfc8037_a1_a2_public_key() {
        let jwk = public_jwk(&rfc8037_key().verifying_key());
        assert_eq!(jwk["x"], "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
        let parsed = parse_public_jwk(&json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})).unwrap();
        assert_eq!(parsed, rfc8037_key().verifying_key());
    }

    #[test]
    fn rfc8037_a3_thumbprint() {
        assert_eq!(
            thumbprint(&rfc8037_key().verifying_key()),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn rfc8037_a4_signature_and_verification() {
        // A.4 signs with the protected header {"alg":"EdDSA"}; Ed25519 is deterministic.
        let key = rfc8037_key();
        let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        assert_eq!(
            URL_SAFE_NO_PAD.encode("Example of Ed25519 signing"),
            "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
        );
        let sig = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).to_bytes());
        assert_eq!(sig, "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg");
        // A.5 is the verification of the same JWS: our verifier, given it flattened. It has
        // no `kid`, so it goes through the lower-level check here.
        let s: [u8; 64] = URL_SAFE_NO_PAD.decode(&sig).unwrap().try_into().unwrap();
        assert!(key
            .verifying_key()
            .verify_strict(input.as_bytes(), &Signature::from_bytes(&s))
            .is_ok());
    }

    #[test]
    fn a_message_read_from_a_value_is_the_one_read_from_its_text() {
        let text = json!({
            "id": "8c6af861-7b20-41ef-9b59-6344fd872a8f", "from": "cert-a", "to": "cert-b",
            "created": "2026-12-04T06:00:00Z", "tlp": "TLP:GREEN", "format": "stix-2.1",
            "document": {"type": "bundle", "objects": [{"a": [1, "x", null]}]}
        });
        let from_text: Message = serde_json::from_slice(text.to_string().as_bytes()).unwrap();
        assert_eq!(Message::from_value(text.clone()).unwrap(), from_text);
        let mut without = text.clone();
        without.as_object_mut().unwrap().remove("document");
        let err = Message::from_value(without).unwrap_err().to_string();
        assert!(err.contains("missing field `document`"), "{err}");
        let mut more = text;
        more["extra"] = json!(1);
        assert!(
            Message::from_value(more).is_err(),
            "an unknown field is refused"
        );
        assert!(Message::from_value(json!([1])).is_err());
    }

    #[test]
    fn sign_open_verify_round_trip_and_tampering() {
        let key = rfc8037_key();
        let jws = sign(b"{\"a\":1}", &key);
        let opened = open(&jws).unwrap();
        assert_eq!(opened.kid, thumbprint(&key.verifying_key()));
        assert_eq!(opened.payload, b"{\"a\":1}");
        opened.verify(&key.verifying_key()).unwrap();
        let mut t = jws.clone();
        t.payload = URL_SAFE_NO_PAD.encode(b"{\"a\":2}");
        assert!(matches!(
            open(&t).unwrap().verify(&key.verifying_key()),
            Err(JwsError::BadSignature(_))
        ));
        let other = SigningKey::from_bytes(&[7; 32]);
        assert!(open(&jws).unwrap().verify(&other.verifying_key()).is_err());
        let mut t = jws.clone();
        t.protected = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","kid":"x"}"#);
        assert_eq!(open(&t).unwrap_err(), JwsError::Algorithm("HS256".into()));
        let mut t = jws;
        t.protected = URL_SAFE_NO_PAD.encode(br#"{"alg":"Ed25519","kid":"x"}"#);
        assert!(open(&t).is_ok(), "RFC 9864's `Ed25519` is accepted");
    }

    /// RFC 8785 section 3.2.2 (the example) and 3.2.3 (sorting by UTF-16 code units).
    #[test]
    fn rfc8785_examples() {
        let input = r#"{
            "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#;
        let v: Value = serde_json::from_str(input).unwrap();
        assert_eq!(
            String::from_utf8(canonical(&v)).unwrap(),
            "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"
        );
        let sorting: Value = serde_json::from_str(
            r#"{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
                "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control",
                "\u00f6": "Latin Small Letter O With Diaeresis"}"#,
        )
        .unwrap();
        let out = String::from_utf8(canonical(&sorting)).unwrap();
        let order: Vec<&str> = [
            "Carriage Return",
            "One",
            "Control",
            "Latin Small",
            "Euro Sign",
            "Emoji",
            "Hebrew",
        ]
        .into_iter()
        .collect();
        let positions: Vec<usize> = order.iter().map(|w| out.find(w).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{out}");
    }

    /// RFC 7797: `b64` is only honoured when listed in `crit`, and irtx honours no `crit`;
    /// a header with a key twice is not one header.
    #[test]
    fn unsupported_and_ambiguous_headers_are_refused() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let kid = thumbprint(&key.verifying_key());
        let with_header = |header: &str| {
            let protected = URL_SAFE_NO_PAD.encode(header);
            let payload = URL_SAFE_NO_PAD.encode(b"{}");
            let sig = key.sign(format!("{protected}.{payload}").as_bytes());
            open(&Jws {
                payload,
                protected,
                signature: URL_SAFE_NO_PAD.encode(sig.to_bytes()),
            })
        };
        assert!(with_header(&format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#)).is_ok());
        for (header, why) in [
            (
                format!(r#"{{"alg":"EdDSA","kid":"{kid}","b64":false}}"#),
                "without `crit`",
            ),
            (
                format!(r#"{{"alg":"EdDSA","kid":"{kid}","b64":false,"crit":["b64"]}}"#),
                "not supported",
            ),
            (
                format!(r#"{{"alg":"none","kid":"{kid}","alg":"EdDSA"}}"#),
                "appears twice",
            ),
        ] {
            let e = with_header(&header).unwrap_err().to_string();
            assert!(e.contains(why), "{header}: {e}");
        }
    }

    /// RFC 8785 Appendix B: IEEE 754 doubles and their canonical text.
    #[test]
    fn rfc8785_appendix_b_numbers() {
        for (bits, text) in [
            (0x0000000000000000u64, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ] {
            let v = json!([f64::from_bits(bits)]);
            assert_eq!(
                String::from_utf8(canonical(&v)).unwrap(),
                format!("[{text}]"),
                "{bits:016x}"
            );
        }
    }

    fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            // Any text, controls, quotes, backslashes, non-BMP characters included.
            "(?s).{0,24}".prop_map(Value::from),
            "[\\x00-\\x1f\"\\\\\u{7f}\u{2028}\u{e000}\u{1f600}a-z]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map("(?s).{0,6}|[a-z_]{1,8}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// The fast path and the general canonicalizer give the same bytes on every value.
        #[test]
        fn canonical_matches_the_reference_canonicalizer(v in arbitrary_json()) {
            let reference = serde_json_canonicalizer::to_vec(&v).unwrap();
            proptest::prop_assert_eq!(canonical(&v), reference);
        }

        /// An object with one value's canonical bytes spliced in is the whole canonicalized.
        #[test]
        fn canonical_with_is_the_canonical_form_of_the_whole(
            object in proptest::collection::btree_map("(?s).{0,6}|[a-z_]{1,8}", arbitrary_json(), 0..6),
            key in "(?s).{0,6}|[a-z_]{1,8}",
            value in arbitrary_json(),
        ) {
            let mut object: serde_json::Map<String, Value> = object.into_iter().collect();
            object.remove(&key);
            let spliced = canonical_with(&object, &key, &canonical(&value));
            object.insert(key, value);
            let whole = serde_json_canonicalizer::to_vec(&Value::Object(object)).unwrap();
            proptest::prop_assert_eq!(spliced, whole);
        }
    }

    #[test]
    fn jwk_parsing_refuses_what_it_should() {
        assert!(parse_public_jwk(&json!({"kty": "EC", "crv": "P-256", "x": "a"})).is_err());
        assert!(parse_public_jwk(&json!({"kty": "OKP", "crv": "Ed25519"})).is_err());
        let private = json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "d": "x"});
        assert!(parse_public_jwk(&private)
            .unwrap_err()
            .to_string()
            .contains("private"));
    }
}
