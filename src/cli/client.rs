//! The running gateway's API, for commands that go through it: at `--gateway URL` (or
//! `IRTX_GATEWAY`), else the config's `[api] url`, else where the gateway serving this data
//! dir says it answers (`DATA_DIR/gateway.url`, written by `irtx serve`), else
//! `http://<listen>`.

use serde_json::Value;

use super::{Cli, Failure};
use crate::config::Config;

/// The gateway's API: base URL and analyst token.
pub struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl ApiClient {
    /// The API of the gateway `cli` and `config` point at, with the config's analyst token.
    pub fn new(cli: &Cli, c: &Config) -> Result<Self, Failure> {
        let base = cli
            .gateway
            .clone()
            .or_else(|| c.api.url.clone())
            .or_else(|| {
                let file = c.path(&c.data_dir).join(super::serve::GATEWAY_URL_FILE);
                std::fs::read_to_string(file)
                    .ok()
                    .map(|u| u.trim().to_string())
                    .filter(|u| !u.is_empty())
            })
            .unwrap_or_else(|| format!("http://{}", c.listen));
        let token = crate::keys::read_secret_text(&c.path(&c.api.analyst_token_file))
            .map_err(|e| Failure::runtime(e.to_string()))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::runtime(e.to_string()))?;
        crate::federation::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| Failure::runtime(e.to_string()))?;
        Ok(ApiClient {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
            rt,
        })
    }

    /// The config's gateway: [`Self::new`] with the config `cli` names.
    pub fn from_cli(cli: &Cli) -> Result<Self, Failure> {
        let c = super::require_config(cli)?;
        Self::new(cli, &c)
    }

    fn unreachable(&self, e: reqwest::Error) -> Failure {
        Failure::runtime(format!(
            "cannot reach the gateway at {}: {} (is `irtx serve` running? --gateway URL or IRTX_GATEWAY says where)",
            self.base,
            e.without_url()
        ))
    }

    /// A GET whose answer is text (the ledger export).
    pub fn call_text(&self, method: reqwest::Method, path: &str) -> Result<String, Failure> {
        let url = format!("{}{path}", self.base);
        self.rt.block_on(async {
            let resp = self
                .http
                .request(method, &url)
                .bearer_auth(&self.token)
                .send()
                .await
                .map_err(|e| self.unreachable(e))?;
            if !resp.status().is_success() {
                return Err(Failure::runtime(format!(
                    "the gateway answered {}",
                    resp.status()
                )));
            }
            resp.text()
                .await
                .map_err(|e| Failure::runtime(e.to_string()))
        })
    }

    /// Streams a GET's body into `out`; returns the bytes written.
    pub fn download(&self, path: &str, out: &mut dyn std::io::Write) -> Result<u64, Failure> {
        self.rt.block_on(async {
            let mut resp = self
                .http
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .send()
                .await
                .map_err(|e| self.unreachable(e))?;
            if !resp.status().is_success() {
                return Err(Failure::runtime(format!(
                    "the gateway answered {}",
                    resp.status()
                )));
            }
            let mut n = 0u64;
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?
            {
                out.write_all(&chunk)
                    .map_err(|e| Failure::runtime(e.to_string()))?;
                n += chunk.len() as u64;
            }
            Ok(n)
        })
    }

    /// Reads every page of a list (following `Link: rel="next"`), handing each item to `each`
    /// as it comes: a long list is never held whole.
    pub fn each_item(
        &self,
        path: &str,
        mut each: impl FnMut(Value) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let mut next = Some(path.to_string());
        while let Some(path) = next.take() {
            let (items, link) = self.rt.block_on(async {
                let resp = self
                    .http
                    .get(format!("{}{path}", self.base))
                    .bearer_auth(&self.token)
                    .send()
                    .await
                    .map_err(|e| self.unreachable(e))?;
                let link = resp
                    .headers()
                    .get(reqwest::header::LINK)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| l.strip_prefix('<'))
                    .and_then(|l| l.split_once('>'))
                    .filter(|(_, rel)| rel.contains("rel=\"next\""))
                    .map(|(url, _)| url.to_string());
                let status = resp.status().as_u16();
                let text = resp
                    .text()
                    .await
                    .map_err(|e| Failure::runtime(e.to_string()))?;
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                match v {
                    Value::Array(items) if status == 200 => Ok((items, link)),
                    v => Err(Failure {
                        code: if (400..500).contains(&status) { 3 } else { 1 },
                        message: Some(format!(
                            "the gateway answered {status}: {}",
                            v["error"].as_str().unwrap_or("")
                        )),
                    }),
                }
            })?;
            for item in items {
                each(item)?;
            }
            next = link;
        }
        Ok(())
    }

    /// Calls the API with a body of any type; every answer below 500 comes back as it is
    /// (for calls whose 4xx answer carries a result, such as an import that refused a
    /// document).
    pub fn call_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Value), Failure> {
        let url = format!("{}{path}", self.base);
        self.rt.block_on(async {
            let resp = self
                .http
                .request(method, &url)
                .bearer_auth(&self.token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| self.unreachable(e))?;
            let status = resp.status().as_u16();
            let text = resp
                .text()
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?;
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            if status >= 500 || v.get("items").is_none() && status >= 400 {
                let mut msg = format!(
                    "the gateway answered {status}: {}",
                    v["error"].as_str().unwrap_or("")
                );
                for d in v["details"].as_array().into_iter().flatten() {
                    msg.push_str(&format!(
                        "\n  {}: {}",
                        d["pointer"].as_str().unwrap_or(""),
                        d["reason"].as_str().unwrap_or("")
                    ));
                }
                return Err(Failure {
                    code: if status >= 500 { 1 } else { 3 },
                    message: Some(msg),
                });
            }
            Ok((status, v))
        })
    }

    /// Calls the API; a 4xx becomes exit 3 with every detail, anything else unexpected exit 1.
    pub fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Value), Failure> {
        let url = format!("{}{path}", self.base);
        self.rt.block_on(async {
            let mut req = self.http.request(method, &url).bearer_auth(&self.token);
            if let Some(b) = body {
                req = req.header("content-type", "application/json").body(b);
            }
            let resp = req.send().await.map_err(|e| self.unreachable(e))?;
            let status = resp.status().as_u16();
            let text = resp
                .text()
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?;
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            if (400..500).contains(&status) {
                let mut msg = v["error"].as_str().unwrap_or("refused").to_string();
                for d in v["details"].as_array().into_iter().flatten() {
                    let p = d["pointer"].as_str().unwrap_or("");
                    msg.push_str(&format!(
                        "\n  {}: {}",
                        if p.is_empty() { "(request)" } else { p },
                        d["reason"].as_str().unwrap_or("")
                    ));
                }
                return Err(Failure {
                    code: 3,
                    message: Some(msg),
                });
            }
            if status >= 500 {
                return Err(Failure::runtime(format!(
                    "the gateway answered {status}: {}",
                    v["error"].as_str().unwrap_or("")
                )));
            }
            Ok((status, v))
        })
    }
}
