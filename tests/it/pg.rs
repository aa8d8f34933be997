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
        Self::start_with(false)
    }

    /// A server that offers TLS, with a self-signed certificate for 127.0.0.1 and
    /// localhost (`ca_file` is it).
    pub fn start_tls() -> PgServer {
        Self::start_with(true)
    }

    /// The certificate a TLS server presents (its own CA).
    pub fn ca_file(&self) -> PathBuf {
        self._dir.path().join("ca.crt")
    }

    fn start_with(tls: bool) -> PgServer {
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
        let mut opts = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200 -c shared_buffers=64MB",
            me._dir.path().display()
        );
        if tls {
            let cert =
                rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                    .unwrap();
            let (crt, key) = (me.data.join("server.crt"), me.data.join("server.key"));
            std::fs::write(&crt, cert.cert.pem()).unwrap();
            std::fs::write(me.ca_file(), cert.cert.pem()).unwrap();
            irtx::keys::write_secret_file(&key, &cert.signing_key.serialize_pem()).unwrap();
            if let Some(u) = &me.as_user {
                for f in [&crt, &key] {
                    assert!(Command::new("chown")
                        .arg(u)
                        .arg(f)
                        .status()
                        .unwrap()
                        .success());
                }
            }
            opts.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                crt.display(),
                key.display()
            ));
        }
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
