//! Report -> exchange documents: STIX 2.1 bundles and IODEF v2 JSON (RFC 8727).
//!
//! Conversion is pure and deterministic: the same report and team give the same document,
//! byte for byte. [`convert`] takes a validated [`Report`]; [`convert_json`] is the whole
//! offline pipeline from bytes (validate, convert, check the output against its schema).

pub mod iodef;
pub mod stix;

use serde_json::Value;

pub use crate::peer::Format;
use crate::report::{self, Report};
use crate::schema::{self, Violation};
use crate::team::Team;

/// Converts a validated report.
pub fn convert(r: &Report, team: &Team, format: Format) -> Value {
    match format {
        Format::Stix => stix::to_stix(r, team),
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
