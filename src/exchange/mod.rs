//! Composes the core for one report and one recipient: decide (TLP), redact, anonymize,
//! convert, check the output. The only core module that uses the others together. Pure:
//! keys and the team come in as arguments; signing and sending are elsewhere.

pub mod inbound;
pub mod outbound;

use serde_json::Value;

use crate::anonymize::{self, Anonymized, Profile, Pseudonymizer};
use crate::convert::{self, Format};
use crate::peer::PeerPolicy;
use crate::report::Report;
use crate::schema::Violation;
use crate::team::Team;
use crate::tlp::policy::{self, Decision, Origin, Plan, Withheld};
use crate::tlp::Tlp;

/// Who a document is for.
#[derive(Debug, Clone)]
pub struct Recipient<'a> {
    /// What the disclosure decision needs.
    pub policy: PeerPolicy,
    /// The peer's anonymization profile.
    pub profile: &'a Profile,
    /// The format it accepts.
    pub format: Format,
}

/// A document ready to sign.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The exchange document.
    pub document: Value,
    /// What the decision kept and removed.
    pub plan: Plan,
    /// The anonymized report the document was made from, and its replacements.
    pub anonymized: Anonymized,
    /// The most restrictive label in the document.
    pub marking: Tlp,
}

/// The outcome for one recipient.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Nothing may go.
    Withheld(Withheld),
    /// This may go.
    Ready(Box<Ready>),
}

/// Why a document could not be made (not a policy decision: a configuration or a bug).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// The profile needs a key and none was given.
    #[error("profile `{0}` pseudonymizes, so it needs an anonymization key; none is configured")]
    NeedsKey(String),
    /// The profile could not be applied.
    #[error(transparent)]
    Anonymize(#[from] anonymize::AnonymizeError),
    /// The document failed its schema: a bug; nothing is sent.
    #[error("irtx produced a document that fails its schema; this is a bug: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    BadOutput(Vec<Violation>),
}

/// Decides, redacts, anonymizes and converts `report` for `to`.
pub fn render(
    report: &Report,
    origin: &Origin,
    to: &Recipient<'_>,
    key: Option<&Pseudonymizer>,
    team: &Team,
) -> Result<Outcome, RenderError> {
    let plan = match policy::decide(report, origin, &to.policy) {
        Decision::Withhold(w) => return Ok(Outcome::Withheld(w)),
        Decision::Send(plan) => *plan,
    };
    let anonymized = if to.profile.is_identity() {
        Anonymized {
            report: plan.report.clone(),
            replacements: Vec::new(),
            removed: Vec::new(),
        }
    } else {
        let p = key.ok_or_else(|| RenderError::NeedsKey(to.profile.name.clone()))?;
        anonymize::anonymize_redacted(&plan.report, report, to.profile, p)?
    };
    let document = convert::convert(&anonymized.report, team, to.format);
    let problems = convert::check_output(&document, to.format);
    if !problems.is_empty() {
        return Err(RenderError::BadOutput(problems));
    }
    let marking = anonymized.report.max_tlp();
    Ok(Outcome::Ready(Box::new(Ready {
        document,
        plan,
        anonymized,
        marking,
    })))
}
