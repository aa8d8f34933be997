//! The overview's charts, drawn as SVG on the server (no script): disclosures per day by peer
//! and by marking, in FIRST's TLP colours, and refusals and withholdings by kind, over a
//! time range. A disclosure is counted when the peer has it: delivered with its receipt, or
//! pulled from its TAXII collection (queued messages are not yet disclosures).

use std::collections::BTreeMap;

use crate::disclosure::{Entry, Event};

/// Per day, counts per series (a peer, a TLP label).
pub type Daily = BTreeMap<String, BTreeMap<String, usize>>;

/// What the overview draws over a range of days.
#[derive(Default)]
pub struct Counts {
    /// Every ledger entry (in or out of the range).
    pub entries: u64,
    /// Disclosures per day per peer.
    pub by_peer: Daily,
    /// Disclosures per day per marking.
    pub by_tlp: Daily,
    /// Refusals and withholdings by kind.
    pub refusals: BTreeMap<String, usize>,
}

/// The overview's counts over the whole ledger, per day, kept up to date by reading only
/// the entries appended since the last view (a view of a 1,000,000-entry ledger read it all
/// each time). Kept in the store ([`Tally::keep`]) so that a start reads the ledger's tail,
/// not the whole ledger (at 1,000,000 entries, seconds and about 125 MiB of memory that
/// stayed with the process).
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    /// The last entry counted.
    after: Option<u64>,
    /// That entry's hash: a kept tally is read only where the ledger still holds it (not
    /// after the ledger was replaced, say by a restore into the same database).
    #[serde(default)]
    after_hash: Option<String>,
    /// The last entry counted when the tally was last kept in the store.
    #[serde(skip)]
    kept_after: Option<u64>,
    /// Entries counted.
    entries: u64,
    /// The marking each message was sent under, until the peer has it.
    sent_as: std::collections::HashMap<crate::envelope::MessageId, String>,
    /// Disclosures per day per peer.
    by_peer: Daily,
    /// Disclosures per day per marking.
    by_tlp: Daily,
    /// Refusals and withholdings per day by kind.
    refusals: Daily,
}

/// The name the tally is kept under in the store.
const KEPT_AS: &str = "overview-tally";

impl Tally {
    /// The tally the store kept, or an empty one (nothing kept, kept in a form this release
    /// does not read, or not of this ledger: the ledger is read again from its start).
    pub fn kept(store: &dyn crate::store::Store) -> Tally {
        let read = match store.kept_derived(KEPT_AS) {
            Ok(None) => return Tally::default(),
            Ok(Some(bytes)) => serde_json::from_slice::<Tally>(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|t| t.of_ledger(store).map(|()| t)),
            Err(e) => Err(e.to_string()),
        };
        match read {
            Ok(t) => Tally {
                kept_after: t.after,
                ..t
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the overview's kept tally; counting the ledger again");
                Tally::default()
            }
        }
    }

    /// Keeps the tally in the store for the next start, unless it has counted nothing since
    /// it was last kept.
    pub fn keep(&mut self, store: &dyn crate::store::Store) -> crate::store::Result<()> {
        if self.kept_after == self.after {
            return Ok(());
        }
        store.keep_derived(
            KEPT_AS,
            &serde_json::to_vec(self).expect("a tally serializes"),
        )?;
        self.kept_after = self.after;
        Ok(())
    }

    /// Whether the store's ledger holds the last entry this tally counted, as counted.
    fn of_ledger(&self, store: &dyn crate::store::Store) -> Result<(), String> {
        let Some(seq) = self.after else {
            return Ok(());
        };
        let held = store
            .ledger_entries_after(seq.checked_sub(1))
            .next()
            .transpose()
            .map_err(|e| e.to_string())?
            .filter(|e| e.seq == seq);
        match held {
            Some(e) if Some(&e.hash) == self.after_hash.as_ref() => Ok(()),
            _ => Err(format!(
                "it was counted up to ledger entry {seq}, which the ledger does not hold as counted"
            )),
        }
    }

    /// Counts the entries appended since the last call.
    pub fn catch_up(&mut self, store: &dyn crate::store::Store) -> crate::store::Result<()> {
        for e in store.ledger_entries_after(self.after) {
            let e = e?;
            self.after = Some(e.seq);
            self.add(&e);
            self.after_hash = Some(e.hash);
        }
        Ok(())
    }

    /// The counts from the day `since` (`YYYY-MM-DD`) on; `None`: all.
    pub fn since(&self, since: Option<&str>) -> Counts {
        let from = |d: &Daily| -> Daily {
            match since {
                Some(s) => d
                    .range(s.to_string()..)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                None => d.clone(),
            }
        };
        let mut refusals = BTreeMap::new();
        for per_kind in from(&self.refusals).values() {
            for (kind, n) in per_kind {
                *refusals.entry(kind.clone()).or_default() += n;
            }
        }
        Counts {
            entries: self.entries,
            by_peer: from(&self.by_peer),
            by_tlp: from(&self.by_tlp),
            refusals,
        }
    }

    /// Counts one entry.
    pub fn add(&mut self, e: &Entry) {
        self.entries += 1;
        let b = &e.body;
        if let (Event::Queued | Event::Published, Some(m), Some(id)) =
            (b.event, b.marking, b.message_id)
        {
            self.sent_as.insert(id, format!("TLP:{m}"));
        }
        let day = b.at.get(..10).unwrap_or("?").to_string();
        match b.event {
            Event::Delivered | Event::Pulled => {
                let tlp = b
                    .message_id
                    .and_then(|id| self.sent_as.remove(&id))
                    .or(b.marking.map(|m| format!("TLP:{m}")))
                    .unwrap_or_else(|| "TLP:?".to_string());
                *self
                    .by_peer
                    .entry(day.clone())
                    .or_default()
                    .entry(b.peer.to_string())
                    .or_default() += 1;
                *self.by_tlp.entry(day).or_default().entry(tlp).or_default() += 1;
            }
            Event::Withheld | Event::Refused | Event::DeadLettered | Event::Error => {
                // Grouped by the kind of reason; entries of earlier releases have none.
                let kind = b.cause.map_or("unclassified", |c| c.describe());
                *self
                    .refusals
                    .entry(day)
                    .or_default()
                    .entry(format!("{}: {kind}", b.event))
                    .or_default() += 1;
            }
            _ => {}
        }
    }
}

/// Colours for chart series: TLP labels in FIRST's colours, others from a fixed palette.
fn series_colour(name: &str, i: usize) -> &'static str {
    match name {
        "TLP:RED" => "#FF2B2B",
        "TLP:AMBER" => "#FFC000",
        "TLP:AMBER+STRICT" => "#CC9A00",
        "TLP:GREEN" => "#33CC00",
        "TLP:CLEAR" => "#9E9E9E",
        _ => [
            "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
        ][i % 8],
    }
}

/// A stacked bar chart (SVG) of disclosures per day, one colour per series.
pub fn daily_chart(days: &Daily) -> String {
    if days.is_empty() {
        return "<p class=\"note\">No disclosures yet.</p>".into();
    }
    let series: Vec<&String> = days
        .values()
        .flat_map(|m| m.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let max = days
        .values()
        .map(|m| m.values().sum::<usize>())
        .max()
        .unwrap_or(1)
        .max(1);
    // At most ~900 px of bars, however many days: the page never scrolls sideways.
    let step = (900 / days.len().max(1)).clamp(2, 80);
    let bar = (step * 3 / 8).max(1);
    let label_every = (60 / step).max(1);
    let (w, h) = (60 + days.len() * step, 220usize);
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"{}\" height=\"{}\" font-size=\"11\">", w + 200, h + 40);
    for (i, (day, counts)) in days.iter().enumerate() {
        let x = 50 + i * step;
        let mut y = h;
        for (si, name) in series.iter().enumerate() {
            let n = counts.get(*name).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            // One disclosure still shows.
            let bh = (n * (h - 20) / max).max(2);
            y -= bh;
            svg.push_str(&format!(
                "<rect x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{bh}\" fill=\"{}\" stroke=\"#333\"><title>{} {}: {n}</title></rect>",
                series_colour(name, si), esc(day), esc(name)
            ));
        }
        if i % label_every == 0 {
            svg.push_str(&format!(
                "<text x=\"{x}\" y=\"{}\">{}</text>",
                h + 14,
                esc(day)
            ));
        }
    }
    svg.push_str(&format!(
        "<text x=\"5\" y=\"20\">{max}</text><text x=\"5\" y=\"{h}\">0</text>"
    ));
    for (si, name) in series.iter().enumerate() {
        let y = 20 + si * 16;
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\" stroke=\"#333\"/><text x=\"{}\" y=\"{}\">{}</text>",
            w + 10, y, series_colour(name, si), w + 28, y + 10, esc(name)
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// A horizontal bar chart (SVG) of refusals and withholdings by reason.
pub fn refusals_chart(by: &BTreeMap<String, usize>) -> String {
    if by.is_empty() {
        return "<p class=\"note\">No refusals.</p>".into();
    }
    let max = by.values().copied().max().unwrap_or(1).max(1);
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"900\" height=\"{}\" font-size=\"11\">", by.len() * 22 + 10);
    for (i, (reason, n)) in by.iter().enumerate() {
        let y = 5 + i * 22;
        let wdt = n * 300 / max;
        svg.push_str(&format!(
            "<rect x=\"0\" y=\"{y}\" width=\"{wdt}\" height=\"16\" fill=\"#b00020\"><title>{n}</title></rect><text x=\"{}\" y=\"{}\">{n} — {}</text>",
            wdt + 6, y + 12, esc(reason)
        ));
    }
    svg.push_str("</svg>");
    svg
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disclosure::EntryBody;

    fn entry(seq: u64, at: &str, event: Event, peer: &str, msg: u128) -> Entry {
        let mut body = EntryBody::new(
            at.into(),
            event,
            "R-1".parse().unwrap(),
            peer.parse().unwrap(),
        );
        body.message_id = Some(crate::envelope::MessageId(uuid::Uuid::from_u128(msg)));
        if event == Event::Queued {
            body.marking = Some(crate::tlp::Tlp::Amber);
        }
        Entry {
            seq,
            prev: String::new(),
            body,
            // Not a chain's: distinct for distinct entries, which is all a tally looks at.
            hash: format!("{seq}-{event:?}-{peer}-{msg}"),
        }
    }

    #[test]
    fn a_disclosure_is_counted_when_the_peer_has_it_under_the_marking_it_was_sent() {
        let mut c = Tally::default();
        c.add(&entry(
            0,
            "2026-11-30T10:00:00Z",
            Event::Queued,
            "cert-b",
            1,
        ));
        c.add(&entry(
            1,
            "2026-11-30T10:00:01Z",
            Event::Delivered,
            "cert-b",
            1,
        ));
        c.add(&entry(
            2,
            "2026-12-02T10:00:00Z",
            Event::Queued,
            "cert-b",
            2,
        ));
        c.add(&entry(
            3,
            "2026-12-02T10:00:01Z",
            Event::Queued,
            "cert-c",
            3,
        ));
        c.add(&entry(
            4,
            "2026-12-02T10:00:02Z",
            Event::Delivered,
            "cert-b",
            2,
        ));
        let all = c.since(None);
        assert_eq!(all.by_peer["2026-11-30"].get("cert-b"), Some(&1));
        let c = c.since(Some("2026-12-01"));
        assert_eq!(c.entries, 5);
        // Before the range: not counted; queued only (cert-c): not yet disclosed.
        assert_eq!(c.by_peer.len(), 1);
        assert_eq!(c.by_peer["2026-12-02"].get("cert-b"), Some(&1));
        assert_eq!(c.by_peer["2026-12-02"].get("cert-c"), None);
        assert_eq!(c.by_tlp["2026-12-02"].get("TLP:AMBER"), Some(&1));
    }

    #[test]
    fn the_tally_reads_only_what_was_appended_and_refusals_keep_their_days() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sled_store::SledStore::open(dir.path()).unwrap();
        use crate::store::Store as _;
        let withheld = |seq, at| {
            let mut e = entry(seq, at, Event::Withheld, "cert-b", 10 + u128::from(seq));
            e.body.cause = None;
            e
        };
        store
            .ledger_put(&withheld(0, "2026-11-01T00:00:00Z"))
            .unwrap();
        store
            .ledger_put(&withheld(1, "2026-12-02T00:00:00Z"))
            .unwrap();
        let mut t = Tally::default();
        t.catch_up(&store).unwrap();
        store
            .ledger_put(&withheld(2, "2026-12-02T01:00:00Z"))
            .unwrap();
        t.catch_up(&store).unwrap();
        assert_eq!(t.entries, 3, "each entry counted once");
        let recent = t.since(Some("2026-12-01"));
        assert_eq!(recent.refusals.values().sum::<usize>(), 2);
        assert_eq!(t.since(None).refusals.values().sum::<usize>(), 3);
    }

    #[test]
    fn a_kept_tally_goes_on_from_where_it_was_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sled_store::SledStore::open(dir.path()).unwrap();
        use crate::store::Store as _;
        let at = "2026-12-02T10:00:00Z";
        let mut withheld = entry(1, at, Event::Withheld, "cert-c", 9);
        withheld.body.cause = None;
        let first = [entry(0, at, Event::Queued, "cert-b", 1), withheld];
        let then = [
            entry(2, at, Event::Delivered, "cert-b", 1),
            entry(3, at, Event::Queued, "cert-c", 2),
        ];
        first.iter().for_each(|e| store.ledger_put(e).unwrap());
        // Nothing kept yet: an empty tally.
        assert_eq!(Tally::kept(&store).entries, 0);
        let mut t = Tally::default();
        t.catch_up(&store).unwrap();
        t.keep(&store).unwrap();
        then.iter().for_each(|e| store.ledger_put(e).unwrap());
        // As a start reads it: from the entry after the kept one, the message still known
        // as sent under AMBER when its delivery comes.
        let mut resumed = Tally::kept(&store);
        assert_eq!(resumed.entries, 2);
        resumed.catch_up(&store).unwrap();
        let mut whole = Tally::default();
        whole.catch_up(&store).unwrap();
        let (r, w) = (resumed.since(None), whole.since(None));
        assert_eq!((r.entries, w.entries), (4, 4), "each entry counted once");
        assert_eq!(r.by_peer, w.by_peer);
        assert_eq!(r.by_tlp, w.by_tlp);
        assert_eq!(r.by_tlp[&at[..10]].get("TLP:AMBER"), Some(&1));
        assert_eq!(r.refusals, w.refusals);
        // Kept again only once it has counted more.
        resumed.keep(&store).unwrap();
        assert_eq!(Tally::kept(&store).entries, 4);
        store.keep_derived(KEPT_AS, b"not a tally").unwrap();
        resumed.keep(&store).unwrap();
        assert_eq!(
            store.kept_derived(KEPT_AS).unwrap().as_deref(),
            Some(&b"not a tally"[..])
        );
        // A kept tally that does not read: the ledger is counted again.
        assert_eq!(Tally::kept(&store).entries, 0);
    }

    #[test]
    fn a_tally_kept_of_another_ledger_is_not_read() {
        use crate::store::Store as _;
        let at = "2026-12-02T10:00:00Z";
        let dir = tempfile::tempdir().unwrap();
        let open =
            |name: &str| crate::store::sled_store::SledStore::open(&dir.path().join(name)).unwrap();
        let (kept_by, other, shorter) = (open("a"), open("b"), open("c"));
        for n in 0..3 {
            kept_by
                .ledger_put(&entry(n, at, Event::Queued, "cert-b", n as u128))
                .unwrap();
            // The same positions, other entries.
            other
                .ledger_put(&entry(n, at, Event::Queued, "cert-c", n as u128))
                .unwrap();
        }
        shorter
            .ledger_put(&entry(0, at, Event::Queued, "cert-b", 0))
            .unwrap();
        let mut t = Tally::default();
        t.catch_up(&kept_by).unwrap();
        t.keep(&kept_by).unwrap();
        assert_eq!(Tally::kept(&kept_by).entries, 3, "read where it was kept");
        // The same tally beside a ledger it was not counted from (a database restored in
        // place, say): counted again, from the start.
        let bytes = kept_by.kept_derived(KEPT_AS).unwrap().unwrap();
        for s in [&other, &shorter] {
            s.keep_derived(KEPT_AS, &bytes).unwrap();
            assert_eq!(Tally::kept(s).entries, 0);
        }
    }

    #[test]
    fn one_disclosure_among_many_still_draws_a_bar_and_a_year_of_days_fits() {
        let mut days = Daily::new();
        days.entry("2026-12-01".into())
            .or_default()
            .insert("cert-b".into(), 1000);
        days.entry("2026-12-02".into())
            .or_default()
            .insert("cert-c".into(), 1);
        let svg = daily_chart(&days);
        assert!(svg.contains("cert-c: 1</title>"), "{svg}");
        assert!(!svg.contains("height=\"0\""), "{svg}");
        for d in 0..365 {
            days.entry(format!("day-{d:03}"))
                .or_default()
                .insert("x".into(), 1);
        }
        let svg = daily_chart(&days);
        let width: usize = svg
            .split("width=\"")
            .nth(1)
            .and_then(|w| w.split('"').next())
            .and_then(|w| w.parse().ok())
            .unwrap();
        assert!(width <= 1200, "{width}");
    }
}
