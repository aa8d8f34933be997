//! Commands that work through the running gateway's API: `peer ...`, `report submit`.

use serde_json::Value;

use super::{Cli, Failure};
use crate::config::Config;

/// The gateway's API: base URL and analyst token, from the config.
pub struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl ApiClient {
    /// From the config (`[api] url`, else `http://<listen>`; the token file).
    pub fn from_cli(cli: &Cli) -> Result<Self, Failure> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let c = Config::load(&cli.config, env).map_err(|e| Failure::runtime(e.to_string()))?;
        let base = c
            .api
            .url
            .clone()
            .unwrap_or_else(|| format!("http://{}", c.listen));
        let token = crate::keys::read_secret_text(&c.path(&c.api.analyst_token_file))
            .map_err(|e| Failure::runtime(e.to_string()))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::runtime(e.to_string()))?;
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
                .map_err(|e| {
                    Failure::runtime(format!(
                        "cannot reach the gateway at {}: {}",
                        self.base,
                        e.without_url()
                    ))
                })?;
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
            let resp = req.send().await.map_err(|e| {
                Failure::runtime(format!(
                    "cannot reach the gateway at {}: {} (is `irtx serve` running?)",
                    self.base,
                    e.without_url()
                ))
            })?;
            let status = resp.status().as_u16();
            let text = resp
                .text()
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?;
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            if (400..500).contains(&status) {
                let mut msg = format!("{status}: {}", v["error"].as_str().unwrap_or("refused"));
                for d in v["details"].as_array().into_iter().flatten() {
                    let p = d["pointer"].as_str().unwrap_or("");
                    msg.push_str(&format!(
                        "\n  {}: {}",
                        if p.is_empty() { "(document)" } else { p },
                        d["reason"].as_str().unwrap_or("")
                    ));
                }
                return Err(Failure {
                    code: 3,
                    message: Some(msg),
                });
            }
            if status >= 500 {
                return Err(Failure::runtime(format!("the gateway answered {status}")));
            }
            Ok((status, v))
        })
    }
}
