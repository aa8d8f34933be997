//! The disclosure decision: may this report, or which parts of it, go to this peer?
//!
//! Two kinds of content (DESIGN.md section 5):
//! - **our own reports**: a label goes to a peer only up to the peer's `max_tlp`; nothing
//!   above CLEAR goes to a `public` peer (TLP 2.0: GREEN is "not via publicly accessible
//!   channels");
//! - **what we received** keeps its source's labels, and TLP 2.0's audience rules decide
//!   where it may go on to (the table in [`audience_allows`]); our `max_tlp` still caps it.
//!
//! RED never leaves automatically. A field marked above what the peer may receive is removed
//! before conversion, and the plan lists each removal by pointer, so the ledger can record
//! it. A report whose own label may not go is withheld whole. Pure.

use crate::peer::{Audience, PeerId, PeerPolicy};
use crate::report::redact;
pub use crate::report::redact::{Removal, WITHHELD};
use crate::report::{pointer_is_within, Report};
use crate::tlp::Tlp;

/// Where a report came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Our own report: we are the source and choose its audience.
    Own,
    /// Received from another team: its labels bind us.
    Received {
        /// The team we received it from.
        source: String,
        /// The source's recorded permission to pass TLP:AMBER on to our service providers
        /// (FIRST TLP 2.0 use cases: not without the originator's permission).
        provider_permission: bool,
    },
}

/// What may go to a peer.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The report with every field the peer may not receive removed.
    pub report: Report,
    /// The fields removed, by their pointer in the submitted report.
    pub removed: Vec<Removal>,
    /// The most restrictive label in what is sent.
    pub marking: Tlp,
}

/// Why nothing goes to a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Withheld {
    /// The report's own label may not go.
    #[error("the report is TLP:{tlp}: {reason}")]
    Label {
        /// The report's label.
        tlp: Tlp,
        /// Why that label may not go to this peer.
        reason: NotAllowed,
    },
    /// A field the exchange documents cannot do without was removed.
    #[error("`{pointer}` is TLP:{tlp} and must be removed, but a report is not valid without it ({detail})")]
    NeedsField {
        /// The removed field.
        pointer: String,
        /// Its label.
        tlp: Tlp,
        /// What validation said.
        detail: String,
    },
}

/// The decision for one report and one peer.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Send this plan.
    Send(Box<Plan>),
    /// Send nothing.
    Withhold(Withheld),
}

/// TLP 2.0's audience rules for information we received (DESIGN.md section 5):
///
/// | received as | may go to |
/// |---|---|
/// | CLEAR | anyone |
/// | GREEN | own-organization, client, service-provider, community |
/// | AMBER | own-organization, client; service-provider only with the source's permission |
/// | AMBER+STRICT | own-organization only |
/// | RED | nobody |
pub fn audience_allows(tlp: Tlp, audience: Audience, provider_permission: bool) -> bool {
    use Audience as A;
    match tlp {
        Tlp::Clear => true,
        Tlp::Green => audience != A::Public,
        Tlp::Amber => match audience {
            A::OwnOrganization | A::Client => true,
            A::ServiceProvider => provider_permission,
            A::Community | A::Public => false,
        },
        Tlp::AmberStrict => audience == A::OwnOrganization,
        Tlp::Red => false,
    }
}

/// Why content with some label may not go to a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAllowed {
    /// RED content.
    #[error("TLP:RED never leaves automatically")]
    Red,
    /// Our own content above the peer's ceiling.
    #[error("TLP:{tlp} is above TLP:{max}, the most we send to `{peer}`")]
    AboveMaxTlp {
        /// The content's label.
        tlp: Tlp,
        /// The peer's ceiling.
        max: Tlp,
        /// The peer.
        peer: PeerId,
    },
    /// Only CLEAR may be published.
    #[error("`{peer}` is public and only TLP:CLEAR may be published")]
    PublicPeer {
        /// The peer.
        peer: PeerId,
    },
    /// Received content whose label the audience rules keep from this peer.
    #[error("received from `{source_team}` as TLP:{tlp}, which may not go to a {audience} peer")]
    Audience {
        /// Where we received it from.
        source_team: String,
        /// Its label.
        tlp: Tlp,
        /// The peer's class.
        audience: Audience,
    },
    /// Received AMBER content, to a service provider, without the source's permission.
    #[error("received from `{source_team}` as TLP:AMBER: a service provider needs the source's permission, and none is recorded")]
    ProviderPermission {
        /// Where we received it from.
        source_team: String,
    },
}

/// Whether content labelled `tlp` of the given origin may go to `peer`, and if not, why.
pub fn allowed(tlp: Tlp, origin: &Origin, peer: &PeerPolicy) -> Result<(), NotAllowed> {
    if tlp == Tlp::Red {
        return Err(NotAllowed::Red);
    }
    if tlp > peer.max_tlp {
        return Err(NotAllowed::AboveMaxTlp {
            tlp,
            max: peer.max_tlp,
            peer: peer.id.clone(),
        });
    }
    match origin {
        Origin::Own => {
            if peer.audience == Audience::Public && tlp > Tlp::Clear {
                return Err(NotAllowed::PublicPeer {
                    peer: peer.id.clone(),
                });
            }
            Ok(())
        }
        Origin::Received {
            source,
            provider_permission,
        } => {
            if audience_allows(tlp, peer.audience, *provider_permission) {
                Ok(())
            } else if tlp == Tlp::Amber && peer.audience == Audience::ServiceProvider {
                Err(NotAllowed::ProviderPermission {
                    source_team: source.clone(),
                })
            } else {
                Err(NotAllowed::Audience {
                    source_team: source.clone(),
                    tlp,
                    audience: peer.audience,
                })
            }
        }
    }
}

/// Decides what of `report` may go to `peer`.
pub fn decide(report: &Report, origin: &Origin, peer: &PeerPolicy) -> Decision {
    if let Err(reason) = allowed(report.tlp, origin, peer) {
        return Decision::Withhold(Withheld::Label {
            tlp: report.tlp,
            reason,
        });
    }
    let mut removed: Vec<Removal> = Vec::new();
    for (p, t) in &report.field_tlp {
        if removed.iter().any(|r| pointer_is_within(p, &r.pointer)) {
            continue;
        }
        if let Err(reason) = allowed(*t, origin, peer) {
            // A removal covers everything beneath it; drop removals it now covers.
            removed.retain(|r| !pointer_is_within(&r.pointer, p));
            removed.push(Removal {
                pointer: p.clone(),
                tlp: *t,
                reason: reason.to_string(),
            });
        }
    }
    if removed.is_empty() {
        let marking = report.max_tlp();
        return Decision::Send(Box::new(Plan {
            report: report.clone(),
            removed,
            marking,
        }));
    }
    match redact::redact(report, &removed) {
        Ok(r) => {
            let marking = r.max_tlp();
            Decision::Send(Box::new(Plan {
                report: r,
                removed,
                marking,
            }))
        }
        Err(e) => Decision::Withhold(Withheld::NeedsField {
            pointer: e.pointer,
            tlp: e.tlp,
            detail: e.detail,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::PeerId;

    fn peer(max: Tlp, audience: Audience) -> PeerPolicy {
        PeerPolicy {
            id: "cert-b".parse::<PeerId>().unwrap(),
            max_tlp: max,
            audience,
        }
    }

    fn report(tlp: &str, field_tlp: serde_json::Value) -> Report {
        let v = serde_json::json!({
            "kind": "incident", "title": "t", "tlp": tlp, "field_tlp": field_tlp,
            "category": "test/test", "severity": "warning",
            "detected_at": "2026-01-01T00:00:00Z", "reported_at": "2026-01-01T01:00:00Z",
            "reporter": {"name": "Jana", "email": "jana@victim.example"},
            "description": "d", "environment": "e",
            "indicators": [
                {"type": "ipv4", "value": "203.0.113.1", "role": "source"},
                {"type": "ipv4", "value": "203.0.113.2", "role": "source"},
                {"type": "ipv4", "value": "203.0.113.3", "role": "target", "description": "x"},
            ]
        });
        crate::report::validate::parse_value(&v).unwrap()
    }

    /// Every cell of the DESIGN.md section 5 table, with and without the source's
    /// permission.
    #[test]
    fn audience_table_every_cell() {
        use Audience as A;
        let expected: [(Tlp, [bool; 5]); 5] = [
            //                  own    client  provider community public
            (Tlp::Clear, [true, true, true, true, true]),
            (Tlp::Green, [true, true, true, true, false]),
            (Tlp::Amber, [true, true, false, false, false]),
            (Tlp::AmberStrict, [true, false, false, false, false]),
            (Tlp::Red, [false, false, false, false, false]),
        ];
        for (tlp, row) in expected {
            for (a, want) in A::ALL.iter().copied().zip(row) {
                assert_eq!(audience_allows(tlp, a, false), want, "{tlp} -> {a}");
                let with_permission = want || (tlp == Tlp::Amber && a == A::ServiceProvider);
                assert_eq!(
                    audience_allows(tlp, a, true),
                    with_permission,
                    "{tlp} -> {a} (permission)"
                );
                // Through the decision, with no max_tlp cap in the way.
                let origin = Origin::Received {
                    source: "cert-x".into(),
                    provider_permission: false,
                };
                let d = decide(
                    &report(tlp.as_str(), serde_json::json!({})),
                    &origin,
                    &peer(Tlp::AmberStrict.max(tlp), a),
                );
                assert_eq!(
                    matches!(d, Decision::Send(_)),
                    want && tlp != Tlp::Red,
                    "{tlp} -> {a}: {d:?}"
                );
            }
        }
    }

    /// Own reports: every (label, max_tlp) pair.
    #[test]
    fn own_reports_every_tlp_pair() {
        for label in Tlp::ALL {
            for max in Tlp::ALL {
                for audience in [Audience::Community, Audience::Client] {
                    let d = decide(
                        &report(label.as_str(), serde_json::json!({})),
                        &Origin::Own,
                        &peer(max, audience),
                    );
                    let want = label != Tlp::Red && label <= max;
                    assert_eq!(
                        matches!(d, Decision::Send(_)),
                        want,
                        "{label} to max {max}: {d:?}"
                    );
                    if let Decision::Send(p) = d {
                        assert!(p.marking >= label, "sent lower than carried");
                        assert!(p.removed.is_empty());
                    }
                }
            }
            // Public peers get CLEAR only, whatever max_tlp says.
            let d = decide(
                &report(label.as_str(), serde_json::json!({})),
                &Origin::Own,
                &peer(Tlp::AmberStrict, Audience::Public),
            );
            assert_eq!(
                matches!(d, Decision::Send(_)),
                label == Tlp::Clear,
                "{label} to public"
            );
        }
    }

    #[test]
    fn fields_above_the_cap_are_removed_and_listed() {
        let r = report(
            "GREEN",
            serde_json::json!({"/indicators/0": "AMBER", "/description": "RED", "/indicators/2/description": "CLEAR"}),
        );
        let Decision::Send(plan) = decide(&r, &Origin::Own, &peer(Tlp::Green, Audience::Community))
        else {
            panic!()
        };
        let removed: Vec<&str> = plan.removed.iter().map(|r| r.pointer.as_str()).collect();
        assert_eq!(removed, vec!["/description", "/indicators/0"]);
        assert!(plan.removed[0].reason.contains("RED never leaves"));
        assert_eq!(plan.report.description, None);
        assert_eq!(plan.report.indicators.len(), 2);
        assert_eq!(plan.report.indicators[0].value, "203.0.113.2");
        // The marking that was on /indicators/2/description moved with its element.
        assert_eq!(
            plan.report.field_tlp.get("/indicators/1/description"),
            Some(&Tlp::Clear)
        );
        assert_eq!(plan.marking, Tlp::Green);
    }

    #[test]
    fn a_removed_title_or_reporter_leaves_a_placeholder() {
        let r = report(
            "GREEN",
            serde_json::json!({"/title": "RED", "/reporter": "AMBER"}),
        );
        let Decision::Send(plan) = decide(&r, &Origin::Own, &peer(Tlp::Green, Audience::Community))
        else {
            panic!()
        };
        assert_eq!(plan.report.title, WITHHELD);
        assert_eq!(plan.report.reporter.name, WITHHELD);
        assert_eq!(plan.report.reporter.email, None);
    }

    #[test]
    fn a_required_field_removed_withholds() {
        let r = report("GREEN", serde_json::json!({"/severity": "RED"}));
        let d = decide(&r, &Origin::Own, &peer(Tlp::Amber, Audience::Community));
        match d {
            Decision::Withhold(Withheld::NeedsField { pointer, .. }) => {
                assert_eq!(pointer, "/severity")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn received_amber_to_a_provider_needs_permission() {
        let r = report("AMBER", serde_json::json!({}));
        let p = peer(Tlp::AmberStrict, Audience::ServiceProvider);
        let no = Origin::Received {
            source: "cert-x".into(),
            provider_permission: false,
        };
        let Decision::Withhold(w) = decide(&r, &no, &p) else {
            panic!()
        };
        assert!(w.to_string().contains("permission"), "{w}");
        let yes = Origin::Received {
            source: "cert-x".into(),
            provider_permission: true,
        };
        assert!(matches!(decide(&r, &yes, &p), Decision::Send(_)));
    }
}
