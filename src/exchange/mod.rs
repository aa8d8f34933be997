//! Composes the core for one report and one recipient: decide (TLP), redact, anonymize,
//! convert, check the output. The only core module that uses the others together. Pure:
//! keys, profiles and the team come in as arguments; signing and sending are elsewhere.
//!
//! [`render_for_peer`] is the one path from a stored peer to its document: sharing and the
//! offline preview (`irtx convert --peer`) both take it, so the preview is exactly what is
//! sent.

pub mod inbound;
pub mod keydoc;
pub mod outbound;

use serde_json::Value;

use crate::anonymize::{self, Anonymized, KeyRing, Profile, Profiles, Pseudonymizer};
use crate::convert::{self, Format};
use crate::disclosure::Cause;
use crate::peer::{Peer, PeerPolicy};
use crate::report::Report;
use crate::schema::Violation;
use crate::team::Team;
use crate::tlp::policy::{self, Decision, NotAllowed, Origin, Plan, Withheld};
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
    /// The peer's profile is not known.
    #[error(transparent)]
    UnknownProfile(#[from] anonymize::UnknownProfile),
    /// The profile needs a key and none was given.
    #[error("profile `{profile}` pseudonymizes, so it needs the anonymization key of domain `{domain}`; none is configured ([anonymize] in the config)")]
    NeedsKey {
        /// The profile.
        profile: String,
        /// The key domain it needs.
        domain: String,
    },
    /// The profile could not be applied.
    #[error(transparent)]
    Anonymize(#[from] anonymize::AnonymizeError),
    /// IODEF names incidents by the team's domain, and none is configured.
    #[error("IODEF names incidents by the team's DNS domain (RFC 7970 IncidentID@name), and none is configured: set [team] domain in the config (or `irtx init --domain`)")]
    NoDomain,
    /// The document failed its schema: a bug; nothing is sent.
    #[error("irtx produced a document that fails its schema; this is a bug: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    BadOutput(Vec<Violation>),
}

impl RenderError {
    /// The ledger's kind of this failure.
    pub fn cause(&self) -> Cause {
        match self {
            RenderError::UnknownProfile(_) => Cause::UnknownProfile,
            RenderError::NeedsKey { .. } => Cause::NoKey,
            RenderError::Anonymize(_) => Cause::Profile,
            RenderError::NoDomain => Cause::NoDomain,
            RenderError::BadOutput(_) => Cause::BadOutput,
        }
    }
}

/// The ledger's kind of a withholding.
pub fn withheld_cause(w: &Withheld) -> Cause {
    match w {
        Withheld::NeedsField { .. } => Cause::NeedsField,
        Withheld::Label { reason, .. } => match reason {
            NotAllowed::Red => Cause::Red,
            NotAllowed::AboveMaxTlp { .. } => Cause::AboveMaxTlp,
            NotAllowed::PublicPeer { .. } => Cause::PublicPeer,
            NotAllowed::Audience { .. } => Cause::Audience,
            NotAllowed::ProviderPermission { .. } => Cause::ProviderPermission,
        },
    }
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
    if to.format == Format::Iodef && team.domain.is_none() {
        return Err(RenderError::NoDomain);
    }
    let anonymized = if to.profile.is_identity() {
        Anonymized {
            report: plan.report.clone(),
            replacements: Vec::new(),
            removed: Vec::new(),
        }
    } else {
        let p = key.ok_or_else(|| RenderError::NeedsKey {
            profile: to.profile.name.clone(),
            domain: "(none given)".into(),
        })?;
        anonymize::anonymize_redacted(&plan.report, report, to.profile, p)?
    };
    let view = view_of(&plan, &anonymized, to.profile, key);
    let document = convert::convert_view(&anonymized.report, team, to.format, &view);
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

/// What tells this rendering apart from the report as it is: the fields removed and, when
/// the profile changed anything, the profile and the key (by a tag that does not reveal it).
/// Renderings with equal keys have equal content, so they share their STIX ids; the values
/// the profile replaced are the rendering's pseudonyms.
fn view_of(
    plan: &Plan,
    anonymized: &Anonymized,
    profile: &Profile,
    key: Option<&Pseudonymizer>,
) -> convert::View {
    let mut removed: Vec<&str> = plan
        .removed
        .iter()
        .chain(&anonymized.removed)
        .map(|r| r.pointer.as_str())
        .collect();
    removed.sort_unstable();
    removed.dedup();
    let changed = !anonymized.replacements.is_empty() || !anonymized.removed.is_empty();
    let basis = serde_json::json!({
        "removed": removed,
        "profile": changed.then_some(profile.name.as_str()),
        "key": if changed { key.map(Pseudonymizer::key_tag) } else { None },
    });
    let key = if removed.is_empty() && !changed {
        String::new()
    } else {
        use sha2::Digest;
        let canonical = serde_json_canonicalizer::to_vec(&basis).expect("plain JSON");
        let digest = sha2::Sha256::digest(canonical);
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    };
    let pseudonyms = anonymized
        .replacements
        .iter()
        .map(|r| {
            (
                r.pseudonym.to_lowercase(),
                convert::Method::of(&r.original, &r.pseudonym),
            )
        })
        .collect();
    convert::View { key, pseudonyms }
}

/// A report rendered for one stored peer, with what the ledger records of how.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The decision and, if sent, the document.
    pub outcome: Outcome,
    /// The profile applied.
    pub profile: String,
    /// The key domain of the pseudonyms (`federation`, `peer:ID`), or `none` when the profile
    /// pseudonymizes nothing.
    pub key_domain: String,
    /// The format.
    pub format: Format,
}

/// Renders `report` for a stored `peer` with its profile and key domain: the one path both
/// sharing and the preview take.
pub fn render_for_peer(
    report: &Report,
    origin: &Origin,
    peer: &Peer,
    profiles: &Profiles,
    keys: &KeyRing,
    team: &Team,
) -> Result<Rendered, RenderError> {
    let profile = profiles.get(&peer.profile)?;
    let (key, domain) = keys.for_peer(peer.key_domain, &peer.id);
    let pseudonymizer = key.as_ref().map(Pseudonymizer::new);
    let to = Recipient {
        policy: peer.policy(),
        profile,
        format: peer.format,
    };
    // `render` decides first, so a report that may not go is withheld even without a key.
    let outcome =
        render(report, origin, &to, pseudonymizer.as_ref(), team).map_err(|e| match e {
            RenderError::NeedsKey { profile, .. } => RenderError::NeedsKey {
                profile,
                domain: domain.clone(),
            },
            e => e,
        })?;
    Ok(Rendered {
        outcome,
        profile: profile.name.clone(),
        key_domain: if profile.needs_key() {
            domain
        } else {
            "none".into()
        },
        format: peer.format,
    })
}

/// Checks a peer as the API, the command line or the config give it: every field, the
/// profile among `profiles`, each key a public Ed25519 JWK (stored in its canonical form with
/// its RFC 7638 thumbprint).
pub fn check_peer(
    req: &crate::peer::PeerRequest,
    profiles: &Profiles,
) -> Result<Peer, Vec<Violation>> {
    req.check(
        |name| profiles.get(name).map(|_| ()).map_err(|e| e.to_string()),
        |jwk| {
            crate::envelope::parse_public_jwk(jwk)
                .map(|k| {
                    (
                        crate::envelope::public_jwk(&k),
                        crate::envelope::thumbprint(&k),
                    )
                })
                .map_err(|e| e.to_string())
        },
    )
}
