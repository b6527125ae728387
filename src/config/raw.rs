//! The raw settings: what the layered sources say, before validation.
//!
//! Field types are as loose as the sources (strings, integers) so that
//! every semantic check happens in one place, `validate`, with an error
//! naming the key. `deny_unknown_fields` everywhere makes typos fail at start.
//! The `Default` impls equal `conf/server.toml` (a test keeps them equal).

use std::fmt;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSettings {
    pub role: String,
    pub server: RawServer,
    pub storage: RawStorage,
    pub auth: RawAuth,
    pub contacts: RawContacts,
    pub users: Vec<RawUser>,
    pub log: RawLog,
    pub client: super::peers::RawClient,
    pub peers: Vec<super::peers::RawPeer>,
    pub admin: RawAdmin,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    pub listen: String,
    pub path: String,
    pub max_body_bytes: u64,
    pub max_msg_size: u64,
    pub max_obj_size: u64,
    pub session_timeout_secs: u64,
    pub max_sessions: u64,
    pub max_finished_sessions: u64,
    pub shutdown_grace_secs: u64,
    pub metrics: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStorage {
    /// Absent: `$STATE_DIRECTORY` (systemd) if set, else `./syncmld-data`.
    pub data_dir: Option<String>,
    pub cache_capacity_mb: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuth {
    pub schemes: Vec<String>,
    pub require_registered_devices: bool,
    pub nonce_scheme: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawContacts {
    pub uris: Vec<String>,
    pub conflict_policy: String,
    /// ISO 3166 code for phone numbers without a country code ("" = none).
    pub region: String,
}

/// A development user. Exactly one of `password` / `password_md5`.
#[derive(Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawUser {
    pub name: String,
    pub password: Option<String>,
    /// `B64(MD5("name:password"))`, as stored and as `auth::userpass_digest`.
    pub password_md5: Option<String>,
}

/// Never print passwords, not even in a debug dump of the settings.
impl fmt::Debug for RawUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("RawUser")
            .field("name", &self.name)
            .field("password", &redact(&self.password))
            .field("password_md5", &redact(&self.password_md5))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    pub level: String,
    pub contents: bool,
}

/// The local admin socket of a running daemon.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAdmin {
    pub enabled: bool,
    /// Absent: `$RUNTIME_DIRECTORY/admin.sock` (systemd) if set, else
    /// `admin.sock` in the data directory.
    pub socket: Option<String>,
}

impl Default for RawAdmin {
    fn default() -> Self {
        RawAdmin {
            enabled: true,
            socket: None,
        }
    }
}

impl Default for RawSettings {
    fn default() -> Self {
        RawSettings {
            role: "server".into(),
            server: RawServer::default(),
            storage: RawStorage::default(),
            auth: RawAuth::default(),
            contacts: RawContacts::default(),
            users: Vec::new(),
            log: RawLog::default(),
            client: Default::default(),
            peers: Vec::new(),
            admin: RawAdmin::default(),
        }
    }
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: "127.0.0.1:8080".into(),
            path: "/sync".into(),
            max_body_bytes: 4 * 1024 * 1024,
            max_msg_size: 150_000,
            max_obj_size: 4_000_000,
            session_timeout_secs: 300,
            max_sessions: 10_000,
            max_finished_sessions: 100_000,
            shutdown_grace_secs: 10,
            metrics: true,
        }
    }
}

impl Default for RawStorage {
    fn default() -> Self {
        RawStorage {
            data_dir: None,
            cache_capacity_mb: 64,
        }
    }
}

impl Default for RawAuth {
    fn default() -> Self {
        RawAuth {
            schemes: ["md5", "hmac", "basic", "device"]
                .map(String::from)
                .to_vec(),
            require_registered_devices: false,
            nonce_scheme: "md5".into(),
        }
    }
}

impl Default for RawContacts {
    fn default() -> Self {
        RawContacts {
            uris: ["addressbook", "contacts", "card", "pab"]
                .map(String::from)
                .to_vec(),
            conflict_policy: "merge".into(),
            region: String::new(),
        }
    }
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            level: "info".into(),
            contents: false,
        }
    }
}
