//! Peers: who they are, what the disclosure decision and the renderer need to know about them,
//! and where they are reached. Plain data, checked on the way in ([`PeerRequest::check`]);
//! no I/O. The gateway's one list of peers is made of these records (DESIGN.md section 4).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::schema::Violation;
use crate::timestamp::Timestamp;
use crate::tlp::Tlp;

/// A value that is not one of an enumeration's names; says which names are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not {what}; expected one of {expected}")]
pub struct UnknownValue {
    /// What was being parsed ("an audience").
    pub what: &'static str,
    /// The value given.
    pub value: String,
    /// The names that are accepted, comma-separated.
    pub expected: &'static str,
}

/// Implements `as_str`-based `Display`, `FromStr`, `Serialize` and `Deserialize` for a
/// fieldless enum with a fixed list of names.
macro_rules! named_enum {
    ($ty:ident, $what:literal, [$($variant:ident => $name:literal),+ $(,)?]) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The name used in config, on the command line and in stored records.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::peer::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err($crate::peer::UnknownValue {
                        what: $what,
                        value: s.to_string(),
                        expected: concat!($($name, ", "),+).trim_end_matches(", "),
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <String as ::serde::Deserialize>::deserialize(d)?.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use named_enum;

/// A peer team's id: a team id (`cert-b`), the same slug rules.
pub type PeerId = crate::team::TeamId;

/// A peer's relation to us, in TLP 2.0's terms (DESIGN.md section 5). It decides where
/// information we *received* may go on to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Part of our own organization (TLP 2.0 "organization": formal membership, common
    /// policies).
    OwnOrganization,
    /// A constituent or customer receiving cybersecurity services from us (TLP 2.0
    /// "clients"; for national teams, stakeholders and constituents).
    Client,
    /// Provides cybersecurity services to us: the IRT we outsource to, an MSSP.
    ServiceProvider,
    /// A peer in our community (shared goals and informal trust).
    Community,
    /// The public.
    Public,
}

named_enum!(Audience, "an audience", [
    OwnOrganization => "own-organization",
    Client => "client",
    ServiceProvider => "service-provider",
    Community => "community",
    Public => "public",
]);

/// An exchange document format a peer accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// A STIX 2.1 bundle.
    Stix,
    /// IODEF v2 in the RFC 8727 JSON binding.
    Iodef,
}

named_enum!(Format, "a format", [Stix => "stix", Iodef => "iodef"]);

impl Format {
    /// The name a message's `format` field carries (DESIGN.md section 4).
    pub fn wire_name(self) -> &'static str {
        match self {
            Format::Stix => "stix-2.1",
            Format::Iodef => "iodef-2",
        }
    }

    /// The format a message's `format` field names.
    pub fn from_wire_name(s: &str) -> Option<Format> {
        Format::ALL.iter().copied().find(|f| f.wire_name() == s)
    }
}

/// (De)serializes a [`Format`] by its wire name (`stix-2.1`), as messages, alerts and ledger
/// entries carry it; the short names are read too.
pub mod wire_format {
    use super::Format;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the wire name.
    pub fn serialize<S: Serializer>(f: &Format, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(f.wire_name())
    }

    /// Reads a wire name or a short name.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        let s = String::deserialize(d)?;
        Format::from_wire_name(&s)
            .or_else(|| s.parse().ok())
            .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not stix-2.1 or iodef-2")))
    }

    /// The same for an optional field.
    pub mod option {
        use super::Format;
        use serde::{Deserialize, Deserializer, Serializer};

        /// Writes the wire name.
        pub fn serialize<S: Serializer>(f: &Option<Format>, s: S) -> Result<S::Ok, S::Error> {
            match f {
                Some(f) => super::serialize(f, s),
                None => s.serialize_none(),
            }
        }

        /// Reads a wire name or a short name.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Format>, D::Error> {
            #[derive(Deserialize)]
            struct Wire(#[serde(with = "super")] Format);
            Ok(Option::<Wire>::deserialize(d)?.map(|w| w.0))
        }
    }
}

/// Which key a peer's pseudonyms are made with (DESIGN.md section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyDomain {
    /// The federation's shared key: peers can correlate pseudonyms with each other.
    #[default]
    Federation,
    /// A key derived for this peer alone: its pseudonyms link to no other peer's.
    Peer,
}

named_enum!(KeyDomain, "a key domain", [Federation => "federation", Peer => "peer"]);

impl KeyDomain {
    /// The domain's full name for one peer: `federation`, or `peer:ID`.
    pub fn label(self, peer: &PeerId) -> String {
        match self {
            KeyDomain::Federation => "federation".into(),
            KeyDomain::Peer => format!("peer:{peer}"),
        }
    }
}

/// How messages reach a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    /// Signed messages POSTed to the peer's irtx gateway (DESIGN.md section 4).
    #[default]
    Irtx,
    /// Nothing is pushed: what is shared with the peer is put in its TAXII collection
    /// `shared`, and it pulls (DESIGN.md section 8).
    TaxiiPull,
    /// Envelopes POSTed to a collection on the peer's TAXII 2.1 server (`url` is the
    /// collection's URL); with `pull`, that collection is also read into alerts.
    Taxii21,
}

named_enum!(Transport, "a transport", [Irtx => "irtx", TaxiiPull => "taxii-pull", Taxii21 => "taxii21"]);

/// How we authenticate to a peer's TAXII server. A secret: never printed, logged or
/// answered ([`Peer::redacted`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaxiiAuth {
    /// HTTP Basic.
    Basic {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
    /// `Authorization: Bearer TOKEN`.
    Bearer(String),
}

impl std::fmt::Debug for TaxiiAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaxiiAuth::Basic { user, .. } => write!(f, "Basic({user}:***)"),
            TaxiiAuth::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

impl TaxiiAuth {
    /// Reads `USER:PASSWORD`, or `bearer:TOKEN` for a token.
    pub fn parse(s: &str) -> Result<TaxiiAuth, String> {
        match s.split_once(':') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
                Ok(TaxiiAuth::Bearer(token.to_string()))
            }
            Some((user, password)) if !user.is_empty() => Ok(TaxiiAuth::Basic {
                user: user.to_string(),
                password: password.to_string(),
            }),
            _ => Err("give USER:PASSWORD, or bearer:TOKEN".into()),
        }
    }
}

/// Reading a peer's TAXII collection into alerts (`peer add --pull`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxiiPull {
    /// Seconds between polls.
    pub every_s: u64,
    /// The `X-TAXII-Date-Added-Last` of the last page taken: the next poll asks for what
    /// was added after it (kept across restarts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// What the disclosure decision needs to know about a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPolicy {
    /// The peer.
    pub id: PeerId,
    /// The highest label of our own content we are willing to send it. RED never leaves
    /// automatically, whatever this says.
    pub max_tlp: Tlp,
    /// Its relation to us: decides where received information may go.
    pub audience: Audience,
}

/// One of a peer's public signing keys, with when it may be used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerKey {
    /// The public JWK (RFC 8037), as checked when the peer was added.
    pub jwk: Value,
    /// Its RFC 7638 thumbprint.
    pub kid: String,
    /// Valid from, if limited.
    #[serde(default)]
    pub valid_from: Option<Timestamp>,
    /// Valid until (exclusive), if limited.
    #[serde(default)]
    pub valid_until: Option<Timestamp>,
}

/// A peer team, as the gateway's one list of peers holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peer {
    /// Its team id.
    pub id: PeerId,
    /// Base URL: messages go to `{url}/exchange/v1/messages`.
    pub url: String,
    /// Its signing keys (several during a rotation).
    pub keys: Vec<PeerKey>,
    /// The highest label of our own content it may receive.
    pub max_tlp: Tlp,
    /// Its audience class.
    pub audience: Audience,
    /// The name of its anonymization profile (built in, or from the config).
    pub profile: String,
    /// The format it accepts.
    pub format: Format,
    /// Which key its pseudonyms are made with.
    pub key_domain: KeyDomain,
    /// How it is reached.
    #[serde(default)]
    pub transport: Transport,
    /// The SHA-256 (hex) of the TLS client certificate the peer must connect with, when
    /// pinned (mutual TLS, DESIGN.md section 11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_sha256: Option<String>,
    /// This peer, as a source, allows what it sends us as TLP:AMBER to be passed on to our
    /// service providers (TLP 2.0; DESIGN.md section 5): recorded here, used when its alerts
    /// are shared onward.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub provider_permission: bool,
    /// The SHA-256 (hex) of the token the peer authenticates with on the TAXII server
    /// (`irtx peer token ID`); the token itself is never kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxii_token_sha256: Option<String>,
    /// Our credentials on the peer's TAXII server (transport `taxii21`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxii_auth: Option<TaxiiAuth>,
    /// Reading the peer's TAXII collection into alerts, when subscribed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxii_pull: Option<TaxiiPull>,
}

impl Peer {
    /// What decides the document it gets of a report: its clearance, audience, profile,
    /// format and key domain.
    pub fn view(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.max_tlp, self.audience, self.profile, self.format, self.key_domain
        )
    }

    /// The peer without its secrets, for answers and output: credentials show only as
    /// `taxii_auth_set`.
    pub fn redacted(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("a peer serializes");
        if let Some(o) = v.as_object_mut() {
            if o.remove("taxii_auth").is_some() {
                o.insert("taxii_auth_set".into(), Value::Bool(true));
            }
        }
        v
    }

    /// This peer as a replacement of `old` (the same id added again, or seeded from the
    /// config at start): what the gateway issued to it, not part of a request, is kept.
    pub fn replacing(mut self, old: Option<&Peer>) -> Peer {
        if let Some(old) = old {
            if self.taxii_token_sha256.is_none() {
                self.taxii_token_sha256 = old.taxii_token_sha256.clone();
            }
            if self.taxii_auth.is_none() {
                self.taxii_auth = old.taxii_auth.clone();
            }
            // The same subscription (the same collection) keeps its place.
            let same_url = self.url == old.url;
            if let (Some(new), Some(held)) = (&mut self.taxii_pull, &old.taxii_pull) {
                if new.cursor.is_none() && same_url {
                    new.cursor = held.cursor.clone();
                }
            }
        }
        self
    }

    /// What the disclosure decision needs.
    pub fn policy(&self) -> PeerPolicy {
        PeerPolicy {
            id: self.id.clone(),
            max_tlp: self.max_tlp,
            audience: self.audience,
        }
    }
}

/// A peer as the API, the command line and the config give it: text to be checked.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeerRequest {
    /// Peer id.
    pub id: String,
    /// Base URL (not needed for a `taxii-pull` peer).
    #[serde(default)]
    pub url: String,
    /// Public keys (not needed for a `taxii-pull` peer).
    #[serde(default)]
    pub keys: Vec<KeyRequest>,
    /// Highest TLP of our own content it may receive.
    pub max_tlp: String,
    /// Audience class.
    pub audience: String,
    /// Profile (default `pseudonymize`).
    #[serde(default)]
    pub profile: Option<String>,
    /// Format (default `stix`).
    #[serde(default)]
    pub format: Option<String>,
    /// Key domain (default `federation`).
    #[serde(default)]
    pub key_domain: Option<String>,
    /// Transport (default `irtx`).
    #[serde(default)]
    pub transport: Option<String>,
    /// The SHA-256 (64 hex digits) of the TLS client certificate the peer must connect
    /// with.
    #[serde(default)]
    pub client_cert_sha256: Option<String>,
    /// The peer allows passing its TLP:AMBER on to our service providers (default false).
    #[serde(default)]
    pub provider_permission: Option<bool>,
    /// Our credentials on its TAXII server (`taxii21`): `USER:PASSWORD` or `bearer:TOKEN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// Read its TAXII collection into alerts every this many seconds (`taxii21`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_every_s: Option<u64>,
}

/// A key as a [`PeerRequest`] gives it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// Public JWK.
    pub jwk: Value,
    /// Valid from (RFC 3339).
    #[serde(default)]
    pub valid_from: Option<String>,
    /// Valid until (RFC 3339).
    #[serde(default)]
    pub valid_until: Option<String>,
}

/// The profile name a peer gets when none is given.
pub const DEFAULT_PROFILE: &str = "pseudonymize";

impl PeerRequest {
    /// Checks every field; every problem comes back with its pointer. `profile_known` says
    /// whether a profile name exists; `key` turns a JWK into its canonical public form and
    /// thumbprint (the envelope's job, passed in so this stays plain data).
    pub fn check(
        &self,
        profile_known: impl Fn(&str) -> Result<(), String>,
        key: impl Fn(&Value) -> Result<(Value, String), String>,
    ) -> Result<Peer, Vec<Violation>> {
        let mut v = Vec::new();
        let id = self
            .id
            .parse::<PeerId>()
            .map_err(|e| v.push(Violation::new("/id", e.to_string())))
            .ok();
        let transport = self
            .transport
            .as_deref()
            .unwrap_or("irtx")
            .parse::<Transport>()
            .map_err(|e| v.push(Violation::new("/transport", e.to_string())))
            .ok();
        // A peer that only pulls needs neither an address nor keys: nothing goes to it,
        // nothing signed comes from it.
        let pulls = transport == Some(Transport::TaxiiPull);
        let taxii = transport == Some(Transport::Taxii21);
        match url::Url::parse(&self.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ if pulls && self.url.is_empty() => {}
            _ => v.push(Violation::new(
                "/url",
                format!("`{}` is not an http(s) URL", self.url),
            )),
        }
        let max_tlp = self
            .max_tlp
            .parse::<Tlp>()
            .map_err(|e| v.push(Violation::new("/max_tlp", e.to_string())))
            .ok();
        let audience = self
            .audience
            .parse::<Audience>()
            .map_err(|e| v.push(Violation::new("/audience", e.to_string())))
            .ok();
        let profile = self
            .profile
            .clone()
            .unwrap_or_else(|| DEFAULT_PROFILE.into());
        if let Err(e) = profile_known(&profile) {
            v.push(Violation::new("/profile", e));
        }
        let format = self
            .format
            .as_deref()
            .unwrap_or("stix")
            .parse::<Format>()
            .map_err(|e| v.push(Violation::new("/format", e.to_string())))
            .ok();
        let key_domain = self
            .key_domain
            .as_deref()
            .unwrap_or("federation")
            .parse::<KeyDomain>()
            .map_err(|e| v.push(Violation::new("/key_domain", e.to_string())))
            .ok();
        if (pulls || taxii) && format == Some(Format::Iodef) {
            v.push(Violation::new(
                "/format",
                "TAXII carries STIX 2.1; IODEF does not go there",
            ));
        }
        let taxii_auth = match &self.auth {
            Some(a) => TaxiiAuth::parse(a)
                .map_err(|e| v.push(Violation::new("/auth", e)))
                .ok(),
            None => None,
        };
        if !taxii && (self.auth.is_some() || self.pull_every_s.is_some()) {
            v.push(Violation::new(
                "/transport",
                "`auth` and `pull_every_s` are for a `taxii21` peer",
            ));
        }
        if self.pull_every_s == Some(0) {
            v.push(Violation::new("/pull_every_s", "at least 1 second"));
        }
        let pin = self
            .client_cert_sha256
            .as_ref()
            .map(|p| p.to_ascii_lowercase());
        if let Some(p) = &pin {
            if p.len() != 64 || !p.chars().all(|c| c.is_ascii_hexdigit()) {
                v.push(Violation::new(
                    "/client_cert_sha256",
                    "a certificate's SHA-256 is 64 hex digits",
                ));
            }
        }
        if self.keys.is_empty() && !pulls && !taxii {
            v.push(Violation::new("/keys", "at least one public key is needed"));
        }
        let mut keys = Vec::new();
        for (i, k) in self.keys.iter().enumerate() {
            let mut time = |field: &str, t: &Option<String>| -> Option<Timestamp> {
                let t = t.as_deref()?;
                Timestamp::parse(t)
                    .map_err(|_| {
                        v.push(Violation::new(
                            format!("/keys/{i}/{field}"),
                            format!("`{t}` is not an RFC 3339 time"),
                        ))
                    })
                    .ok()
            };
            let valid_from = time("valid_from", &k.valid_from);
            let valid_until = time("valid_until", &k.valid_until);
            match key(&k.jwk) {
                Ok((jwk, kid)) => keys.push(PeerKey {
                    jwk,
                    kid,
                    valid_from,
                    valid_until,
                }),
                Err(e) => v.push(Violation::new(format!("/keys/{i}/jwk"), e)),
            }
        }
        match (id, max_tlp, audience, format, key_domain, transport) {
            (
                Some(id),
                Some(max_tlp),
                Some(audience),
                Some(format),
                Some(key_domain),
                Some(transport),
            ) if v.is_empty() => Ok(Peer {
                id,
                url: self.url.trim_end_matches('/').to_string(),
                keys,
                max_tlp,
                audience,
                profile,
                format,
                key_domain,
                transport,
                client_cert_sha256: pin,
                provider_permission: self.provider_permission.unwrap_or(false),
                taxii_token_sha256: None,
                taxii_auth,
                taxii_pull: self.pull_every_s.map(|every_s| TaxiiPull {
                    every_s,
                    cursor: None,
                }),
            }),
            _ => Err(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> PeerRequest {
        PeerRequest {
            id: "cert-b".into(),
            url: "https://gw.cert-b.example/".into(),
            keys: vec![KeyRequest {
                jwk: serde_json::json!({"kty": "OKP"}),
                valid_from: None,
                valid_until: Some("2027-01-01T00:00:00Z".into()),
            }],
            max_tlp: "AMBER".into(),
            audience: "community".into(),
            profile: None,
            format: Some("iodef".into()),
            key_domain: None,
            transport: None,
            client_cert_sha256: None,
            provider_permission: None,
            auth: None,
            pull_every_s: None,
        }
    }

    #[test]
    fn taxii_peers_need_no_key_keep_their_secrets_out_of_answers_and_across_replacement() {
        let mut r = request();
        r.keys.clear();
        r.format = None;
        r.transport = Some("taxii21".into());
        r.auth = Some("irtx:s3cret:x".into());
        r.pull_every_s = Some(60);
        let p = r.check(|_| Ok(()), ok_key).unwrap();
        assert_eq!(
            p.taxii_auth,
            Some(TaxiiAuth::Basic {
                user: "irtx".into(),
                password: "s3cret:x".into()
            })
        );
        assert!(!format!("{p:?}").contains("s3cret"));
        let shown = p.redacted();
        assert!(!shown.to_string().contains("s3cret"), "{shown}");
        assert_eq!(shown["taxii_auth_set"], true);
        // Added again without credentials, or seeded from the config: they stay, and so
        // does the subscription's place.
        let mut held = p.clone();
        held.taxii_pull.as_mut().unwrap().cursor = Some("2026-12-01T00:00:00.000000Z".into());
        held.taxii_token_sha256 = Some("ab".repeat(32));
        r.auth = None;
        let again = r.check(|_| Ok(()), ok_key).unwrap().replacing(Some(&held));
        assert_eq!(again.taxii_auth, p.taxii_auth);
        assert_eq!(again.taxii_token_sha256, held.taxii_token_sha256);
        assert_eq!(again.taxii_pull, held.taxii_pull);
        // IODEF does not go over TAXII; a bearer token reads as one; bad values are named.
        r.format = Some("iodef".into());
        r.auth = Some("bearer:t0k".into());
        let e = r.check(|_| Ok(()), ok_key).unwrap_err();
        assert_eq!(e[0].pointer, "/format");
        assert_eq!(
            TaxiiAuth::parse("bearer:t0k"),
            Ok(TaxiiAuth::Bearer("t0k".into()))
        );
        assert!(TaxiiAuth::parse(":x").is_err());
        let mut plain = request();
        plain.auth = Some("a:b".into());
        let e = plain.check(|_| Ok(()), ok_key).unwrap_err();
        assert_eq!(e[0].pointer, "/transport");
    }

    fn ok_key(jwk: &Value) -> Result<(Value, String), String> {
        Ok((jwk.clone(), "kid".into()))
    }

    #[test]
    fn a_request_becomes_a_typed_peer() {
        let p = request().check(|_| Ok(()), ok_key).unwrap();
        assert_eq!(p.id.as_str(), "cert-b");
        assert_eq!(p.url, "https://gw.cert-b.example");
        assert_eq!((p.max_tlp, p.audience), (Tlp::Amber, Audience::Community));
        assert_eq!(
            (p.format, p.key_domain),
            (Format::Iodef, KeyDomain::Federation)
        );
        assert_eq!(p.profile, DEFAULT_PROFILE);
        // The record reads back as it was written, in the strings of earlier releases.
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["format"], "iodef");
        assert_eq!(v["keys"][0]["valid_until"], "2027-01-01T00:00:00Z");
        assert_eq!(serde_json::from_value::<Peer>(v).unwrap(), p);
    }

    #[test]
    fn every_problem_is_named_with_its_pointer() {
        let mut r = request();
        r.id = "Cert B".into();
        r.url = "ftp://x".into();
        r.max_tlp = "PINK".into();
        r.audience = "friends".into();
        r.format = Some("xml".into());
        r.key_domain = Some("team".into());
        r.keys[0].valid_from = Some("yesterday".into());
        let v = r
            .check(|p| Err(format!("`{p}` is unknown")), |_| Err("bad".into()))
            .unwrap_err();
        let pointers: Vec<&str> = v.iter().map(|x| x.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/id",
                "/url",
                "/max_tlp",
                "/audience",
                "/profile",
                "/format",
                "/key_domain",
                "/keys/0/valid_from",
                "/keys/0/jwk"
            ]
        );
        assert!(v[3]
            .reason
            .contains("own-organization, client, service-provider"));
    }
}
