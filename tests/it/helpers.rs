//! Shared test helpers: example files, the test team, and the optional ../shared reference.

use std::path::{Path, PathBuf};

use irtx::report::Report;
use irtx::team::Team;
use serde_json::Value;

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Cargo's build directory (where `CARGO_TARGET_DIR` or the default put it): the irtx
/// binary's grandparent.
pub fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_irtx"))
        .ancestors()
        .nth(2)
        .expect("the binary is in <target>/<profile>/")
        .to_path_buf()
}

/// Every file under `p` whose name ends in `.<ext>`, in every folder below, sorted; `p`
/// itself when it is such a file.
pub fn files_under(p: &Path, ext: &str) -> Vec<PathBuf> {
    if !p.is_dir() {
        return if p.extension().is_some_and(|e| e == ext) {
            vec![p.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())) {
        out.extend(files_under(&e.unwrap().path(), ext));
    }
    out.sort();
    out
}

/// Every file in `tests/data/<dir>`, sorted.
pub fn data_files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("tests/data").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no files in tests/data/{dir}");
    v
}

/// The valid example reports, parsed.
pub fn valid_reports() -> Vec<(PathBuf, Report)> {
    data_files("valid")
        .into_iter()
        .map(|p| {
            let r = irtx::report::parse(&std::fs::read(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e:?}", p.display()));
            (p, r)
        })
        .collect()
}

/// The team the tests write as.
pub fn team() -> Team {
    let mut t = Team::new("cert-test".parse().unwrap(), "CERT Test");
    t.domain = Some("cert-test.example".into());
    t
}

/// `../shared/reference`, or `None` with a loud note: a user's fresh clone has no `../shared`,
/// so tests that compare against it skip there, and say so.
pub fn shared_reference(test: &str) -> Option<PathBuf> {
    let p = root().join("../shared/reference");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "\n*** SKIPPED {test}: ../shared/reference is absent (fresh clone without the shared folder); \
             nothing was checked against the OASIS/IETF reference files ***\n"
        );
        None
    }
}

/// Reads a JSON file.
pub fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Runs the irtx binary in `dir` (no irtx.toml there) with a test team in the environment.
pub fn irtx(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("IRTX_TEAM__ID", "cert-test")
        .env("IRTX_TEAM__NAME", "CERT Test")
        .env("IRTX_TEAM__DOMAIN", "cert-test.example")
        .args(args)
        .output()
        .unwrap()
}

/// Proptest cases: `PROPTEST_CASES` when set (for long local runs), else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Asserts a command exited 0 (showing its standard error if not); returns its output.
#[track_caller]
pub fn succeeded(out: &std::process::Output) -> &std::process::Output {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The STIX document as a report of its own: a fresh id for its `report` container, so
/// each message that carries it is a distinct (report, version) for the receiver (which
/// holds a sender's version of a report once, DESIGN.md section 10).
pub fn as_new_report(doc: serde_json::Value) -> serde_json::Value {
    let old = doc["objects"]
        .as_array()
        .and_then(|o| o.iter().find(|x| x["type"] == "report"))
        .and_then(|r| r["id"].as_str())
        .map(str::to_string);
    match old {
        Some(old) => {
            let new = format!("report--{}", uuid::Uuid::new_v4());
            serde_json::from_str(&doc.to_string().replace(&old, &new)).unwrap()
        }
        None => doc,
    }
}

/// A loopback port free a moment ago (for a server the test starts that cannot bind port 0
/// itself and say which it got).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `cmd` to its end, like `Command::output`, but for at most `limit`: a program that
/// does not finish by then is killed and the test fails with what it printed so far. An
/// external program (a Python client, a server's tool) that waits forever would otherwise
/// hang the whole test run.
#[track_caller]
pub fn output_within(
    cmd: &mut std::process::Command,
    limit: std::time::Duration,
) -> std::process::Output {
    use std::io::Read;
    use std::process::Stdio;
    use wait_timeout::ChildExt;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let status = match child.wait_timeout(limit).unwrap() {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {limit:?}; killed. It printed:\n{}\n{}",
                String::from_utf8_lossy(&out.join().unwrap_or_default()),
                String::from_utf8_lossy(&err.join().unwrap_or_default())
            );
        }
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}
