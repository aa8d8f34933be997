//! Times as irtx writes and reads them: RFC 3339, in UTC with `Z`. Pure: the current time is
//! always an argument.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// RFC 3339 in UTC with `Z`, to the millisecond, always three digits (so the text sorts as
/// the time does): how irtx stamps what it records (messages, receipts, ledger entries).
pub fn rfc3339(t: OffsetDateTime) -> String {
    Timestamp(t).to_stix()
}

/// Parses an RFC 3339 date-time; `None` when it is not one.
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// An RFC 3339 date-time with an offset, as the report carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub OffsetDateTime);

impl Timestamp {
    /// Parses RFC 3339 (`2026-11-02T08:15:00Z`, `2026-11-02T09:15:00+01:00`).
    pub fn parse(s: &str) -> Result<Self, time::error::Parse> {
        OffsetDateTime::parse(s, &Rfc3339).map(Timestamp)
    }

    /// RFC 3339 in UTC with `Z`, with as many fraction digits as needed (none for whole
    /// seconds): the form IODEF documents carry.
    pub fn to_rfc3339_utc(self) -> String {
        let t = self.0.to_offset(time::UtcOffset::UTC);
        let base = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        let nanos = t.nanosecond();
        if nanos == 0 {
            format!("{base}Z")
        } else {
            let frac = format!("{nanos:09}");
            format!("{base}.{}Z", frac.trim_end_matches('0'))
        }
    }

    /// STIX 2.1 timestamp: UTC, `Z`, exactly millisecond precision (STIX 2.1 section 3.2
    /// requires millisecond precision for `created` and `modified`; we use it everywhere).
    pub fn to_stix(self) -> String {
        self.utc_with_fraction(3)
    }

    /// UTC, `Z`, exactly microsecond precision: TAXII's `date_added`.
    pub fn to_micros(self) -> String {
        self.utc_with_fraction(6)
    }

    /// UTC with `digits` (3 or 6) fraction digits, always written.
    fn utc_with_fraction(self, digits: usize) -> String {
        let t = self.0.to_offset(time::UtcOffset::UTC);
        let frac = format!("{:09}", t.nanosecond());
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            &frac[..digits.min(9)]
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339_utc())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339_utc())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s)
            .map_err(|e| serde::de::Error::custom(format!("`{s}` is not an RFC 3339 time: {e}")))
    }
}

/// Parses a time bound given by a person: an RFC 3339 date-time, or a date (`2026-12-02`,
/// UTC). A date as a lower bound is the start of that day; as an upper bound (`end`), the
/// start of the next day, so `--until 2026-12-02` includes the whole of the 2nd.
pub fn parse_bound(s: &str, end: bool) -> Option<OffsetDateTime> {
    if let Some(t) = parse_rfc3339(s) {
        return Some(t);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(s.trim(), &format).ok()?;
    let day = date.with_hms(0, 0, 0).ok()?.assume_utc();
    Some(if end {
        day + time::Duration::days(1)
    } else {
        day
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_take_dates_and_times() {
        let t = |s: &str| parse_rfc3339(s).unwrap();
        assert_eq!(
            parse_bound("2026-12-02", false),
            Some(t("2026-12-02T00:00:00Z"))
        );
        assert_eq!(
            parse_bound("2026-12-02", true),
            Some(t("2026-12-03T00:00:00Z"))
        );
        assert_eq!(
            parse_bound("2026-12-02T10:00:00+01:00", true),
            Some(t("2026-12-02T09:00:00Z"))
        );
        assert_eq!(parse_bound("yesterday", false), None);
        assert_eq!(
            rfc3339(t("2026-12-02T09:00:00.123456Z")),
            "2026-12-02T09:00:00.123Z"
        );
    }
}
