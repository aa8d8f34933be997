//! `irtx pseudonym [--key-file F | --domain NAME] VALUE...`

use std::net::IpAddr;
use std::path::PathBuf;

use super::{domain_key, Cli, Failure};
use crate::anonymize::Pseudonymizer;

/// Arguments of `irtx pseudonym`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A key file (32 bytes as 64 hex digits, mode 0600), used as it is.
    #[arg(long, value_name = "F", conflicts_with = "domain")]
    pub key_file: Option<PathBuf>,
    /// A key domain from the config: `federation`, or `peer:ID` / a peer's id. Default
    /// `federation`.
    #[arg(long, value_name = "NAME")]
    pub domain: Option<String>,
    /// Keep the domain of e-mail addresses (as a profile with `keep_email_domain` does).
    #[arg(long)]
    pub keep_email_domain: bool,
    /// The values' type, instead of detecting it (a user name such as `m.schmidt` reads as
    /// a host name otherwise).
    #[arg(long = "type", value_name = "T", value_parser = ["ip", "cidr", "email", "url", "mac", "digest", "asn", "host", "phone", "user", "person", "org", "asset"])]
    pub kind: Option<String>,
    /// The values.
    #[arg(required = true, value_name = "VALUE")]
    pub values: Vec<String>,
}

/// The pseudonym of one value, by its detected type.
pub fn pseudonym_of(p: &Pseudonymizer, v: &str, keep_email_domain: bool) -> String {
    use crate::report::validate::check_indicator_value;
    use crate::report::IndicatorType as T;
    let is = |t: T| check_indicator_value(t, v).is_ok();
    if let Ok(a) = v.parse::<IpAddr>() {
        p.ip(a).to_string()
    } else if let Ok(n) = v.parse::<ipnet::IpNet>() {
        p.cidr(n).to_string()
    } else if is(T::Email) {
        p.email(v, keep_email_domain)
    } else if v.contains("://") && is(T::Url) {
        p.url(v)
    } else if is(T::Mac) {
        p.mac_addr(v)
    } else if [
        (T::Md5, 32),
        (T::Sha1, 40),
        (T::Sha256, 64),
        (T::Sha512, 128),
    ]
    .iter()
    .any(|(t, _)| is(*t))
    {
        p.digest(v, v.len())
    } else if v.starts_with(['A', 'a']) && is(T::Asn) {
        p.asn(v)
    } else if crate::report::validate::check_hostname(v, true).is_ok() {
        p.host(v)
    } else if v.starts_with('+') && v.chars().filter(char::is_ascii_digit).count() >= 6 {
        p.phone(v)
    } else {
        p.username(v)
    }
}

/// The pseudonym of a value of a given type.
fn typed(
    p: &Pseudonymizer,
    kind: &str,
    v: &str,
    keep_email_domain: bool,
) -> Result<String, String> {
    let bad = || format!("`{v}` is not a valid {kind}");
    Ok(match kind {
        "ip" => p.ip(v.parse().map_err(|_| bad())?).to_string(),
        "cidr" => p.cidr(v.parse().map_err(|_| bad())?).to_string(),
        "email" => p.email(v, keep_email_domain),
        "url" => p.url(v),
        "mac" => p.mac_addr(v),
        "digest" => p.digest(v, v.len()),
        "asn" => p.asn(v),
        "host" => p.host(v),
        "phone" => p.phone(v),
        "person" => p.person(v),
        "org" => p.organization(v),
        "asset" => p.asset(v),
        _ => p.username(v),
    })
}

/// Runs `irtx pseudonym`.
pub fn run(cli: &Cli, args: &Args) -> Result<(), Failure> {
    let key = match &args.key_file {
        Some(f) => crate::keys::read_key_file(f).map_err(|e| Failure {
            // A file that holds no key is invalid input; one that cannot be read, or that
            // others may read, is a setup problem (a runtime failure).
            code: if matches!(e, crate::keys::KeyFileError::Format { .. }) {
                3
            } else {
                1
            },
            message: Some(e.to_string()),
        })?,
        None => domain_key(cli, args.domain.as_deref().unwrap_or("federation"))?,
    };
    let p = Pseudonymizer::new(&key);
    for v in &args.values {
        let v = v.trim();
        let out = match args.kind.as_deref() {
            None => pseudonym_of(&p, v, args.keep_email_domain),
            Some(kind) => typed(&p, kind, v, args.keep_email_domain).map_err(|e| Failure {
                code: 3,
                message: Some(e),
            })?,
        };
        println!("{out}");
    }
    Ok(())
}
