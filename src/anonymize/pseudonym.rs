//! Keyed, deterministic pseudonyms: Crypto-PAn for IP addresses, HMAC-SHA256 for everything
//! else, each formatted so it stays a valid value of its type (an e-mail pseudonym is an
//! e-mail address under `.invalid`, RFC 6761). Pure.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::cryptopan::CryptoPan;

type HmacSha256 = Hmac<Sha256>;

/// A 32-byte anonymization key. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an anonymization key is 32 bytes written as 64 hex digits; {0}")]
pub struct KeyError(pub String);

impl Key {
    /// A key from its bytes.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Key(b)
    }

    /// The key's bytes (for building ciphers; never log them).
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A key from 64 hex digits (surrounding blanks and a final newline allowed).
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        if s.len() != 64 {
            return Err(KeyError(format!("got {} characters", s.len())));
        }
        let mut b = [0u8; 32];
        for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
            let pair = std::str::from_utf8(chunk).map_err(|_| KeyError("not hex".into()))?;
            b[i] = u8::from_str_radix(pair, 16).map_err(|_| KeyError("not hex".into()))?;
        }
        Ok(Key(b))
    }

    /// The key of a named key domain, derived from this one (HMAC-SHA256 with a label). A
    /// team keeps one local secret and derives one key per peer (`peer:cert-b`), so pseudonyms
    /// are unlinkable between peers.
    pub fn derive(&self, domain: &str) -> Key {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"irtx/anonymize/v1/domain\0");
        mac.update(domain.as_bytes());
        Key(mac.finalize().into_bytes().into())
    }

    /// A short, non-secret fingerprint (first 8 hex digits of SHA-256 of the key), for logs
    /// and ledger entries.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let d = Sha256::digest(self.0);
        d.iter().take(4).map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key(fingerprint {})", self.fingerprint())
    }
}

/// Makes pseudonyms under one key.
#[derive(Debug)]
pub struct Pseudonymizer {
    key: Key,
    pan: CryptoPan,
}

impl Pseudonymizer {
    /// A pseudonymizer for `key`.
    pub fn new(key: &Key) -> Self {
        Pseudonymizer {
            key: key.clone(),
            pan: CryptoPan::new(&key.0),
        }
    }

    /// HMAC-SHA256(key, kind NUL value): the pseudonym material of a value of one kind.
    fn mac(&self, kind: &str, value: &str) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.key.0).expect("HMAC takes any key length");
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn tag(&self, kind: &str, value: &str, hex_len: usize) -> String {
        let m = self.mac(kind, value);
        let mut s: String = m.iter().map(|b| format!("{b:02x}")).collect();
        s.truncate(hex_len);
        s
    }

    /// A tag that names this key without revealing it (for telling renderings apart: two
    /// renderings under different keys are different views of a report).
    pub fn key_tag(&self) -> String {
        self.tag("key-tag", "", 32)
    }

    /// An IPv4 address by Crypto-PAn, kept out of routable space: see [`confine_v4`].
    pub fn ipv4(&self, a: Ipv4Addr) -> Ipv4Addr {
        confine_v4(a, self.pan.ipv4(a))
    }

    /// An IPv6 address by Crypto-PAn, kept out of routable space: see [`confine_v6`].
    pub fn ipv6(&self, a: Ipv6Addr) -> Ipv6Addr {
        confine_v6(a, self.pan.ipv6(a))
    }

    /// An IP address by Crypto-PAn.
    pub fn ip(&self, a: IpAddr) -> IpAddr {
        match a {
            IpAddr::V4(v) => IpAddr::V4(self.ipv4(v)),
            IpAddr::V6(v) => IpAddr::V6(self.ipv6(v)),
        }
    }

    /// A CIDR network: its address by Crypto-PAn, the host bits cleared again, the prefix kept
    /// (a network stays a network of the same size).
    pub fn cidr(&self, net: ipnet::IpNet) -> ipnet::IpNet {
        let addr = self.ip(net.network());
        ipnet::IpNet::new(addr, net.prefix_len())
            .expect("same prefix length")
            .trunc()
    }

    /// A host or domain name: `h-<12 hex>.invalid`.
    pub fn host(&self, name: &str) -> String {
        format!(
            "h-{}.invalid",
            self.tag("host", &name.to_ascii_lowercase(), 12)
        )
    }

    /// An e-mail address: `u-<10 hex>@` and the domain as a host pseudonym, or kept.
    pub fn email(&self, addr: &str, keep_domain: bool) -> String {
        let lower = addr.to_ascii_lowercase();
        let (local, domain) = lower.rsplit_once('@').unwrap_or((&lower, "invalid"));
        let user = self.tag("email-local", &format!("{local}@{domain}"), 10);
        let domain = if keep_domain {
            domain.to_string()
        } else {
            self.host(domain)
        };
        format!("u-{user}@{domain}")
    }

    /// A URL: the host by [`Self::host`] (or Crypto-PAn for an IP host), user name and
    /// password replaced; scheme, port, path and query kept.
    pub fn url(&self, value: &str) -> String {
        let Ok(mut u) = url::Url::parse(value) else {
            return format!("https://{}/", self.host(value));
        };
        let host = match u.host() {
            Some(url::Host::Ipv4(a)) => self.ipv4(a).to_string(),
            Some(url::Host::Ipv6(a)) => format!("[{}]", self.ipv6(a)),
            Some(url::Host::Domain(d)) => self.host(d),
            None => self.host(value),
        };
        let _ = u.set_host(Some(&host));
        if !u.username().is_empty() {
            let user = self.username(u.username());
            let _ = u.set_username(&user);
        }
        if u.password().is_some() {
            let _ = u.set_password(Some("redacted"));
        }
        u.to_string()
    }

    /// A user name: `user-<10 hex>`.
    pub fn username(&self, name: &str) -> String {
        format!("user-{}", self.tag("user", name, 10))
    }

    /// A person's name: `person-<10 hex>`.
    pub fn person(&self, name: &str) -> String {
        format!("person-{}", self.tag("person", name, 10))
    }

    /// An organization or unit name: `org-<10 hex>`.
    pub fn organization(&self, name: &str) -> String {
        format!("org-{}", self.tag("org", name, 10))
    }

    /// An asset name: `asset-<10 hex>`.
    pub fn asset(&self, name: &str) -> String {
        format!("asset-{}", self.tag("asset", name, 10))
    }

    /// A phone number: `+999 ` and ten digits (+999 is not an assigned country code).
    pub fn phone(&self, number: &str) -> String {
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        let m = self.mac("phone", &digits);
        let n = u64::from_be_bytes(m[..8].try_into().expect("8 bytes")) % 10_000_000_000;
        format!("+999 {n:010}")
    }

    /// A MAC address: locally administered, unicast, from the HMAC.
    pub fn mac_addr(&self, value: &str) -> String {
        let norm = value.to_ascii_lowercase().replace('-', ":");
        let m = self.mac("mac", &norm);
        let first = (m[0] | 0x02) & 0xfe;
        std::iter::once(first)
            .chain(m[1..6].iter().copied())
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// A digest of the same length (`hex_len` hex digits).
    pub fn digest(&self, value: &str, hex_len: usize) -> String {
        let lower = value.to_ascii_lowercase();
        let mut out = String::new();
        let mut i = 0u8;
        while out.len() < hex_len {
            out.push_str(&self.tag(&format!("digest{i}"), &lower, 64));
            i += 1;
        }
        out.truncate(hex_len);
        out
    }

    /// An AS number in the private-use range 4200000000-4294967294 (RFC 6996).
    pub fn asn(&self, value: &str) -> String {
        let m = self.mac("asn", value.trim_start_matches(['A', 'S', 'a', 's']));
        let n = u32::from_be_bytes(m[..4].try_into().expect("4 bytes")) % 94_967_295;
        format!("AS{}", 4_200_000_000u32 + n)
    }

    /// Any other value: `<kind>-<12 hex>`.
    pub fn other(&self, kind: &str, value: &str) -> String {
        format!("{kind}-{}", self.tag(kind, value, 12))
    }
}

/// IPv4 blocks that are not routed on the Internet (RFC 6890), whose pseudonyms stay in them:
/// a private address stays a private address of the same block.
const V4_BLOCKS: [(u32, u8); 8] = [
    (0x0a00_0000, 8),  // 10.0.0.0/8, private
    (0xac10_0000, 12), // 172.16.0.0/12, private
    (0xc0a8_0000, 16), // 192.168.0.0/16, private
    (0x6440_0000, 10), // 100.64.0.0/10, shared (carrier-grade NAT)
    (0xa9fe_0000, 16), // 169.254.0.0/16, link-local
    (0x7f00_0000, 8),  // 127.0.0.0/8, loopback
    (0xc612_0000, 15), // 198.18.0.0/15, benchmarking
    (0xf000_0000, 4),  // 240.0.0.0/4, reserved: where every other address goes
];

/// Where a Crypto-PAn pseudonym of `a` is written: the prefix-preserving output `pan`, with
/// the bits of a non-routed block put back in front. An address in a non-routed block keeps
/// the block; any other address (a routable one above all) goes into 240.0.0.0/4, reserved
/// and never routed, so no pseudonym can be a real host someone may block or chase. Within a
/// block the mapping stays prefix-preserving (two addresses sharing a prefix longer than the
/// block's share as long a prefix after); what is given up is the relation between addresses
/// of different blocks, and between routable addresses sharing fewer than 4 leading bits.
pub fn confine_v4(a: Ipv4Addr, pan: Ipv4Addr) -> Ipv4Addr {
    let (a, pan) = (u32::from(a), u32::from(pan));
    let within = |(net, len): (u32, u8)| {
        let mask = u32::MAX << (32 - len);
        (a & mask == net).then_some((net, mask))
    };
    let (net, mask) = V4_BLOCKS
        .iter()
        .copied()
        .find_map(within)
        .unwrap_or((0xf000_0000, 0xf000_0000));
    Ipv4Addr::from(net | (pan & !mask))
}

/// IPv6 blocks that are not routed (RFC 6890, RFC 4193), whose pseudonyms stay in them; every
/// other address goes into the documentation prefix 2001:db8::/32 (RFC 3849).
const V6_BLOCKS: [(u128, u8); 3] = [
    (0xfc00 << 112, 7),      // fc00::/7, unique local
    (0xfe80 << 112, 10),     // fe80::/10, link-local
    (0x2001_0db8 << 96, 32), // 2001:db8::/32, documentation: where every other address goes
];

/// [`confine_v4`] for IPv6; an IPv4-mapped address keeps its form with the IPv4 rule.
pub fn confine_v6(a: Ipv6Addr, pan: Ipv6Addr) -> Ipv6Addr {
    if let Some(v4) = a.to_ipv4_mapped() {
        let pan4 = Ipv4Addr::from((u128::from(pan) & 0xffff_ffff) as u32);
        return confine_v4(v4, pan4).to_ipv6_mapped();
    }
    let (a, pan) = (u128::from(a), u128::from(pan));
    let within = |(net, len): (u128, u8)| {
        let mask = u128::MAX << (128 - len);
        (a & mask == net).then_some((net, mask))
    };
    let (net, mask) = V6_BLOCKS
        .iter()
        .copied()
        .find_map(within)
        .unwrap_or((V6_BLOCKS[2].0, u128::MAX << 96));
    Ipv6Addr::from(net | (pan & !mask))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_hex_and_hide_themselves() {
        let k = Key::from_hex(&"ab".repeat(32)).unwrap();
        assert!(!format!("{k:?}").contains("abab"));
        assert!(Key::from_hex("abc").is_err());
        assert!(Key::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn pseudonyms_are_deterministic_and_domain_separated() {
        let master = Key::from_bytes([7; 32]);
        let a = Pseudonymizer::new(&master.derive("peer:cert-b"));
        let a2 = Pseudonymizer::new(&master.derive("peer:cert-b"));
        let b = Pseudonymizer::new(&master.derive("peer:cert-c"));
        for v in ["jana@victim.example", "JANA@victim.example"] {
            assert_eq!(a.email(v, false), a2.email(v, false));
            assert_ne!(a.email(v, false), b.email(v, false));
        }
        assert_eq!(
            a.email("jana@victim.example", false),
            a.email("JANA@Victim.example", false)
        );
        assert_eq!(
            a.email("jana@victim.example", true),
            format!(
                "u-{}@victim.example",
                &a.email("jana@victim.example", false)[2..12]
            )
        );
        assert_ne!(a.host("fs02.corp.example"), b.host("fs02.corp.example"));
        assert_ne!(
            a.ipv4("10.0.0.1".parse().unwrap()),
            b.ipv4("10.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn pseudonyms_stay_valid_values_of_their_type() {
        use crate::report::validate::check_indicator_value;
        use crate::report::IndicatorType as T;
        let p = Pseudonymizer::new(&Key::from_bytes([1; 32]));
        assert_eq!(
            check_indicator_value(T::Email, &p.email("a@b.example", false)),
            Ok(())
        );
        assert_eq!(
            check_indicator_value(T::Domain, &p.host("fs01.example")),
            Ok(())
        );
        assert_eq!(
            check_indicator_value(
                T::Url,
                &p.url("https://user:pw@portal.victim.example:8443/x?y=1")
            ),
            Ok(())
        );
        assert!(!p
            .url("https://user:pw@portal.victim.example/")
            .contains("user:pw"));
        assert_eq!(
            check_indicator_value(T::Mac, &p.mac_addr("00:1A:2B:3C:4D:5E")),
            Ok(())
        );
        assert_eq!(
            check_indicator_value(T::Sha512, &p.digest(&"a".repeat(128), 128)),
            Ok(())
        );
        assert_eq!(check_indicator_value(T::Asn, &p.asn("AS64496")), Ok(()));
        assert_eq!(
            check_indicator_value(
                T::Cidr,
                &p.cidr("198.51.100.0/24".parse().unwrap()).to_string()
            ),
            Ok(())
        );
    }

    #[test]
    fn address_pseudonyms_stay_out_of_routable_space_and_keep_prefixes() {
        let p = Pseudonymizer::new(&Key::from_bytes([3; 32]));
        let v4 = |s: &str| p.ipv4(s.parse().unwrap());
        // The example: a private victim address stays private, in its block.
        assert!(ipnet::Ipv4Net::new("10.0.0.0".parse().unwrap(), 8)
            .unwrap()
            .contains(&v4("10.20.1.11")));
        assert!(ipnet::Ipv4Net::new("192.168.0.0".parse().unwrap(), 16)
            .unwrap()
            .contains(&v4("192.168.7.9")));
        let reserved = ipnet::Ipv4Net::new("240.0.0.0".parse().unwrap(), 4).unwrap();
        for public in ["139.213.62.232", "8.8.8.8", "198.51.100.7", "1.1.1.1"] {
            assert!(reserved.contains(&v4(public)), "{public} -> {}", v4(public));
        }
        // Prefix-preserving within a block: a shared /24 stays a shared /24, different /16s
        // stay different.
        let (a, b, c) = (v4("10.20.1.11"), v4("10.20.1.99"), v4("10.21.1.11"));
        assert_eq!(a.octets()[..3], b.octets()[..3]);
        assert_ne!(a.octets()[..2], c.octets()[..2]);
        let (x, y) = (v4("203.0.113.5"), v4("203.0.113.77"));
        assert_eq!(x.octets()[..3], y.octets()[..3]);

        let v6 = |s: &str| p.ipv6(s.parse().unwrap());
        let doc = ipnet::Ipv6Net::new("2001:db8::".parse().unwrap(), 32).unwrap();
        assert!(doc.contains(&v6("2a00:1450:4001:82a::200e")));
        let ula = ipnet::Ipv6Net::new("fc00::".parse().unwrap(), 7).unwrap();
        assert!(ula.contains(&v6("fd12:3456:789a::1")));
        let mapped = v6("::ffff:10.20.1.11");
        assert!(mapped.to_ipv4_mapped().is_some_and(|m| m.octets()[0] == 10));
    }
}
