//! The overview's charts, drawn as SVG on the server (no script): disclosures per day by peer
//! and by marking, in FIRST's TLP colours, and refusals and withholdings by kind.

use std::collections::BTreeMap;

use crate::disclosure::{Entry, Event};

/// Per day, counts per series (a peer, a TLP label).
pub type Daily = BTreeMap<String, BTreeMap<String, usize>>;

/// What the overview draws, gathered in one pass over the ledger.
#[derive(Default)]
pub struct Counts {
    /// Entries seen.
    pub entries: u64,
    /// Disclosures per day per peer.
    pub by_peer: Daily,
    /// Disclosures per day per marking.
    pub by_tlp: Daily,
    /// Refusals and withholdings by kind.
    pub refusals: BTreeMap<String, usize>,
}

impl Counts {
    /// Counts one entry.
    pub fn add(&mut self, e: &Entry) {
        self.entries += 1;
        let b = &e.body;
        match b.event {
            Event::Queued | Event::Published => {
                let day = b.at.get(..10).unwrap_or("?").to_string();
                let tlp = b
                    .marking
                    .map_or("TLP:?".to_string(), |m| format!("TLP:{m}"));
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
    let (w, h, bar) = (60 + days.len() * 80, 220usize, 30usize);
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"{}\" height=\"{}\" font-size=\"11\">", w + 200, h + 40);
    for (i, (day, counts)) in days.iter().enumerate() {
        let x = 50 + i * 80;
        let mut y = h;
        for (si, name) in series.iter().enumerate() {
            let n = counts.get(*name).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let bh = n * (h - 20) / max;
            y -= bh;
            svg.push_str(&format!(
                "<rect x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{bh}\" fill=\"{}\" stroke=\"#333\"><title>{} {}: {n}</title></rect>",
                series_colour(name, si), esc(day), esc(name)
            ));
        }
        svg.push_str(&format!(
            "<text x=\"{x}\" y=\"{}\">{}</text>",
            h + 14,
            esc(day)
        ));
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
