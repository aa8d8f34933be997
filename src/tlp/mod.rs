//! TLP 2.0 labels (FIRST, August 2022): parsing, order, and their STIX 2.1 and IODEF forms.
//!
//! Pure: no I/O. The STIX marking-definition objects are the OASIS TLP 2.0 extension's own
//! files (`tlp/stix/`), compiled in.

pub mod policy;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A TLP 2.0 label. The derived order is "most open first": `Clear < Green < Amber <
/// AmberStrict < Red`, so `max` gives the more restrictive of two labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tlp {
    /// TLP:CLEAR — disclosure is not limited (TLP 1.0 WHITE).
    Clear,
    /// TLP:GREEN — the recipient's community, not public channels.
    Green,
    /// TLP:AMBER — the recipient's organization and its clients, need-to-know.
    Amber,
    /// TLP:AMBER+STRICT — the recipient's organization only.
    AmberStrict,
    /// TLP:RED — the individual recipients only; never leaves automatically.
    Red,
}

/// The id of the OASIS TLP 2.0 property extension that the TLP 2.0 marking definitions use.
pub const TLP2_EXTENSION_ID: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// The reason a string is not a TLP label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a TLP label; expected one of CLEAR, GREEN, AMBER, AMBER+STRICT, RED (TLP 1.0 WHITE reads as CLEAR)")]
pub struct TlpParseError(pub String);

impl Tlp {
    /// All labels, most open first.
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    /// The label as FIRST writes it, without the `TLP:` prefix (`AMBER+STRICT`).
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "CLEAR",
            Tlp::Green => "GREEN",
            Tlp::Amber => "AMBER",
            Tlp::AmberStrict => "AMBER+STRICT",
            Tlp::Red => "RED",
        }
    }

    /// The id of this label's TLP 2.0 STIX marking definition (OASIS cti-stix-common-objects).
    pub fn stix_marking_id(self) -> &'static str {
        match self {
            Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
            Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
            Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
            Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
            Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        }
    }

    /// The TLP 2.0 STIX marking-definition object, exactly as OASIS publishes it.
    pub fn stix_marking_definition(self) -> Value {
        let text = match self {
            Tlp::Clear => include_str!("../../tlp/stix/tlp2-clear.json"),
            Tlp::Green => include_str!("../../tlp/stix/tlp2-green.json"),
            Tlp::Amber => include_str!("../../tlp/stix/tlp2-amber.json"),
            Tlp::AmberStrict => include_str!("../../tlp/stix/tlp2-amber+strict.json"),
            Tlp::Red => include_str!("../../tlp/stix/tlp2-red.json"),
        };
        let bundle: Value = serde_json::from_str(text).expect("compiled-in TLP file is JSON");
        bundle["objects"][0].clone()
    }

    /// The published STIX marking-definition object of an exact TLP id: the TLP 2.0 objects
    /// of the OASIS extension, and the TLP 1.0 objects of STIX 2.1 section 7.2.1.4. `None` for
    /// any other id.
    pub fn published_marking(id: &str) -> Option<Value> {
        let t = Tlp::from_stix_marking_id(id)?;
        if t.stix_marking_id() == id {
            return Some(t.stix_marking_definition());
        }
        let text = match t {
            Tlp::Clear => include_str!("../../tlp/stix/tlp1-white.json"),
            Tlp::Green => include_str!("../../tlp/stix/tlp1-green.json"),
            Tlp::Amber => include_str!("../../tlp/stix/tlp1-amber.json"),
            Tlp::Red => include_str!("../../tlp/stix/tlp1-red.json"),
            Tlp::AmberStrict => return None,
        };
        let v: Value = serde_json::from_str(text).expect("compiled-in TLP file is JSON");
        (v["id"] == id).then_some(v)
    }

    /// The label a STIX marking-definition id stands for: the exact TLP 2.0 ids, and the TLP 1.0
    /// ids of STIX 2.1 section 7.2.1.4 (WHITE reads as CLEAR). Anything else is `None`: an
    /// importer must quarantine it, never guess from a name.
    pub fn from_stix_marking_id(id: &str) -> Option<Tlp> {
        if let Some(t) = Tlp::ALL.into_iter().find(|t| t.stix_marking_id() == id) {
            return Some(t);
        }
        match id {
            "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9" => Some(Tlp::Clear),
            "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da" => Some(Tlp::Green),
            "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82" => Some(Tlp::Amber),
            "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed" => Some(Tlp::Red),
            _ => None,
        }
    }

    /// The IODEF `restriction` value (RFC 7970 section 3.3.1; DESIGN.md section 5):
    /// CLEAR `white`, GREEN `green`, AMBER `amber`, AMBER+STRICT `need-to-know`, RED `red`.
    pub fn iodef_restriction(self) -> &'static str {
        match self {
            Tlp::Clear => "white",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "need-to-know",
            Tlp::Red => "red",
        }
    }

    /// The label an IODEF `restriction` value stands for. `public` and `partner` read as CLEAR
    /// and GREEN; `private` (the RFC 7970 default for an absent attribute) as RED. `default`
    /// depends on the agreement with the sender and `ext-value` on its extension, so neither
    /// maps here.
    pub fn from_iodef_restriction(value: &str) -> Option<Tlp> {
        match value {
            "white" | "public" => Some(Tlp::Clear),
            "green" | "partner" => Some(Tlp::Green),
            "amber" => Some(Tlp::Amber),
            "need-to-know" => Some(Tlp::AmberStrict),
            "red" | "private" => Some(Tlp::Red),
            _ => None,
        }
    }
}

impl FromStr for Tlp {
    type Err = TlpParseError;

    /// Reads a label with or without the `TLP:` prefix, in any case, with surrounding blanks.
    /// TLP 1.0 `WHITE` reads as `CLEAR` (TLP 2.0 renamed it).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let upper = t.to_ascii_uppercase();
        let bare = upper.strip_prefix("TLP:").unwrap_or(&upper);
        match bare {
            "CLEAR" | "WHITE" => Ok(Tlp::Clear),
            "GREEN" => Ok(Tlp::Green),
            "AMBER" => Ok(Tlp::Amber),
            "AMBER+STRICT" => Ok(Tlp::AmberStrict),
            "RED" => Ok(Tlp::Red),
            _ => Err(TlpParseError(s.to_string())),
        }
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Tlp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Tlp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_most_open_first() {
        let mut v = Tlp::ALL.to_vec();
        v.reverse();
        v.sort();
        assert_eq!(v, Tlp::ALL.to_vec());
        assert_eq!(Tlp::Amber.max(Tlp::Green), Tlp::Amber);
        assert!(Tlp::AmberStrict > Tlp::Amber);
    }

    #[test]
    fn parses_tolerantly_and_refuses_the_rest() {
        for (s, t) in [
            ("CLEAR", Tlp::Clear),
            ("tlp:white", Tlp::Clear),
            ("WHITE", Tlp::Clear),
            (" TLP:Green ", Tlp::Green),
            ("amber", Tlp::Amber),
            ("TLP:AMBER+STRICT", Tlp::AmberStrict),
            ("red", Tlp::Red),
        ] {
            assert_eq!(s.parse::<Tlp>(), Ok(t), "{s}");
        }
        for bad in ["", "AMBER STRICT", "TLP:EX:CHR", "PURPLE", "TLP:", "amber+"] {
            let err = bad.parse::<Tlp>().unwrap_err();
            assert!(err.to_string().contains("AMBER+STRICT"), "{err}");
        }
    }

    #[test]
    fn display_round_trips() {
        for t in Tlp::ALL {
            assert_eq!(t.to_string().parse::<Tlp>(), Ok(t));
        }
    }

    #[test]
    fn marking_objects_carry_their_own_ids() {
        for t in Tlp::ALL {
            let m = t.stix_marking_definition();
            assert_eq!(m["id"], t.stix_marking_id());
            assert_eq!(m["name"], format!("TLP:{}", t.as_str()));
            assert_eq!(
                m["extensions"][TLP2_EXTENSION_ID]["tlp_2_0"],
                t.as_str().to_ascii_lowercase()
            );
            assert_eq!(Tlp::from_stix_marking_id(t.stix_marking_id()), Some(t));
        }
    }

    #[test]
    fn tlp1_ids_read_and_wrong_ids_do_not() {
        assert_eq!(
            Tlp::from_stix_marking_id("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"),
            Some(Tlp::Clear)
        );
        // Ids seen in the wild that are not TLP ids (research notes, section 2.2).
        for wrong in [
            "marking-definition--089a6ecb-cc15-43cc-9494-767639779123",
            "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37",
            "marking-definition--f88d31f6-1208-47c5-a9f5-8a1fa3fe6b95",
        ] {
            assert_eq!(Tlp::from_stix_marking_id(wrong), None);
        }
    }

    #[test]
    fn iodef_restrictions_round_trip() {
        for t in Tlp::ALL {
            assert_eq!(Tlp::from_iodef_restriction(t.iodef_restriction()), Some(t));
        }
        assert_eq!(Tlp::from_iodef_restriction("private"), Some(Tlp::Red));
        assert_eq!(Tlp::from_iodef_restriction("default"), None);
    }
}
