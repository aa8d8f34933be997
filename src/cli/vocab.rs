//! `irtx vocab`: the reviewable vocabulary mapping (report <-> STIX 2.1 <-> IODEF v2).

use serde_json::json;

use super::Failure;
use crate::report::{Category, Severity, Status};

/// Arguments of `irtx vocab`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_name = "F", default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
}

/// Runs `irtx vocab`.
pub fn run(args: &Args) -> Result<(), Failure> {
    if args.format == "json" {
        let cats: Vec<_> = Category::all()
            .map(|c| {
                json!({"category": c.code(), "iso27035": c.iso().as_str(),
                       "stix_labels": [c.machine_tag(), c.iso_machine_tag()],
                       "iodef_incident_category": [c.machine_tag(), c.iso_machine_tag()]})
            })
            .collect();
        let sev: Vec<_> = Severity::ALL
            .iter()
            .map(|s| {
                let (v, ext) = s.iodef_severity();
                json!({"severity": s.as_str(), "stix_label": s.stix_label(),
                       "iodef_business_impact_severity": v, "iodef_ext_severity": ext})
            })
            .collect();
        let st: Vec<_> = Status::ALL
            .iter()
            .map(|s| {
                let (v, ext) = s.iodef_status();
                json!({"status": s.as_str(), "stix_label": s.stix_label(),
                       "iodef_status": v, "iodef_ext_status": ext})
            })
            .collect();
        let doc = json!({"categories": cats, "severities": sev, "statuses": st});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(());
    }
    println!("CATEGORY (report)\tISO/IEC 27035\tSTIX label / IODEF IncidentCategory");
    for c in Category::all() {
        println!("{}\t{}\t{}", c.code(), c.iso().as_str(), c.machine_tag());
    }
    println!("\nSEVERITY (report)\tSTIX label\tIODEF BusinessImpact@severity");
    for s in Severity::ALL {
        let (v, ext) = s.iodef_severity();
        let ext = ext
            .map(|e| format!(" (ext-severity {e})"))
            .unwrap_or_default();
        println!("{}\t{}\t{v}{ext}", s.as_str(), s.stix_label());
    }
    println!("\nSTATUS (report)\tSTIX label\tIODEF Incident@status");
    for s in Status::ALL {
        let (v, ext) = s.iodef_status();
        let ext = ext
            .map(|e| format!(" (ext-status {e})"))
            .unwrap_or_default();
        println!("{}\t{}\t{v}{ext}", s.as_str(), s.stix_label());
    }
    Ok(())
}
