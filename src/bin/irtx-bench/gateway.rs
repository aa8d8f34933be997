//! Real gateways for the bench: `irtx init`, `irtx peer add` and `irtx serve` run as
//! processes on loopback, each in a directory of its own; what the operating system says of
//! a serving process (CPU time, peak resident memory) and the size of its store.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

/// One gateway: its directory, what `irtx init` printed, and its `irtx serve` once started.
pub struct Gateway {
    /// The team id.
    pub team: String,
    /// Its directory (config, keys, data).
    pub dir: PathBuf,
    /// Its base URL.
    pub url: String,
    /// The analyst token.
    pub token: String,
    /// Its public JWK, for its peers.
    pub jwk: Value,
    irtx: PathBuf,
    child: Option<Child>,
    /// More `irtx serve` processes on the same directory and store (a shared PostgreSQL
    /// store), each on its own port.
    more: Vec<Child>,
    /// Settings every command it runs gets (`IRTX_STORE__*` for a PostgreSQL store).
    pub env: Vec<(String, String)>,
}

impl Gateway {
    /// `irtx init` in `dir/team`, on a free loopback port.
    pub fn init(irtx: &Path, dir: &Path, team: &str) -> Result<Gateway> {
        let dir = dir.join(team);
        std::fs::create_dir_all(&dir)?;
        let out = Command::new(irtx)
            .args(["init", "--listen", "auto", "--team-id", team, "--dir"])
            .arg(&dir)
            .output()
            .with_context(|| format!("cannot run `{}`", irtx.display()))?;
        if !out.status.success() {
            bail!(
                "irtx init {team}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let init: Value = serde_json::from_slice(&out.stdout).context("irtx init's answer")?;
        let field = |k: &str| {
            init[k]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("irtx init printed no `{k}`"))
        };
        Ok(Gateway {
            team: team.to_string(),
            url: format!("http://{}", field("listen")?),
            token: field("analyst_token")?,
            jwk: init["public_jwk"].clone(),
            dir,
            irtx: irtx.to_path_buf(),
            child: None,
            more: Vec::new(),
            env: Vec::new(),
        })
    }

    /// Its config file.
    pub fn config(&self) -> PathBuf {
        self.dir.join("irtx.toml")
    }

    /// Its data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Its store, opened directly as its config and `env` name it (a sled store only while
    /// the gateway is not serving).
    pub fn open_store(&self) -> Result<Box<dyn irtx::store::Store>> {
        let config = irtx::config::Config::load(&self.config(), self.env.clone())?;
        Ok(irtx::app::open_store(&config, 256 << 20)?)
    }

    /// `irtx peer add` (offline, straight into its store: the gateway is not serving).
    pub fn add_peer(&self, id: &str, url: &str, jwk: &Value, profile: &str) -> Result<()> {
        let out = Command::new(&self.irtx)
            .arg("--config")
            .arg(self.config())
            .args(["peer", "add", "--id", id, "--max-tlp", "AMBER"])
            .args(["--audience", "community", "--profile", profile])
            .args(["--url", url, "--key", &jwk.to_string()])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()?;
        if !out.status.success() {
            bail!(
                "irtx peer add {id} on {}: {}",
                self.team,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// `irtx serve`, its log in `serve.log`, `env` on top of the config; returns once
    /// `/healthz` answers.
    pub async fn serve(&mut self, env: &[(&str, &str)]) -> Result<()> {
        let child = self.spawn_serve(env, None, "serve.log")?;
        self.child = Some(child);
        let url = self.url.clone();
        self.wait_healthy(&url, None).await
    }

    /// One more `irtx serve` on the same directory, on a free port of its own (gateways
    /// sharing a PostgreSQL store); returns its base URL once `/healthz` answers.
    pub async fn serve_another(&mut self, env: &[(&str, &str)]) -> Result<String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let listen = format!("127.0.0.1:{port}");
        let n = self.more.len() + 1;
        let child = self.spawn_serve(env, Some(&listen), &format!("serve-{n}.log"))?;
        self.more.push(child);
        let url = format!("http://{listen}");
        self.wait_healthy(&url, Some(self.more.len() - 1)).await?;
        Ok(url)
    }

    fn spawn_serve(&self, env: &[(&str, &str)], listen: Option<&str>, log: &str) -> Result<Child> {
        let log = std::fs::File::create(self.dir.join(log))?;
        let mut cmd = Command::new(&self.irtx);
        cmd.arg("--config").arg(self.config()).arg("serve");
        if let Some(l) = listen {
            cmd.args(["--listen", l]);
        }
        Ok(cmd
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?)
    }

    /// Waits for `/healthz` at `url`; `more`: which of the more instances it is.
    async fn wait_healthy(&mut self, url: &str, more: Option<usize>) -> Result<()> {
        let http = reqwest::Client::new();
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{url}/healthz")).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            let child = match more {
                None => self.child.as_mut(),
                Some(i) => self.more.get_mut(i),
            };
            if let Some(status) = child.and_then(|c| c.try_wait().ok().flatten()) {
                bail!(
                    "irtx serve ({} at {url}) exited with {status}; see its log in {}",
                    self.team,
                    self.dir.display()
                );
            }
            if Instant::now() > until {
                bail!(
                    "irtx serve ({} at {url}) did not answer within 60 s",
                    self.team
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the OS says of the serving processes now (CPU summed, the largest peak RSS).
    pub fn usage(&self) -> Result<Usage> {
        let first = self
            .child
            .as_ref()
            .ok_or_else(|| anyhow!("{} is not serving", self.team))?;
        let mut total = Usage::of(first.id())?;
        for c in &self.more {
            let u = Usage::of(c.id())?;
            total.cpu_s += u.cpu_s;
            total.written += u.written;
            total.peak_rss = total.peak_rss.max(u.peak_rss);
        }
        Ok(total)
    }

    /// Stops `irtx serve` (SIGTERM, so it shuts down cleanly), waiting for it (and for the
    /// more instances).
    pub fn stop(&mut self) -> Result<()> {
        for mut child in std::mem::take(&mut self.more)
            .into_iter()
            .chain(self.child.take())
        {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let until = Instant::now() + Duration::from_secs(30);
            while child.try_wait()?.is_none() {
                if Instant::now() > until {
                    child.kill()?;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// A request with the analyst token.
    pub fn api(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.api_handle().request(http, method, path)
    }

    /// Its API and analyst token, owned: for requests made on other tasks.
    pub fn api_handle(&self) -> Api {
        Api {
            url: self.url.clone(),
            token: self.token.clone(),
        }
    }

    /// A counter from `/metrics`: the sum of every sample named `name` whose labels contain
    /// `label` (or every sample, when `label` is empty).
    pub async fn counter(&self, http: &reqwest::Client, name: &str, label: &str) -> Result<f64> {
        Ok(sum_counter(&self.metrics(http).await?, name, label))
    }

    /// `/metrics`, as OpenMetrics text.
    pub async fn metrics(&self, http: &reqwest::Client) -> Result<String> {
        Ok(http
            .get(format!("{}/metrics", self.url))
            .send()
            .await?
            .text()
            .await?)
    }
}

/// A gateway's API (`/api/v1`) with its analyst token.
#[derive(Debug, Clone)]
pub struct Api {
    url: String,
    token: String,
}

impl Api {
    /// A request to `/api/v1{path}` with the analyst token.
    pub fn request(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        http.request(method, format!("{}/api/v1{path}", self.url))
            .bearer_auth(&self.token)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The sum of the samples of `name` (OpenMetrics text) whose labels contain `label`.
pub fn sum_counter(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let bare = series.split('{').next()?;
            (bare == name && series.contains(label)).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// CPU time and memory of a process, from `/proc`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User and system CPU time so far, in seconds.
    pub cpu_s: f64,
    /// Peak resident set size so far (VmHWM), in bytes.
    pub peak_rss: u64,
    /// Bytes written so far by write(2) and its kin (`wchar` of `/proc/PID/io`): what the
    /// store hands the kernel, whether or not it has reached the disk yet.
    pub written: u64,
}

/// CPU seconds of process `pid` and of its children now (a PostgreSQL server: its
/// postmaster and the backend serving each connection).
pub fn tree_cpu_s(pid: u32) -> Result<f64> {
    let mut total = Usage::of(pid)?.cpu_s;
    for entry in std::fs::read_dir("/proc")? {
        let Ok(child) = entry?.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // The parent's pid is the second field after the bracketed command name.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if parent == Some(pid) {
            total += Usage::of(child).map_or(0.0, |u| u.cpu_s);
        }
    }
    Ok(total)
}

impl Usage {
    /// Reads `/proc/PID/stat` (utime and stime, in USER_HZ = 100 ticks a second on Linux),
    /// `/proc/PID/status` (VmHWM) and `/proc/PID/io` (wchar).
    pub fn of(pid: u32) -> Result<Usage> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // The command name is in brackets and may hold spaces: count fields after it.
        let after = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| anyhow!("unreadable /proc/{pid}/stat"))?;
        let fields: Vec<&str> = after.split_whitespace().collect();
        // Fields 14 and 15 of stat(5); the first after the bracket is field 3.
        let ticks: u64 = fields
            .get(11..13)
            .ok_or_else(|| anyhow!("short /proc/{pid}/stat"))?
            .iter()
            .map(|f| f.parse::<u64>().unwrap_or(0))
            .sum();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let peak_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        let io = std::fs::read_to_string(format!("/proc/{pid}/io"))?;
        let written = io
            .lines()
            .find_map(|l| l.strip_prefix("wchar:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        Ok(Usage {
            cpu_s: ticks as f64 / 100.0,
            peak_rss: peak_kb * 1024,
            written,
        })
    }
}

/// The bytes of every file under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_summed_by_name_and_label() {
        let text = "# TYPE irtx_delivery_attempts counter\n\
            irtx_delivery_attempts_total{outcome=\"delivered\"} 7\n\
            irtx_delivery_attempts_total{outcome=\"retry\"} 2\n\
            irtx_delivery_attempts_total_x{outcome=\"delivered\"} 100\n";
        assert_eq!(
            sum_counter(text, "irtx_delivery_attempts_total", "\"delivered\""),
            7.0
        );
        assert_eq!(sum_counter(text, "irtx_delivery_attempts_total", ""), 9.0);
    }

    #[test]
    fn this_process_has_a_cpu_time_and_a_peak() {
        let u = Usage::of(std::process::id()).unwrap();
        assert!(u.peak_rss > 0);
    }
}
