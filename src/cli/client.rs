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

    /// Sends `req` with the analyst token.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, Failure> {
        req.bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| self.unreachable(e))
    }

    /// Fails unless the gateway answered with success.
    fn success(resp: reqwest::Response) -> Result<reqwest::Response, Failure> {
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(Failure::runtime(format!(
                "the gateway answered {}",
                resp.status()
            )))
        }
    }

    /// An answer's status and body: its JSON, or its text as a JSON string.
    async fn answer(resp: reqwest::Response) -> Result<(u16, Value), Failure> {
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| Failure::runtime(e.to_string()))?;
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, v))
    }

    /// A GET whose answer is text (the ledger export).
    pub fn call_text(&self, method: reqwest::Method, path: &str) -> Result<String, Failure> {
        let url = format!("{}{path}", self.base);
        self.rt.block_on(async {
            let resp = Self::success(self.send(self.http.request(method, &url)).await?)?;
            resp.text()
                .await
                .map_err(|e| Failure::runtime(e.to_string()))
        })
    }

    /// Streams a GET's body into `out`; returns the bytes written.
    pub fn download(&self, path: &str, out: &mut dyn std::io::Write) -> Result<u64, Failure> {
        self.rt.block_on(async {
            let url = format!("{}{path}", self.base);
            let mut resp = Self::success(self.send(self.http.get(url)).await?)?;
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
                let url = format!("{}{path}", self.base);
                let resp = self.send(self.http.get(url)).await?;
                let link = resp
                    .headers()
                    .get(reqwest::header::LINK)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| l.strip_prefix('<'))
                    .and_then(|l| l.split_once('>'))
                    .filter(|(_, rel)| rel.contains("rel=\"next\""))
                    .map(|(url, _)| url.to_string());
                match Self::answer(resp).await? {
                    (200, Value::Array(items)) => Ok((items, link)),
                    (status, v) => Err(Failure {
                        code: if (400..500).contains(&status) { 3 } else { 1 },
                        message: Some(format!(
                            "the gateway answered {status}: {}",
                            refusal(&v, "")
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
            let req = self
                .http
                .request(method, &url)
                .header("content-type", "application/json")
                .body(body);
            let (status, v) = Self::answer(self.send(req).await?).await?;
            if status >= 500 || v.get("items").is_none() && status >= 400 {
                return Err(Failure {
                    code: if status >= 500 { 1 } else { 3 },
                    message: Some(format!(
                        "the gateway answered {status}: {}",
                        refusal(&v, "")
                    )),
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
            let mut req = self.http.request(method, &url);
            if let Some(b) = body {
                req = req.header("content-type", "application/json").body(b);
            }
            let (status, v) = Self::answer(self.send(req).await?).await?;
            if (400..500).contains(&status) {
                return Err(Failure {
                    code: 3,
                    message: Some(refusal(&v, "refused")),
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

/// What an error answer says: its `error` (`default` when it has none), then each of its
/// `details` on a line of its own, where (a JSON pointer, or `(request)` for the request as
/// a whole) and why.
fn refusal(v: &Value, default: &str) -> String {
    let mut msg = v["error"].as_str().unwrap_or(default).to_string();
    for d in v["details"].as_array().into_iter().flatten() {
        let p = d["pointer"].as_str().unwrap_or("");
        msg.push_str(&format!(
            "\n  {}: {}",
            if p.is_empty() { "(request)" } else { p },
            d["reason"].as_str().unwrap_or("")
        ));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::refusal;
    use serde_json::json;

    #[test]
    fn a_refusal_says_what_and_each_place_where_and_why() {
        let v = json!({"error": "the report is not valid", "details": [
            {"pointer": "/reporter/email", "reason": "not an address"},
            {"pointer": "", "reason": "the body is not JSON"},
        ]});
        assert_eq!(
            refusal(&v, "refused"),
            "the report is not valid\n  /reporter/email: not an address\n  (request): the body is not JSON"
        );
        // An answer without an error of its own (a proxy's page, text): the default.
        assert_eq!(refusal(&json!("Bad Gateway"), "refused"), "refused");
    }
}
