//! Where a command reads and writes the gateway's state (DESIGN.md section 4): the one store
//! the gateway uses, directly when no gateway holds it, through the running gateway's API
//! when one does (or when `--gateway` / `IRTX_GATEWAY` says where it is). Read directly, the
//! list of peers is the store's with the config's `[peers.*]` applied, exactly as the next
//! `irtx serve` will have it.

use super::client::ApiClient;
use super::{Cli, Failure};
use crate::config::Config;
use crate::config::StoreBackend;
use crate::peer::{Peer, PeerId, PeerRequest};
use crate::store::{Store, StoreError};

/// A store opened for one command: a small cache, since commands read a part once.
const CACHE_BYTES: u64 = 32 << 20;

/// Opens (creating it when there is none yet) the store `config` names, for a command that
/// writes.
pub fn open_or_create(config: &Config) -> Result<Box<dyn Store>, Failure> {
    crate::app::open_store(config, CACHE_BYTES).map_err(|e| Failure::runtime(e.to_string()))
}

/// The store a local command writes: `store`, the one opened, or else one opened (made) now
/// and kept in `fresh`.
pub fn writable<'a>(
    store: &'a Option<Box<dyn Store>>,
    config: &Config,
    fresh: &'a mut Option<Box<dyn Store>>,
) -> Result<&'a dyn Store, Failure> {
    match store {
        Some(s) => Ok(s.as_ref()),
        None => Ok(&**fresh.insert(open_or_create(config)?)),
    }
}

/// The gateway's state, as a command reaches it.
pub enum State {
    /// No gateway holds the store: read and write it directly. `None` when the data
    /// directory has no store yet.
    Local {
        /// The config.
        config: Box<Config>,
        /// The store, if there is one.
        store: Option<Box<dyn Store>>,
    },
    /// A gateway runs: go through its API.
    Remote {
        /// The config.
        config: Box<Config>,
        /// The API.
        api: ApiClient,
    },
}

impl State {
    /// Opens the state for `config`: through `--gateway` when given, else the store directly,
    /// else (the store is held) the running gateway.
    pub fn open(cli: &Cli, config: Config) -> Result<State, Failure> {
        if cli.gateway.is_some() {
            let api = ApiClient::new(cli, &config)?;
            return Ok(State::Remote {
                config: Box::new(config),
                api,
            });
        }
        if config.store.backend == StoreBackend::Postgres {
            // A shared database: read and written directly, running gateways or not.
            let store = open_or_create(&config)?;
            return Ok(State::Local {
                config: Box::new(config),
                store: Some(store),
            });
        }
        let dir = config.store_dir();
        if !dir.exists() {
            return Ok(State::Local {
                config: Box::new(config),
                store: None,
            });
        }
        // A gateway that is stopping lets go of the store a moment later: wait briefly for it
        // rather than calling an API that is going away.
        for attempt in 0..20 {
            match crate::app::open_store(&config, CACHE_BYTES) {
                Ok(store) => {
                    return Ok(State::Local {
                        config: Box::new(config),
                        store: Some(store),
                    })
                }
                Err(StoreError::Locked { .. }) => {
                    let serving = std::net::TcpStream::connect_timeout(
                        &config.listen,
                        std::time::Duration::from_millis(200),
                    )
                    .is_ok();
                    if serving || config.api.url.is_some() || attempt == 19 {
                        let api = ApiClient::new(cli, &config)?;
                        return Ok(State::Remote {
                            config: Box::new(config),
                            api,
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(e) => return Err(Failure::runtime(e.to_string())),
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// The config.
    pub fn config(&self) -> &Config {
        match self {
            State::Local { config, .. } | State::Remote { config, .. } => config,
        }
    }

    /// The config's `[peers.*]`, checked.
    fn seeds(config: &Config) -> Result<Vec<Peer>, Failure> {
        config
            .profiles()
            .and_then(|profiles| config.peer_seeds(&profiles))
            .map_err(|e| Failure::runtime(e.to_string()))
    }

    /// The one list of peers, by id.
    pub fn peers(&self) -> Result<Vec<Peer>, Failure> {
        match self {
            State::Remote { api, .. } => {
                let (_, v) = api.call(reqwest::Method::GET, "/api/v1/peers", None)?;
                serde_json::from_value(v)
                    .map_err(|e| Failure::runtime(format!("the gateway's peers: {e}")))
            }
            State::Local { config, store } => {
                let mut peers: Vec<Peer> = match store {
                    Some(s) => s.peers().map_err(|e| Failure::runtime(e.to_string()))?,
                    None => Vec::new(),
                };
                for seed in Self::seeds(config)? {
                    peers.retain(|p| p.id != seed.id);
                    peers.push(seed);
                }
                peers.sort_by(|a, b| a.id.cmp(&b.id));
                Ok(peers)
            }
        }
    }

    /// One peer, or a failure (exit 3) naming the known ones.
    pub fn peer(&self, id: &PeerId) -> Result<Peer, Failure> {
        let peers = self.peers()?;
        let known: Vec<String> = peers.iter().map(|p| p.id.to_string()).collect();
        peers
            .into_iter()
            .find(|p| p.id == *id)
            .ok_or_else(|| Failure {
                code: 3,
                message: Some(format!(
                    "no peer `{id}`; known: {}",
                    if known.is_empty() {
                        "none (add one with `irtx peer add`)".to_string()
                    } else {
                        known.join(", ")
                    }
                )),
            })
    }

    /// Adds (or replaces) a peer.
    pub fn add_peer(&self, req: &PeerRequest) -> Result<Peer, Failure> {
        match self {
            State::Remote { api, .. } => {
                let body = serde_json::to_vec(req).expect("a peer request serializes");
                let (_, v) = api.call(reqwest::Method::POST, "/api/v1/peers", Some(body))?;
                serde_json::from_value(v)
                    .map_err(|e| Failure::runtime(format!("the gateway's answer: {e}")))
            }
            State::Local { config, store } => {
                let profiles = config
                    .profiles()
                    .map_err(|e| Failure::runtime(e.to_string()))?;
                let peer = crate::exchange::check_peer(req, &profiles).map_err(|v| Failure {
                    code: 3,
                    message: Some(
                        v.iter()
                            .map(|p| format!("{}: {}", p.pointer.trim_start_matches('/'), p.reason))
                            .collect::<Vec<_>>()
                            .join("\n"),
                    ),
                })?;
                let put = |s: &dyn Store| {
                    let held = s.peer(&peer.id)?;
                    s.put_peer(&peer.clone().replacing(held.as_ref()))
                };
                let mut fresh = None;
                let s = writable(store, config, &mut fresh)?;
                put(s).map_err(|e| Failure::runtime(e.to_string()))?;
                Ok(peer)
            }
        }
    }

    /// Issues a TAXII token for a peer (a peer only in the config is first written into
    /// the list, as the next start would).
    pub fn issue_token(&self, id: &PeerId) -> Result<String, Failure> {
        match self {
            State::Remote { api, .. } => {
                let path = format!("/api/v1/peers/{id}/token");
                let (_, v) = api.call(reqwest::Method::POST, &path, None)?;
                v["token"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| Failure::runtime("the gateway's answer has no token"))
            }
            State::Local { config, store } => {
                let mut fresh = None;
                let s = writable(store, config, &mut fresh)?;
                let held = s.peer(id).map_err(|e| Failure::runtime(e.to_string()))?;
                if held.is_none() {
                    match Self::seeds(config)?.into_iter().find(|p| p.id == *id) {
                        Some(seed) => s
                            .put_peer(&seed)
                            .map_err(|e| Failure::runtime(e.to_string()))?,
                        None => {
                            return Err(self
                                .peer(id)
                                .err()
                                .unwrap_or_else(|| Failure::runtime(format!("no peer `{id}`"))))
                        }
                    }
                }
                crate::federation::taxii::issue_token(s, id)
                    .map_err(|e| Failure::runtime(e.to_string()))
            }
        }
    }

    /// Removes a peer; false when there was none.
    pub fn remove_peer(&self, id: &PeerId) -> Result<bool, Failure> {
        match self {
            State::Remote { api, .. } => {
                let path = format!("/api/v1/peers/{id}");
                match api.call(reqwest::Method::DELETE, &path, None) {
                    Ok(_) => Ok(true),
                    Err(Failure { code: 3, .. }) => Ok(false),
                    Err(f) => Err(f),
                }
            }
            State::Local { store, .. } => match store {
                Some(s) => s
                    .remove_peer(id)
                    .map_err(|e| Failure::runtime(e.to_string())),
                None => Ok(false),
            },
        }
    }
}
