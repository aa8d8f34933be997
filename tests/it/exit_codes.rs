//! The exit-code table (README "Exit codes"; DESIGN.md section 4): every subcommand of the
//! `irtx` binary, run as an operator runs it, against two real gateways made by `irtx init
//! --listen auto` and started by `irtx serve`, exits 0 on success, 2 on a usage error, 3 on
//! invalid input (including an id that names nothing), 4 when policy withholds everything
//! asked, and 1 on a runtime failure. Commands find the running gateway without being told
//! where (`serve` says it in the data dir), and every row is checked, then every mismatch
//! reported at once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use crate::gateway::{example, listening_url};

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn irtx(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(dir)
        .env_remove("IRTX_GATEWAY")
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}

/// `irtx init --listen auto` in `dir`, then `irtx serve` there, with no address given.
fn gateway(root: &Path, team: &str) -> (PathBuf, Value, Served, String) {
    let dir = root.join(team);
    let out = irtx(
        root,
        &[
            "init",
            "--team-id",
            team,
            "--dir",
            team,
            "--listen",
            "auto",
            "--domain",
            &format!("{team}.example"),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let init: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = listening_url(&mut child);
    assert_eq!(
        url,
        format!("http://{}", init["listen"].as_str().unwrap()),
        "serve listens where init said"
    );
    (dir, init, Served(child), url)
}

#[test]
fn every_subcommand_exits_as_the_table_says() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (a, init_a, _served_a, _url_a) = gateway(root, "cert-a");
    let (b, init_b, _served_b, url_b) = gateway(root, "cert-b");
    assert_ne!(
        init_a["listen"], init_b["listen"],
        "auto picks a free port each"
    );
    assert_eq!(init_a["federation_key"], "generated");
    assert!(
        init_a["notes"]
            .to_string()
            .contains("agree with no other gateway"),
        "init explains the federation key: {init_a}"
    );

    // Files the rows use.
    let w = |name: &str, v: &Value| {
        let p = a.join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p.display().to_string()
    };
    let b_jwk = format!("@{}", w("cert-b.jwk", &init_b["public_jwk"]));
    std::fs::write(b.join("cert-a.jwk"), init_a["public_jwk"].to_string()).unwrap();
    let out = irtx(
        &b,
        &[
            "peer",
            "add",
            "--id",
            "cert-a",
            "--url",
            "http://127.0.0.1:9",
            "--key",
            "@cert-a.jwk",
            "--max-tlp",
            "AMBER",
            "--audience",
            "community",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let mut green = example("event-malware-mail");
    green["id"] = json!("EV-EXIT-1");
    let green_file = w("green.json", &green);
    let mut v2 = green.clone();
    v2["version"] = json!(2);
    v2["updated_at"] = json!("2026-11-30T10:00:00Z");
    let v2_file = w("green-v2.json", &v2);
    let mut red = example("event-malware-mail");
    red["id"] = json!("EV-EXIT-RED");
    red["tlp"] = json!("RED");
    red.as_object_mut().unwrap().remove("field_tlp");
    let red_file = w("red.json", &red);
    let mut bad = green.clone();
    bad["tlp"] = json!("PURPLE");
    let bad_file = w("bad.json", &bad);
    std::fs::write(a.join("not-json.json"), "{ nope").unwrap();
    std::fs::write(a.join("bad.jwk"), "{\"kty\": \"RSA\"}").unwrap();
    irtx::keys::write_secret_file(&a.join("short.key"), "abcd").unwrap();
    let stix = irtx(&a, &["convert", "--to", "stix", &green_file]);
    assert!(stix.status.success(), "{stix:?}");
    std::fs::write(a.join("bundle.json"), &stix.stdout).unwrap();
    let b_url = url_b.as_str();
    // Two alerts to share onward: a CLEAR one and a RED one.
    let clear = irtx(
        &a,
        &[
            "convert",
            "--to",
            "stix",
            &w("clear.json", &example("incident-phishing-clear")),
        ],
    );
    std::fs::write(a.join("clear.stix.json"), &clear.stdout).unwrap();
    let red_stix = irtx(&a, &["convert", "--to", "stix", &red_file]);
    std::fs::write(a.join("red.stix.json"), &red_stix.stdout).unwrap();
    let imported = irtx(&a, &["import", "clear.stix.json", "red.stix.json"]);
    assert!(imported.status.success(), "{imported:?}");
    let listed = String::from_utf8_lossy(&irtx(&a, &["alert", "list"]).stdout).to_string();
    let alert_id = |tlp: &str| {
        listed
            .lines()
            .find(|l| l.contains(&format!("TLP:{tlp} ")))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {tlp} alert in {listed}"))
            .to_string()
    };
    let (clear_alert, red_alert) = (alert_id("CLEAR"), alert_id("RED"));

    // (what, arguments, expected exit code), in order: later rows use what earlier ones made.
    #[rustfmt::skip]
    let rows: Vec<(&str, Vec<&str>, u8)> = vec![
        ("init: usage", vec!["init"], 2),
        ("init: not a team id", vec!["init", "--team-id", "CERT A", "--dir", "x"], 2),
        ("init: bad --listen", vec!["init", "--team-id", "cert-x", "--dir", "x", "--listen", "here"], 2),
        ("init: bad federation key", vec!["init", "--team-id", "cert-x", "--dir", "x", "--federation-key", "short.key"], 3),
        ("init: config exists", vec!["init", "--team-id", "cert-a"], 1),
        ("init: success", vec!["init", "--team-id", "cert-y", "--dir", "y", "--listen", "auto"], 0),
        ("serve: usage", vec!["serve", "--listen", "here"], 2),
        ("serve: data dir in use", vec!["serve"], 1),
        ("validate: success", vec!["validate", &green_file], 0),
        ("validate: usage", vec!["validate", "--bogus"], 2),
        ("validate: invalid", vec!["validate", &bad_file], 3),
        ("convert: success", vec!["convert", "--to", "iodef", &green_file], 0),
        ("convert: usage", vec!["convert", &green_file], 2),
        ("convert: invalid", vec!["convert", "--to", "stix", &bad_file], 3),
        ("convert: withheld", vec!["convert", "--to", "stix", "--max-tlp", "GREEN", "--audience", "community", "--profile", "none", &red_file], 4),
        ("pseudonym: success", vec!["pseudonym", "--key-file", "anonymize.key", "203.0.113.7"], 0),
        ("pseudonym: usage", vec!["pseudonym", "--key-file", "anonymize.key"], 2),
        ("pseudonym: invalid key", vec!["pseudonym", "--key-file", "short.key", "203.0.113.7"], 3),
        ("identity: success", vec!["identity"], 0),
        ("identity: usage", vec!["identity", "extra"], 2),
        ("vocab: success", vec!["vocab"], 0),
        ("vocab: usage", vec!["vocab", "--bogus"], 2),
        ("peer add: success", vec!["peer", "add", "--id", "cert-b", "--url", b_url, "--key", &b_jwk, "--max-tlp", "AMBER", "--audience", "community", "--profile", "pseudonymize"], 0),
        ("peer add: usage", vec!["peer", "add", "--url", b_url], 2),
        ("peer add: invalid key", vec!["peer", "add", "--id", "cert-c", "--url", b_url, "--key", "@bad.jwk", "--max-tlp", "AMBER", "--audience", "community"], 3),
        ("peer list: success", vec!["peer", "list"], 0),
        ("peer list: usage", vec!["peer", "list", "--bogus"], 2),
        ("peer show: success", vec!["peer", "show", "cert-b"], 0),
        ("peer show: unknown", vec!["peer", "show", "cert-zz"], 3),
        ("peer token: success", vec!["peer", "token", "cert-b"], 0),
        ("peer token: unknown", vec!["peer", "token", "cert-zz"], 3),
        ("peer remove: unknown", vec!["peer", "remove", "cert-zz"], 3),
        ("report submit: success", vec!["report", "submit", &green_file, "--share", "cert-b"], 0),
        ("report submit: usage", vec!["report", "submit"], 2),
        ("report submit: invalid", vec!["report", "submit", &bad_file], 3),
        ("report submit: unknown peer", vec!["report", "submit", &green_file, "--share", "cert-zz"], 3),
        ("report submit: withheld", vec!["report", "submit", &red_file, "--share", "cert-b"], 4),
        ("report submit: --wait without --share", vec!["report", "submit", &green_file, "--wait", "1"], 2),
        ("report share: success", vec!["report", "share", "EV-EXIT-1", "--peer", "cert-b", "--resend"], 0),
        ("report share: withheld", vec!["report", "share", "EV-EXIT-RED", "--peer", "cert-b"], 4),
        ("report share: unknown report", vec!["report", "share", "EV-NONE", "--peer", "cert-b"], 3),
        ("report share: usage", vec!["report", "share"], 2),
        ("report update: success", vec!["report", "update", &v2_file], 0),
        ("report update: not higher", vec!["report", "update", &v2_file], 3),
        ("report holders: success", vec!["report", "holders", "EV-EXIT-1"], 0),
        ("report holders: unknown", vec!["report", "holders", "EV-NONE"], 3),
        ("report retract: usage", vec!["report", "retract", "EV-EXIT-1"], 2),
        ("report retract: unknown", vec!["report", "retract", "EV-NONE", "--reason", "x"], 3),
        ("report retract: success", vec!["report", "retract", "EV-EXIT-1", "--reason", "sent in error"], 0),
        ("import: success", vec!["import", "bundle.json"], 0),
        ("import: invalid", vec!["import", "not-json.json"], 3),
        ("import: usage", vec!["import"], 2),
        ("alert list: success", vec!["alert", "list"], 0),
        ("alert list: usage", vec!["alert", "list", "--bogus"], 2),
        ("alert share: success", vec!["alert", "share", &clear_alert, "--peer", "cert-b"], 0),
        ("alert share: withheld", vec!["alert", "share", &red_alert, "--peer", "cert-b"], 4),
        ("alert share: unknown", vec!["alert", "share", "nope", "--peer", "cert-b"], 3),
        ("alert share: usage", vec!["alert", "share"], 2),
        ("ledger list: success", vec!["ledger", "list", "--since", "2026-01-01"], 0),
        ("ledger list: usage", vec!["ledger", "list", "--state", "bogus"], 2),
        ("ledger list: bad date", vec!["ledger", "list", "--since", "yesterday"], 2),
        ("ledger export: success", vec!["ledger", "export", "--out", "ledger.jsonl"], 0),
        ("ledger verify: success", vec!["ledger", "verify"], 0),
        ("ledger verify: export, right key", vec!["ledger", "verify", "--export", "ledger.jsonl", "--key", "@own.jwk"], 0),
        ("ledger verify: export, wrong key", vec!["ledger", "verify", "--export", "ledger.jsonl", "--key", &b_jwk], 3),
        ("ledger verify: usage", vec!["ledger", "verify", "--bogus"], 2),
        ("backup: success", vec!["backup", "--out", "snap.irtx"], 0),
        ("backup: usage", vec!["backup"], 2),
        ("restore: success", vec!["restore", "snap.irtx", "--dir", "restored"], 0),
        ("restore: invalid", vec!["restore", "not-json.json", "--dir", "restored2"], 3),
        ("restore: usage", vec!["restore"], 2),
        ("key rotate: usage", vec!["key", "rotate", "--overlap", "soon"], 2),
        ("key rotate: success", vec!["key", "rotate"], 0),
    ];
    std::fs::write(a.join("own.jwk"), init_a["public_jwk"].to_string()).unwrap();
    let mut wrong = Vec::new();
    for (what, args, want) in &rows {
        let out = irtx(&a, args);
        let got = out.status.code().unwrap_or(-1);
        if got != i32::from(*want) {
            wrong.push(format!(
                "{what}: `irtx {}` exited {got}, not {want}\n  stdout: {}\n  stderr: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
                    .chars()
                    .take(300)
                    .collect::<String>(),
                String::from_utf8_lossy(&out.stderr)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ));
        }
    }
    // What the rows made shows in the listings.
    let alerts = irtx(&a, &["alert", "list"]);
    assert!(
        String::from_utf8_lossy(&alerts.stdout).contains("import bundle.json"),
        "{alerts:?}"
    );
    // The ledger table: fixed columns with the zone, the message id, ids last; and no
    // noise when the reader goes away (`| head`).
    let table = irtx(&a, &["ledger", "list", "--peer", "cert-b"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.lines().next().unwrap().contains("AT (UTC)"), "{text}");
    let queued = text
        .lines()
        .find(|l| l.contains(" queued "))
        .unwrap_or_default();
    let message = queued.split_whitespace().nth(4).unwrap_or_default();
    assert!(
        queued.contains("Z ")
            && message.parse::<uuid::Uuid>().is_ok()
            && queued.ends_with("cert-b / EV-EXIT-1"),
        "{text}"
    );
    for format in ["table", "json", "csv"] {
        let piped = Command::new("bash")
            .current_dir(&a)
            .args([
                "-c",
                &format!("set -o pipefail; \"$0\" ledger list --format {format} | true"),
            ])
            .arg(env!("CARGO_BIN_EXE_irtx"))
            .output()
            .unwrap();
        assert!(
            piped.status.success() && piped.stderr.is_empty(),
            "{format}: {piped:?}"
        );
    }
    assert!(
        wrong.is_empty(),
        "{} of {} rows:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
}
