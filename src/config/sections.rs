//! The config's sections besides the top level: each a serde struct with `///` on every
//! field saying its meaning and default.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::anonymize::Treatment;
use crate::report::{Role, Timestamp};
use crate::team::TeamId;
use crate::tlp::Tlp;

/// `[[routing]]`: share matching reports automatically on submission. The TLP decision
/// still applies per peer; a rule only saves the analyst the `share` call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    /// The peers to share with.
    pub peers: Vec<String>,
    /// Categories that match (`intrusions/system-compromise`, or a class with `/*`). Empty:
    /// any.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Report kinds that match (`event`, `incident`, `vulnerability`). Empty: any.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Only reports labelled at most this TLP match. Default: any.
    #[serde(default)]
    pub max_tlp: Option<Tlp>,
}

impl RoutingRule {
    /// Whether a report matches this rule.
    pub fn matches(&self, r: &crate::report::Report) -> bool {
        let cat = r.category.map(|c| c.code()).unwrap_or("");
        let cat_ok = self.categories.is_empty()
            || self.categories.iter().any(|c| match c.strip_suffix("/*") {
                Some(class) => cat.split('/').next() == Some(class),
                None => c == cat,
            });
        let kind_ok = self.kinds.is_empty() || self.kinds.iter().any(|k| k == r.kind.as_str());
        let tlp_ok = self.max_tlp.is_none_or(|m| r.tlp <= m);
        cat_ok && kind_ok && tlp_ok
    }
}

/// `[log]`: how the gateway logs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (default; colours only on a terminal) or `json` (one object per line).
    pub format: LogFormat,
}

/// The log format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// JSON lines for a log collector.
    Json,
}

/// `[api]`: the listener and the analyst API. The connection bounds keep the gateway
/// serving while someone holds connections open on purpose.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// File holding the analyst bearer token (mode 0600). Default `analyst.token`.
    pub analyst_token_file: PathBuf,
    /// Largest request body accepted, in bytes (reports and inbound messages). Default 4 MiB.
    pub max_body_bytes: usize,
    /// Longest a request may take, in milliseconds. Default 30,000.
    pub request_timeout_ms: u64,
    /// Longest a client may take to send a request's headers (and a TLS handshake), in
    /// milliseconds; then the connection is closed. Default 10,000.
    pub header_read_timeout_ms: u64,
    /// Connections open at once; more are closed as they arrive. Keep it below the
    /// process's file limit (`LimitNOFILE` in deploy/irtx.service). Default 512.
    pub max_connections: usize,
    /// Failed analyst logins one address may make per minute; more are answered 429.
    /// Default 10.
    pub login_attempts_per_minute: u32,
    /// The base URL commands such as `irtx peer add` reach the gateway at. Default
    /// `http://<listen>`.
    pub url: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            analyst_token_file: PathBuf::from("analyst.token"),
            max_body_bytes: 4 << 20,
            request_timeout_ms: 30_000,
            header_read_timeout_ms: 10_000,
            max_connections: 512,
            login_attempts_per_minute: 10,
            url: None,
        }
    }
}

/// `[exchange]`: what inbound messages must meet. Each bound is answered with its own
/// clear refusal while other peers are served.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExchangeConfig {
    /// How old a message's `created` may be, in seconds. It must cover the longest outage a
    /// sender keeps retrying through. Default 7 days.
    pub replay_window_s: i64,
    /// How far in the future `created` may be (clock skew), in seconds. Default 300.
    pub future_skew_s: i64,
    /// Messages one peer may send per minute (a burst of as many is allowed); more get 429
    /// and are retried by the sender. 0: no limit. Default 6,000.
    pub max_messages_per_minute: u32,
    /// How deeply JSON in a message may nest. Default 64.
    pub max_json_depth: usize,
    /// The longest string in a message, in bytes. Default 1 MiB.
    pub max_string_bytes: usize,
    /// Objects in one STIX bundle, or indicators in one IODEF document. Default 10,000.
    pub max_objects: usize,
    /// Reasons listed in one rejection receipt; more are counted, not listed. Default 20.
    pub max_reasons: usize,
    /// What one peer's alerts may take in the store, in bytes (the messages as received);
    /// a peer over it is answered 429 until an analyst makes room. 0: no limit. Default
    /// 1 GiB.
    pub max_bytes_per_peer: u64,
}

impl ExchangeConfig {
    /// The storage quota of each peer, if there is one (`max_bytes_per_peer` 0: none).
    pub fn peer_quota(&self) -> Option<u64> {
        Some(self.max_bytes_per_peer).filter(|q| *q > 0)
    }
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        ExchangeConfig {
            replay_window_s: 7 * 24 * 3600,
            future_skew_s: 300,
            max_messages_per_minute: 6_000,
            max_json_depth: 64,
            max_string_bytes: 1 << 20,
            max_objects: 10_000,
            max_reasons: 20,
            max_bytes_per_peer: 1 << 30,
        }
    }
}

/// `[delivery]`: how the outbox is delivered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// First retry delay in milliseconds; doubles per attempt, with jitter. Default 1,000.
    #[serde(default = "default_base_delay")]
    pub base_delay_ms: u64,
    /// Longest retry delay in milliseconds. Default 600,000 (10 min).
    #[serde(default = "default_max_delay")]
    pub max_delay_ms: u64,
    /// Attempts before a message is dead-lettered. Default 20.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Timeout of one delivery attempt, in milliseconds. Default 10,000.
    #[serde(default = "default_attempt_timeout")]
    pub timeout_ms: u64,
    /// How often the worker looks for due messages, in milliseconds. Default 500.
    #[serde(default = "default_poll")]
    pub poll_ms: u64,
    /// Peers whose queues are worked at once; more wait their turn. Default 64.
    #[serde(default = "default_concurrent_peers")]
    pub max_concurrent_peers: usize,
    /// Extra PEM CA certificates to trust for peers' HTTPS (for a federation's own CA or a
    /// peer's self-signed certificate), besides the public web roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The TLS client certificate (PEM) deliveries present, for peers that pin ours. Default:
    /// `[tls] cert_file`, when set.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// Its private key (PEM, mode 0600). Default: `[tls] key_file`.
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            base_delay_ms: default_base_delay(),
            max_delay_ms: default_max_delay(),
            max_attempts: default_max_attempts(),
            timeout_ms: default_attempt_timeout(),
            poll_ms: default_poll(),
            max_concurrent_peers: default_concurrent_peers(),
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
        }
    }
}

fn default_base_delay() -> u64 {
    1_000
}
fn default_max_delay() -> u64 {
    600_000
}
fn default_max_attempts() -> u32 {
    20
}
fn default_attempt_timeout() -> u64 {
    10_000
}
fn default_poll() -> u64 {
    500
}
fn default_concurrent_peers() -> usize {
    64
}

/// `[tls]`: HTTPS for the listener.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain. With `key_file`, the listener speaks HTTPS.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key (mode 0600).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address. Default false: plain HTTP is for loopback
    /// only (ISO/IEC 27035-2 9.1: communication that cannot be eavesdropped).
    #[serde(default)]
    pub allow_plain_http: bool,
    /// Mutual TLS: ask connecting clients for a certificate and accept only those pinned for
    /// a peer (`irtx peer add --client-cert`); a peer with a pin must connect with it.
    /// Analysts' browsers need none. Default false.
    #[serde(default)]
    pub peer_client_certs: bool,
    /// Also speak TLS 1.2. Default false: TLS 1.3 only.
    #[serde(default)]
    pub allow_tls12: bool,
}

/// `[anonymize]`: where the pseudonymization keys are. Each file holds 32 bytes as 64 hex
/// digits and must have mode 0600 or stricter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnonymizeConfig {
    /// This team's own secret. Per-peer keys (`key_domain = "peer"`) are derived from it, so
    /// pseudonyms are unlinkable between peers.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// The key the whole federation shares (handed out of band), for peers with
    /// `key_domain = "federation"`: every member then gives a value the same pseudonym, and
    /// peers can correlate.
    #[serde(default)]
    pub federation_key_file: Option<PathBuf>,
}

/// `[profiles.NAME]`: an anonymization profile built on a built-in one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// The built-in profile to start from: `none`, `pseudonymize` or `strict`.
    pub base: String,
    /// The reporter: keep, drop or pseudonymize.
    #[serde(default)]
    pub reporter: Option<Treatment>,
    /// Affected assets.
    #[serde(default)]
    pub assets: Option<Treatment>,
    /// Indicators with role target or victim.
    #[serde(default)]
    pub victim_indicators: Option<Treatment>,
    /// Indicators of every other role.
    #[serde(default)]
    pub attacker_indicators: Option<Treatment>,
    /// Free text: keep, or pseudonymize to scan and replace.
    #[serde(default)]
    pub free_text: Option<Treatment>,
    /// Per-role treatment (`c2 = "keep"`).
    #[serde(default)]
    pub roles: BTreeMap<Role, Treatment>,
    /// Per-field treatment by JSON pointer (`"/environment" = "drop"`).
    #[serde(default)]
    pub fields: BTreeMap<String, Treatment>,
    /// Keep the domain part of pseudonymized e-mail addresses.
    #[serde(default)]
    pub keep_email_domain: Option<bool>,
    /// IPv4 truncation prefix (default 24).
    #[serde(default)]
    pub ipv4_prefix: Option<u8>,
    /// IPv6 truncation prefix (default 48).
    #[serde(default)]
    pub ipv6_prefix: Option<u8>,
}

fn default_team_key() -> PathBuf {
    PathBuf::from("team.key")
}

/// `[team]`: who this gateway speaks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// Team id, a slug such as `cert-a`. Required.
    pub id: TeamId,
    /// The team's Ed25519 signing key: 32 bytes as 64 hex digits, mode 0600. Default
    /// `team.key`.
    #[serde(default = "default_team_key")]
    pub key_file: PathBuf,
    /// Display name. Default: the id.
    #[serde(default)]
    pub name: Option<String>,
    /// The team's DNS name, used as IODEF `IncidentID@name`. Without it the gateway sends no
    /// IODEF (an offline `irtx convert` writes `<id>.invalid`).
    #[serde(default)]
    pub domain: Option<String>,
    /// When the team's STIX identity was created (RFC 3339). `irtx init` writes it.
    /// Default: the Unix epoch.
    #[serde(default)]
    pub created: Option<Timestamp>,
}

/// `[import]`: documents other tools wrote (`irtx import`, `POST /api/v1/imports`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImportConfig {
    /// The label of a document that carries no TLP marking (DESIGN.md section 9). Default
    /// AMBER.
    pub default_tlp: crate::tlp::Tlp,
    /// The largest file taken, in bytes. Default 64 MiB.
    pub max_file_bytes: u64,
    /// Objects in one STIX bundle, or attributes in one MISP event. Default 100,000.
    pub max_objects: usize,
}

impl Default for ImportConfig {
    fn default() -> Self {
        ImportConfig {
            default_tlp: crate::tlp::Tlp::Amber,
            max_file_bytes: 64 << 20,
            max_objects: 100_000,
        }
    }
}

/// `[store]`: where the gateway keeps its state (DESIGN §7, §12).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sled` (default: the embedded store in the data directory, no server) or `postgres`
    /// (a PostgreSQL-protocol database several gateways of the team share).
    pub backend: StoreBackend,
    /// For `postgres`: `postgres://USER@HOST:PORT/DB` (a password in it is accepted, but
    /// `password_file` keeps it out of the config and the environment).
    pub url: Option<String>,
    /// For `postgres`: a file (mode 0600) holding the database password.
    pub password_file: Option<PathBuf>,
    /// For `postgres`: the CA certificate(s), PEM, that the database's TLS certificate is
    /// checked against (default: the public web CAs). TLS is asked for by the URL:
    /// `?sslmode=require` (refuse a plain connection) or `prefer` (the default: TLS when the
    /// server offers it); `disable` never.
    pub ca_file: Option<PathBuf>,
    /// For `postgres`: connections this gateway keeps open at most. Default 16.
    pub pool_size: usize,
    /// For `postgres`: how long, in milliseconds, an instance's claim on a peer's queue lasts
    /// without being renewed; a crashed instance's claims return to the others after it.
    /// Must exceed `[delivery] timeout_ms`. Default 60,000.
    pub lease_ms: u64,
    /// For `sled`: the page cache of `irtx serve`, in MiB. Default 48. sled keeps up to this
    /// much of the store's pages in memory on top of the gateway's own; a larger cache saves
    /// reads from the operating system's file cache once the store outgrows it.
    pub cache_mib: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: StoreBackend::Sled,
            url: None,
            password_file: None,
            ca_file: None,
            pool_size: 16,
            lease_ms: 60_000,
            cache_mib: 48,
        }
    }
}

/// Which store backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// The embedded sled store.
    #[default]
    Sled,
    /// A PostgreSQL-protocol database.
    Postgres,
}
