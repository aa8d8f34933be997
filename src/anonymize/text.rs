//! The free-text scanner: finds addresses, e-mail addresses, URLs, host names and phone
//! numbers in prose, and the values a report already names elsewhere, and replaces them with
//! the same pseudonyms as the structured fields. Pure.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::Regex;

use super::pseudonym::Pseudonymizer;

/// The detectors, in the order they are tried at one position (first wins).
const DETECTORS: &str = concat!(
    r#"(?P<url>\b(?:[hH][tT][tT][pP][sS]?|hxxps?|ftps?|wss?|smb)://[^\s<>"'`]+)"#,
    r"|(?P<email>\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}\b)",
    r"|(?P<ipv6>(?:\b[0-9A-Fa-f]{1,4}|::)(?::[0-9A-Fa-f]{0,4}){2,7}(?:(?:\d{1,3}\.){3}\d{1,3})?)",
    r"|(?P<ipv4>\b(?:\d{1,3}\.){3}\d{1,3}\b)",
    r"|(?P<host>\b(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\b)",
    r"|(?P<phone>(?:\+|\b00)\d{1,3}[ .-]?(?:\(0?\d{1,5}\)[ .-]?)?\d{1,5}(?:[ .-]?\d{2,8}){1,4}\b",
    r"|\(0\d{1,5}\)[ ]?\d{3,}(?:[ -]\d{2,})*\b",
    r"|\b0\d{2,5}[ /-]\d{3,}(?:[ -]\d{2,})*\b)",
);

fn detectors() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(DETECTORS).expect("detector regex compiles"))
}

/// What kind of value a scanner found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// A URL.
    Url,
    /// An e-mail address.
    Email,
    /// An IPv4 or IPv6 address.
    Ip,
    /// A host or domain name.
    Host,
    /// A phone number.
    Phone,
}

/// Replaces sensitive values in free text.
pub struct Scanner<'a> {
    /// The known values, matched leftmost-longest and ASCII-case-insensitively.
    known: Option<AhoCorasick>,
    /// The known values, by pattern index.
    literals: Vec<String>,
    /// Known values (lowercase) and their pseudonyms.
    map: HashMap<String, String>,
    /// Values (lowercase) that stay in clear: attacker-side indicators a profile keeps.
    keep: HashSet<String>,
    p: &'a Pseudonymizer,
    keep_email_domain: bool,
}

impl<'a> Scanner<'a> {
    /// A scanner that replaces `known` values by their given pseudonyms wherever they stand as
    /// a whole token, detected values not in `keep` by fresh pseudonyms, and leaves `keep`
    /// values alone.
    pub fn new(
        known: &[(String, String)],
        keep: HashSet<String>,
        p: &'a Pseudonymizer,
        keep_email_domain: bool,
    ) -> Self {
        let mut literals: Vec<String> = known
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !k.is_empty())
            .collect();
        literals.sort();
        literals.dedup();
        let known_ac = if literals.is_empty() {
            None
        } else {
            Some(
                // Built for each report and run over a few short texts: the contiguous NFA
                // builds several times faster than the DFA the crate would pick for a small
                // set of patterns, and searches short texts about as fast.
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostLongest)
                    .ascii_case_insensitive(true)
                    .kind(Some(AhoCorasickKind::ContiguousNFA))
                    .build(&literals)
                    .expect("literal patterns build"),
            )
        };
        let map = known
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.clone()))
            .collect();
        Scanner {
            known: known_ac,
            literals,
            map,
            keep,
            p,
            keep_email_domain,
        }
    }

    /// The text with every known and detected sensitive value replaced.
    pub fn scan(&self, text: &str) -> String {
        // Known values first (they may be single words no detector sees), then detectors on
        // the stretches between them, so no pseudonym is ever scanned again.
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        if let Some(ac) = &self.known {
            let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            for m in ac.find_iter(text) {
                // Whole tokens only: `fs01` is not replaced inside `fs012`.
                let lit = &self.literals[m.pattern().as_usize()];
                let before = text[..m.start()].chars().next_back();
                let after = text[m.end()..].chars().next();
                if (word(lit.chars().next()) && word(before))
                    || (word(lit.chars().next_back()) && word(after))
                {
                    continue;
                }
                out.push_str(&self.detect(&text[last..m.start()]));
                let found = &text[m.start()..m.end()];
                let replacement = self
                    .map
                    .get(&found.to_lowercase())
                    .cloned()
                    .unwrap_or_else(|| self.p.other("text", found));
                out.push_str(&replacement);
                last = m.end();
            }
        }
        out.push_str(&self.detect(&text[last..]));
        out
    }

    fn detect(&self, text: &str) -> String {
        let re = detectors();
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for caps in re.captures_iter(text) {
            let m = caps.get(0).expect("group 0");
            let kind = if caps.name("url").is_some() {
                Found::Url
            } else if caps.name("email").is_some() {
                Found::Email
            } else if caps.name("ipv6").is_some() || caps.name("ipv4").is_some() {
                Found::Ip
            } else if caps.name("host").is_some() {
                Found::Host
            } else {
                Found::Phone
            };
            let raw = m.as_str();
            // A URL or host at the end of a sentence: the full stop is not part of it.
            let value = match kind {
                Found::Url | Found::Host => {
                    raw.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']'])
                }
                _ => raw,
            };
            out.push_str(&text[last..m.start()]);
            match self.replace(kind, value) {
                Some(r) => out.push_str(&r),
                None => out.push_str(value),
            }
            out.push_str(&raw[value.len()..]);
            last = m.end();
        }
        out.push_str(&text[last..]);
        out
    }

    /// The pseudonym for a detected value, or `None` to leave it.
    fn replace(&self, kind: Found, value: &str) -> Option<String> {
        let lower = value.to_lowercase();
        if self.keep.contains(&lower) {
            return None;
        }
        if let Some(p) = self.map.get(&lower) {
            return Some(p.clone());
        }
        Some(match kind {
            Found::Url => self.p.url(value),
            Found::Email => self.p.email(value, self.keep_email_domain),
            Found::Ip => {
                if let Ok(a) = value.parse::<Ipv4Addr>() {
                    self.p.ipv4(a).to_string()
                } else if let Ok(a) = value.parse::<Ipv6Addr>() {
                    self.p.ipv6(a).to_string()
                } else {
                    return None; // "06:15:00" looks like IPv6 to the regex, and is not
                }
            }
            Found::Host => self.p.host(value),
            Found::Phone => self.p.phone(value),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anonymize::pseudonym::Key;

    #[test]
    fn finds_and_replaces_what_it_should() {
        let p = Pseudonymizer::new(&Key::from_bytes([3; 32]));
        let known = vec![("fs01".to_string(), "asset-1".to_string())];
        let keep: HashSet<String> = ["evil.example".to_string()].into();
        let s = Scanner::new(&known, keep, &p, false);
        let text = "Call +49 30 1234567 or (030) 555-0100 or 030 1234567; mail jana@victim.example. \
                    fs01 (10.20.1.11, 2001:db8::5) talked to evil.example and https://portal.victim.example/login. \
                    At 06:15:00 on 2026-11-02, version 9.4.2.";
        let out = s.scan(text);
        for gone in [
            "1234567",
            "555-0100",
            "jana@victim.example",
            "fs01",
            "10.20.1.11",
            "2001:db8::5",
            "portal.victim.example",
        ] {
            assert!(!out.contains(gone), "{gone} left in: {out}");
        }
        for kept in [
            "evil.example",
            "06:15:00",
            "2026-11-02",
            "9.4.2",
            "asset-1",
            "/login.",
        ] {
            assert!(out.contains(kept), "{kept} lost: {out}");
        }
        assert!(out.contains(&p.email("jana@victim.example", false)));
        assert!(out.contains(&p.ipv4("10.20.1.11".parse().unwrap()).to_string()));
        // Deterministic.
        assert_eq!(out, s.scan(text));
    }
}
