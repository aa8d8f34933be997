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
    let made = make(&plan, report, to.profile, to.format, key, team)?;
    Ok(made.ready(plan))
}

/// Everything of a rendering after its decision: the plan's report anonymized by a profile
/// and converted to a format.
#[derive(Debug, Clone)]
struct Made {
    document: Value,
    anonymized: Anonymized,
    marking: Tlp,
}

impl Made {
    fn ready(self, plan: Plan) -> Outcome {
        Outcome::Ready(Box::new(Ready {
            document: self.document,
            plan,
            anonymized: self.anonymized,
            marking: self.marking,
        }))
    }
}

/// Anonymizes and converts what `plan` keeps of `report`, and checks the document.
fn make(
    plan: &Plan,
    report: &Report,
    profile: &Profile,
    format: Format,
    key: Option<&Pseudonymizer>,
    team: &Team,
) -> Result<Made, RenderError> {
    if format == Format::Iodef && team.domain.is_none() {
        return Err(RenderError::NoDomain);
    }
    let anonymized = if profile.is_identity() {
        Anonymized {
            report: plan.report.clone(),
            replacements: Vec::new(),
            removed: Vec::new(),
        }
    } else {
        let p = key.ok_or_else(|| RenderError::NeedsKey {
            profile: profile.name.clone(),
            domain: "(none given)".into(),
        })?;
        anonymize::anonymize_redacted(&plan.report, report, profile, p)?
    };
    let view = view_of(plan, &anonymized, profile, key);
    let document = convert::convert_view(&anonymized.report, team, format, &view);
    let problems = convert::check_output(&document, format);
    if !problems.is_empty() {
        return Err(RenderError::BadOutput(problems));
    }
    let marking = anonymized.report.max_tlp();
    Ok(Made {
        document,
        anonymized,
        marking,
    })
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
    Renderer::new(report, origin, profiles, keys, team).for_peer(peer)
}

/// Renders one report for stored peers, one after another (sharing it with several). Each
/// peer gets its own decision; peers whose documents are bound to be equal (the decision
/// removed the same fields, and the profile, format and key domain are the same) get a copy
/// of the first one's document instead of a second conversion, when the renderer is told to
/// [`remember`](Renderer::remember).
pub struct Renderer<'a> {
    report: &'a Report,
    origin: &'a Origin,
    profiles: &'a Profiles,
    keys: &'a KeyRing,
    team: &'a Team,
    /// Whether documents are kept for the peers to come.
    remember: bool,
    made: Vec<(MadeFor, Made)>,
}

/// What decides a rendering's document once its report is given.
#[derive(Debug, PartialEq, Eq)]
struct MadeFor {
    removed: Vec<String>,
    profile: String,
    format: Format,
    key_domain: String,
}

impl<'a> Renderer<'a> {
    /// A renderer of `report`, of the given origin, by `team`, that renders for each peer
    /// anew.
    pub fn new(
        report: &'a Report,
        origin: &'a Origin,
        profiles: &'a Profiles,
        keys: &'a KeyRing,
        team: &'a Team,
    ) -> Self {
        Renderer {
            report,
            origin,
            profiles,
            keys,
            team,
            remember: false,
            made: Vec::new(),
        }
    }

    /// Keeps each document it makes (a copy), for the peers to come that would get the same
    /// (`yes`: more than one peer is to come).
    pub fn remember(self, yes: bool) -> Self {
        Renderer {
            remember: yes,
            ..self
        }
    }

    /// The report rendered for `peer`, with its profile and key domain.
    pub fn for_peer(&mut self, peer: &Peer) -> Result<Rendered, RenderError> {
        let profile = self.profiles.get(&peer.profile)?;
        let (key, domain) = self.keys.for_peer(peer.key_domain, &peer.id);
        let key_domain = if profile.needs_key() {
            domain.clone()
        } else {
            "none".into()
        };
        let rendered = |outcome| Rendered {
            outcome,
            profile: profile.name.clone(),
            key_domain: key_domain.clone(),
            format: peer.format,
        };
        // The decision comes first, so a report that may not go is withheld even without
        // a key.
        let plan = match policy::decide(self.report, self.origin, &peer.policy()) {
            Decision::Withhold(w) => return Ok(rendered(Outcome::Withheld(w))),
            Decision::Send(plan) => *plan,
        };
        let mut removed: Vec<String> = plan.removed.iter().map(|r| r.pointer.clone()).collect();
        removed.sort_unstable();
        let made_for = MadeFor {
            removed,
            profile: profile.name.clone(),
            format: peer.format,
            key_domain: key_domain.clone(),
        };
        if let Some((_, made)) = self.made.iter().find(|(f, _)| *f == made_for) {
            return Ok(rendered(made.clone().ready(plan)));
        }
        let pseudonymizer = key.as_ref().map(Pseudonymizer::new);
        let made = make(
            &plan,
            self.report,
            profile,
            peer.format,
            pseudonymizer.as_ref(),
            self.team,
        )
        .map_err(|e| match e {
            RenderError::NeedsKey { profile, .. } => RenderError::NeedsKey { profile, domain },
            e => e,
        })?;
        if self.remember {
            self.made.push((made_for, made.clone()));
        }
        Ok(rendered(made.ready(plan)))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anonymize::Key;

    fn peer(id: &str, max_tlp: &str, audience: &str, key_domain: &str, format: &str) -> Peer {
        serde_json::from_value(serde_json::json!({
            "id": id, "url": format!("https://{id}.example"), "keys": [],
            "max_tlp": max_tlp, "audience": audience, "profile": "pseudonymize",
            "format": format, "key_domain": key_domain,
        }))
        .unwrap()
    }

    /// Peers that see a report alike share one conversion; each keeps its own decision, and
    /// every peer gets what rendering for it alone gives.
    #[test]
    fn a_renderer_converts_once_per_view_and_gives_each_peer_its_own_rendering() {
        let report = crate::report::validate::parse(include_bytes!(
            "../../tests/data/valid/incident-ransomware-full.json"
        ))
        .unwrap();
        let keys = KeyRing {
            own: Some(Key::from_bytes([1; 32])),
            federation: Some(Key::from_bytes([2; 32])),
        };
        let profiles = Profiles::builtin();
        let mut team = Team::new("cert-a".parse().unwrap(), "CERT-A");
        team.domain = Some("cert-a.example".into());
        let peers = [
            peer("cert-b", "AMBER", "community", "federation", "stix"),
            // As cert-b sees it: the same document.
            peer("cert-c", "AMBER", "community", "federation", "stix"),
            // Its own key: its own pseudonyms.
            peer("cert-d", "AMBER", "community", "peer", "stix"),
            // Cleared for the description: other fields removed.
            peer(
                "cert-e",
                "AMBER+STRICT",
                "own-organization",
                "federation",
                "stix",
            ),
            peer("cert-f", "AMBER", "community", "federation", "iodef"),
            // Nothing may go: no conversion.
            peer("cert-g", "GREEN", "community", "federation", "stix"),
            peer(
                "cert-h",
                "AMBER+STRICT",
                "own-organization",
                "federation",
                "stix",
            ),
        ];
        let origin = Origin::Own;
        let mut renderer = Renderer::new(&report, &origin, &profiles, &keys, &team).remember(true);
        let mut documents = Vec::new();
        for p in &peers {
            let shared = renderer.for_peer(p).unwrap();
            let alone = render_for_peer(&report, &origin, p, &profiles, &keys, &team).unwrap();
            assert_eq!(format!("{shared:?}"), format!("{alone:?}"), "{}", p.id);
            match shared.outcome {
                Outcome::Ready(r) => {
                    // The decision is the peer's own: its reasons name it.
                    for removal in &r.plan.removed {
                        if removal.reason.contains('`') {
                            assert!(
                                removal.reason.contains(&format!("`{}`", p.id)),
                                "{removal:?}"
                            );
                        }
                    }
                    documents.push(Some(r.document));
                }
                Outcome::Withheld(_) => documents.push(None),
            }
        }
        assert_eq!(
            renderer.made.len(),
            4,
            "one conversion per view: b=c, d, e=h, f"
        );
        assert_eq!(documents[0], documents[1]);
        assert_ne!(documents[0], documents[2]);
        assert_ne!(documents[0], documents[3]);
        assert_eq!(documents[3], documents[6]);
        assert_eq!(documents[5], None);
        // Not told to remember: each peer is converted anew.
        let mut once = Renderer::new(&report, &origin, &profiles, &keys, &team);
        for p in &peers {
            once.for_peer(p).unwrap();
        }
        assert!(once.made.is_empty());
    }
}
