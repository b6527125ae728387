//! Client role: this platform's identity and the backup servers it syncs
//! with (`[client]`, `[[peers]]`, `[[peers.books]]`). `conf/client.toml`
//! documents every key.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use crate::auth::Scheme;
use crate::engine::client::{ClientConfig, DbMapping, Secret};
use crate::protocol::alert;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawClient {
    /// Our SyncML device id (SyncHdr Source LocURI); the same for every peer.
    pub device_id: String,
    /// Owner of the local address books.
    pub local_user: String,
    /// Seconds to wait for one HTTP reply before re-sending it.
    pub http_timeout_secs: u64,
    /// Re-sends of one message after a timeout.
    pub resends: u32,
    /// Longest back-off after failures, in seconds.
    pub max_backoff_secs: u64,
    /// Ask each peer whether anything is pending before a scheduled session
    /// and skip it when neither side has changes (peers that don't answer
    /// the question are synced anyway).
    pub poll_first: bool,
    /// A vdir folder (one .vcf per contact) kept in sync with `vdir_book`.
    pub vdir: Option<String>,
    pub vdir_book: String,
    pub vdir_interval_secs: u64,
    /// Where Server Alerted Notifications are received (POST /san); must be
    /// reachable by the servers. Unset: none.
    pub notify_listen: Option<String>,
    /// The URL servers should notify (registered with the poll-first
    /// request), e.g. "http://platform.example:8082/san".
    pub callback_url: Option<String>,
}

impl Default for RawClient {
    fn default() -> Self {
        RawClient {
            device_id: "syncmld-client".into(),
            local_user: "local".into(),
            http_timeout_secs: 60,
            resends: 2,
            max_backoff_secs: 3600,
            poll_first: true,
            vdir: None,
            vdir_book: "contacts".into(),
            vdir_interval_secs: 30,
            notify_listen: None,
            callback_url: None,
        }
    }
}

#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPeer {
    pub name: String,
    pub url: String,
    pub user: String,
    /// For md5/basic; or `password_file`.
    pub password: Option<String>,
    pub password_file: Option<String>,
    /// Shared device secret for the device/hmac schemes; or `secret_file`.
    pub secret: Option<String>,
    pub secret_file: Option<String>,
    pub auth: String,
    pub interval_secs: u64,
    pub jitter_secs: u64,
    pub mode: String,
    pub max_msg_size: u64,
    pub max_obj_size: u64,
    /// The conflict policy asked of the server (syncmld servers honour it).
    pub conflict: Option<String>,
    pub books: Vec<RawBook>,
}

impl Default for RawPeer {
    fn default() -> Self {
        RawPeer {
            name: String::new(),
            url: String::new(),
            user: String::new(),
            password: None,
            password_file: None,
            secret: None,
            secret_file: None,
            auth: "md5".into(),
            interval_secs: 900,
            jitter_secs: 60,
            mode: "two-way".into(),
            max_msg_size: 150_000,
            max_obj_size: 4_000_000,
            conflict: None,
            books: vec![RawBook::default()],
        }
    }
}

/// Never print secrets, not even in a debug dump.
impl fmt::Debug for RawPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("RawPeer")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &redact(&self.password))
            .field("password_file", &self.password_file)
            .field("secret", &redact(&self.secret))
            .field("secret_file", &self.secret_file)
            .field("auth", &self.auth)
            .field("mode", &self.mode)
            .field("books", &self.books)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawBook {
    /// Local book name.
    pub local: String,
    /// The server's datastore URI.
    pub remote: String,
    /// Our datastore URI in the protocol; default `./` + local.
    pub local_uri: Option<String>,
}

impl Default for RawBook {
    fn default() -> Self {
        RawBook {
            local: "contacts".into(),
            remote: "addressbook".into(),
            local_uri: None,
        }
    }
}

/// `[client]`, validated.
#[derive(Debug, Clone)]
pub struct Client {
    pub device_id: String,
    pub local_user: String,
    pub http_timeout: Duration,
    pub resends: u32,
    pub max_backoff: Duration,
    pub poll_first: bool,
    /// (folder, local book, scan interval).
    pub vdir: Option<(std::path::PathBuf, String, Duration)>,
    pub notify_listen: Option<std::net::SocketAddr>,
    pub callback_url: Option<String>,
}

/// One backup server, validated.
#[derive(Debug, Clone)]
pub struct Peer {
    pub name: String,
    pub interval: Duration,
    pub jitter: Duration,
    /// Alert code of scheduled sessions.
    pub mode: u16,
    /// Everything the client engine needs.
    pub session: ClientConfig,
}

/// Sync mode names as on the command line and in `peers.mode`.
pub const MODES: [(&str, u16); 6] = [
    ("two-way", alert::TWO_WAY),
    ("slow", alert::SLOW_SYNC),
    ("one-way-from-client", alert::ONE_WAY_FROM_CLIENT),
    ("refresh-from-client", alert::REFRESH_FROM_CLIENT),
    ("one-way-from-server", alert::ONE_WAY_FROM_SERVER),
    ("refresh-from-server", alert::REFRESH_FROM_SERVER),
];

pub fn mode_by_name(name: &str) -> Option<u16> {
    MODES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
        .map(|(_, c)| *c)
}

pub fn mode_name(code: u16) -> &'static str {
    MODES
        .iter()
        .find(|(_, c)| *c == code)
        .map(|(n, _)| *n)
        .unwrap_or("unknown")
}

pub(super) fn client(raw: &RawClient, cwd: &Path) -> Result<Client, ConfigError> {
    if raw.device_id.trim().is_empty() || raw.device_id.len() > 1024 {
        return Err(ConfigError::invalid(
            "client.device_id",
            &raw.device_id,
            "must be 1 to 1024 characters",
        ));
    }
    if raw.local_user.trim().is_empty() || raw.local_user.contains(':') {
        return Err(ConfigError::invalid(
            "client.local_user",
            &raw.local_user,
            "expected a name without ':'",
        ));
    }
    if raw.http_timeout_secs == 0 {
        return Err(ConfigError::invalid(
            "client.http_timeout_secs",
            raw.http_timeout_secs,
            "must be positive",
        ));
    }
    Ok(Client {
        device_id: raw.device_id.clone(),
        local_user: raw.local_user.clone(),
        http_timeout: Duration::from_secs(raw.http_timeout_secs),
        resends: raw.resends,
        max_backoff: Duration::from_secs(raw.max_backoff_secs.max(1)),
        poll_first: raw.poll_first,
        notify_listen: match raw
            .notify_listen
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(a) => Some(a.parse().map_err(|_| {
                ConfigError::invalid("client.notify_listen", a, "expected IP:port")
            })?),
        },
        callback_url: match raw
            .callback_url
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => Some(u.to_owned()),
            Some(u) => {
                return Err(ConfigError::invalid(
                    "client.callback_url",
                    u,
                    "expected an http:// URL",
                ));
            }
        },
        vdir: match &raw.vdir {
            None => None,
            Some(dir) if dir.trim().is_empty() => None,
            Some(dir) => {
                if raw.vdir_book.trim().is_empty() {
                    return Err(ConfigError::invalid(
                        "client.vdir_book",
                        &raw.vdir_book,
                        "must not be empty",
                    ));
                }
                Some((
                    cwd.join(dir),
                    raw.vdir_book.clone(),
                    Duration::from_secs(raw.vdir_interval_secs.max(1)),
                ))
            }
        },
    })
}

pub(super) fn peers(
    raw: Vec<RawPeer>,
    client: &Client,
    cwd: &Path,
) -> Result<Vec<Peer>, ConfigError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, p) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("peers[{i}].{k}");
        if p.name.trim().is_empty() || p.name.contains(['/', ':']) {
            return Err(ConfigError::invalid(
                &key("name"),
                &p.name,
                "expected a name without '/' or ':'",
            ));
        }
        if !seen.insert(p.name.clone()) {
            return Err(ConfigError::invalid(&key("name"), &p.name, "defined twice"));
        }
        if !(p.url.starts_with("http://") || p.url.starts_with("https://")) {
            return Err(ConfigError::invalid(
                &key("url"),
                &p.url,
                "expected an http:// or https:// URL",
            ));
        }
        if p.user.is_empty() {
            return Err(ConfigError::invalid(
                &key("user"),
                &p.user,
                "must not be empty",
            ));
        }
        let scheme = Scheme::from_name(&p.auth).ok_or_else(|| {
            ConfigError::invalid(&key("auth"), &p.auth, "expected md5, basic, device or hmac")
        })?;
        let read = |value: &Option<String>,
                    file: &Option<String>,
                    what: &str|
         -> Result<Option<String>, ConfigError> {
            match (value, file) {
                (Some(v), None) => Ok(Some(v.clone())),
                (None, Some(f)) => {
                    let path = cwd.join(f);
                    std::fs::read_to_string(&path)
                        .map(|s| Some(s.trim_end_matches(['\r', '\n']).to_owned()))
                        .map_err(|e| {
                            ConfigError::invalid(&key(&format!("{what}_file")), f, e.to_string())
                        })
                }
                (None, None) => Ok(None),
                (Some(_), Some(_)) => Err(ConfigError::invalid(
                    &key(what),
                    &p.name,
                    format!("give `{what}` or `{what}_file`, not both"),
                )),
            }
        };
        let secret = match scheme {
            Scheme::Md5 | Scheme::Basic => read(&p.password, &p.password_file, "password")?
                .map(Secret::Password)
                .ok_or_else(|| {
                    ConfigError::invalid(
                        &key("password"),
                        &p.name,
                        "required for md5 and basic auth",
                    )
                })?,
            Scheme::Device | Scheme::Hmac => read(&p.secret, &p.secret_file, "secret")?
                .map(|s| Secret::Device(s.into_bytes()))
                .ok_or_else(|| {
                    ConfigError::invalid(
                        &key("secret"),
                        &p.name,
                        "required for device and hmac auth",
                    )
                })?,
        };
        let mode = mode_by_name(&p.mode).ok_or_else(|| {
            ConfigError::invalid(
                &key("mode"),
                &p.mode,
                format!("expected one of {}", MODES.map(|(n, _)| n).join(", ")),
            )
        })?;
        if p.interval_secs == 0 {
            return Err(ConfigError::invalid(
                &key("interval_secs"),
                p.interval_secs,
                "must be positive",
            ));
        }
        if p.max_msg_size < 2048 {
            return Err(ConfigError::invalid(
                &key("max_msg_size"),
                p.max_msg_size,
                "must be at least 2048",
            ));
        }
        if p.books.is_empty() {
            return Err(ConfigError::invalid(
                &key("books"),
                &p.name,
                "at least one book",
            ));
        }
        let mut books = Vec::new();
        for (j, b) in p.books.iter().enumerate() {
            if b.local.trim().is_empty() || b.remote.trim().is_empty() {
                return Err(ConfigError::invalid(
                    &format!("peers[{i}].books[{j}]"),
                    &b.local,
                    "`local` and `remote` must not be empty",
                ));
            }
            books.push(DbMapping {
                local: b.local.clone(),
                local_uri: b
                    .local_uri
                    .clone()
                    .unwrap_or_else(|| format!("./{}", b.local)),
                remote_uri: b.remote.clone(),
            });
        }
        out.push(Peer {
            name: p.name.clone(),
            interval: Duration::from_secs(p.interval_secs),
            jitter: Duration::from_secs(p.jitter_secs),
            mode,
            session: ClientConfig {
                peer: p.name,
                local_user: client.local_user.clone(),
                url: p.url,
                device_id: client.device_id.clone(),
                user: p.user,
                secret,
                scheme,
                max_msg_size: p.max_msg_size,
                max_obj_size: p.max_obj_size.max(1),
                dbs: books,
                max_auth_retries: 2,
                conflict_preference: match p.conflict.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
                    None => None,
                    Some(c) => Some(
                        crate::engine::ConflictPolicy::parse(c)
                            .ok_or_else(|| ConfigError::invalid(&key("conflict"), c, "expected merge, server-wins, client-wins, duplicate or newer-wins"))?
                            .as_str()
                            .to_owned(),
                    ),
                },
            },
        });
    }
    Ok(out)
}
