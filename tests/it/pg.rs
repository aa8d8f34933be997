//! A PostgreSQL server for one test: Debian's binaries (scripts/install-postgres.sh), a
//! temporary data directory, a free loopback port, trust authentication for the one local
//! user; stopped and removed when dropped. As root, the server runs as the `postgres` user
//! (PostgreSQL refuses to run as root).

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PgServer {
    pub url: String,
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    as_user: Option<String>,
    _dir: tempfile::TempDir,
}

fn bin_dir() -> PathBuf {
    if let Ok(b) = std::env::var("IRTX_PG_BIN") {
        return PathBuf::from(b);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: run scripts/install-postgres.sh")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .expect("no PostgreSQL binaries under /usr/lib/postgresql: run scripts/install-postgres.sh")
}

impl PgServer {
    pub fn start() -> PgServer {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        let as_user = (is_root()).then(|| "postgres".to_string());
        if let Some(u) = &as_user {
            let ok = Command::new("chown")
                .args(["-R", u])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success(), "chown the temporary data directory");
        }
        let data = dir.path().join("data");
        let mut me = PgServer {
            url: String::new(),
            port: 0,
            bin,
            data,
            as_user,
            _dir: dir,
        };
        me.run(
            "initdb",
            &[
                "-D",
                me.data.to_str().unwrap(),
                "-U",
                "irtx",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let port = crate::helpers::free_port();
        let opts = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200 -c shared_buffers=64MB",
            me._dir.path().display()
        );
        me.run(
            "pg_ctl",
            &[
                "-D",
                me.data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                me._dir.path().join("log").to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        me.url = format!("postgres://irtx@127.0.0.1:{port}/postgres");
        me.port = port;
        me
    }

    /// One of the server's tools, as the user the server runs as.
    fn tool(&self, tool: &str, args: &[&str]) -> std::io::Result<std::process::Output> {
        let exe = self.bin.join(tool);
        match &self.as_user {
            Some(u) => Command::new("runuser")
                .args(["-u", u, "--"])
                .arg(&exe)
                .args(args)
                .current_dir("/")
                .output(),
            None => Command::new(&exe).args(args).output(),
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .tool(tool, args)
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} failed: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.port != 0 {
            let data = self.data.to_str().unwrap().to_string();
            let _ = self.tool("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        }
    }
}
