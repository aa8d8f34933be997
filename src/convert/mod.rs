//! Report -> exchange documents: STIX 2.1 bundles and IODEF v2 JSON (RFC 8727).
//!
//! Conversion is pure and deterministic: the same report and team give the same document,
//! byte for byte. [`convert`] takes a validated [`Report`]; [`convert_json`] is the whole
//! offline pipeline from bytes (validate, convert, check the output against its schema).

pub mod iodef;
pub mod stix;

use serde_json::Value;

use std::collections::BTreeMap;

pub use crate::peer::Format;
use crate::report::{self, Report};
use crate::schema::{self, Violation};
use crate::team::Team;

/// How a value in a rendering was made from the real one (DESIGN.md section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// Crypto-PAn, prefix-preserving: the result is an address (possibly a routable one).
    CryptoPan,
    /// An address cut to its network: a real network, not the host.
    Truncation,
    /// A keyed HMAC-SHA256 pseudonym shaped as a value of its type.
    HmacSha256,
}

impl Method {
    /// The name the STIX `irtx-pseudonym` extension carries.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::CryptoPan => "crypto-pan",
            Method::Truncation => "truncation",
            Method::HmacSha256 => "hmac-sha256",
        }
    }

    /// How `original` became `replaced`.
    pub fn of(original: &str, replaced: &str) -> Method {
        let is_ip = |s: &str| s.parse::<std::net::IpAddr>().is_ok();
        let is_net = |s: &str| s.parse::<ipnet::IpNet>().is_ok();
        match (is_ip(original), is_net(replaced), is_ip(replaced)) {
            (true, true, false) => Method::Truncation,
            (true, _, true) => Method::CryptoPan,
            _ if is_net(original) && is_net(replaced) => {
                let len = |s: &str| s.parse::<ipnet::IpNet>().map(|n| n.prefix_len()).ok();
                if len(original) == len(replaced) {
                    Method::CryptoPan
                } else {
                    Method::Truncation
                }
            }
            _ => Method::HmacSha256,
        }
    }
}

/// What one rendering of a report is, beyond the report itself: what tells it apart from
/// other renderings of the same report (`key`: which fields were removed, which profile and
/// key made its pseudonyms; empty for the report as it is), and which of its values are
/// pseudonyms. Two renderings with the same key are the same view and get the same STIX ids;
/// renderings that differ get different ids (STIX readers take (id, modified) as one
/// version of one object).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    /// What tells this view apart; empty for the report as it is.
    pub key: String,
    /// The values that are pseudonyms (lowercase), and how each was made.
    pub pseudonyms: BTreeMap<String, Method>,
}

impl View {
    /// How `value` was made, if it is a pseudonym.
    pub fn pseudonym(&self, value: &str) -> Option<Method> {
        self.pseudonyms.get(&value.to_lowercase()).copied()
    }
}

/// Converts a validated report (as it is: the empty view).
pub fn convert(r: &Report, team: &Team, format: Format) -> Value {
    convert_view(r, team, format, &View::default())
}

/// Converts a rendering of a report for one view.
pub fn convert_view(r: &Report, team: &Team, format: Format, view: &View) -> Value {
    match format {
        Format::Stix => stix::to_stix(r, team, view),
        Format::Iodef => iodef::to_iodef(r, team),
    }
}

/// Checks an exchange document against the schema of its format (irtx's own IODEF schema for
/// IODEF, the OASIS schemas object by object for STIX).
pub fn check_output(doc: &Value, format: Format) -> Vec<Violation> {
    match format {
        Format::Stix => schema::check_stix_bundle(doc),
        Format::Iodef => schema::check(schema::iodef(), doc),
    }
}

/// Why a report did not become a document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    /// The report is invalid: every problem, each with a pointer.
    #[error("invalid report ({} problems)", .0.len())]
    Invalid(Vec<Violation>),
    /// The document irtx made fails its own schema: a bug in irtx, never sent anywhere.
    #[error("irtx produced a document that fails its schema; this is a bug: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    BadOutput(Vec<Violation>),
}

/// The offline pipeline: parse and validate report bytes, convert, and check the output.
pub fn convert_json(bytes: &[u8], team: &Team, format: Format) -> Result<Value, ConvertError> {
    let r = report::parse(bytes).map_err(ConvertError::Invalid)?;
    let doc = convert(&r, team, format);
    let problems = check_output(&doc, format);
    if problems.is_empty() {
        Ok(doc)
    } else {
        Err(ConvertError::BadOutput(problems))
    }
}
