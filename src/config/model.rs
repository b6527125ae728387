//! The validated configuration.
//!
//! No `Default`: a `Config` only comes from [`Config::from_raw`], so every
//! value in it has been checked. Plaintext passwords never reach it.

use std::fmt;
use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use super::validate::normalise_uri;
use crate::auth::Scheme;

#[derive(Debug, Clone)]
pub struct Config {
    pub role: Role,
    pub server: Server,
    pub storage: Storage,
    pub auth: Auth,
    pub contacts: Contacts,
    /// Development users from the configuration file.
    pub users: Vec<User>,
    pub log: Log,
    /// Client role: this platform.
    pub client: super::peers::Client,
    /// Client role: the backup servers.
    pub peers: Vec<super::peers::Peer>,
    pub admin: Admin,
}

impl Config {
    /// Use another data directory (`--data-dir`). An admin socket that
    /// defaulted to the old data directory moves along with it.
    pub fn set_data_dir(&mut self, dir: PathBuf) {
        if self.admin.socket == self.storage.data_dir.join("admin.sock") {
            self.admin.socket = dir.join("admin.sock");
        }
        self.storage.data_dir = dir;
    }
}

/// Which side of SyncML this daemon plays; `main` decides what it supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub listen: SocketAddr,
    /// Starts with `/`.
    pub path: String,
    /// HTTP request body limit; at least `max_msg_size`.
    pub max_body_bytes: NonZeroUsize,
    /// MaxMsgSize we announce.
    pub max_msg_size: NonZeroU64,
    /// MaxObjSize we announce.
    pub max_obj_size: NonZeroU64,
    pub session_timeout: Duration,
    pub max_sessions: NonZeroUsize,
    /// Finished sessions whose last reply is kept for resends; beyond this
    /// the oldest are forgotten before their timeout.
    pub max_finished_sessions: NonZeroUsize,
    /// How long in-flight requests may run after SIGTERM.
    pub shutdown_grace: Duration,
    /// Serve `GET /metrics` (Prometheus text format).
    pub metrics: bool,
}

#[derive(Debug, Clone)]
pub struct Storage {
    /// Absolute.
    pub data_dir: PathBuf,
    pub cache_capacity_bytes: NonZeroU64,
}

#[derive(Debug, Clone)]
pub struct Auth {
    /// Accepted schemes, no duplicates, in the configured order.
    pub schemes: Vec<Scheme>,
    pub require_registered_devices: bool,
    /// The nonce scheme offered in a `Chal` when no `Cred` came; `None` when
    /// neither md5 nor hmac is accepted.
    pub nonce_scheme: Option<Scheme>,
}

impl Auth {
    pub fn accepts(&self, scheme: Scheme) -> bool {
        self.schemes.contains(&scheme)
    }

    /// `schemes` with `nonce_scheme` first: the order the engine should
    /// prefer when it challenges.
    pub fn challenge_order(&self) -> Vec<Scheme> {
        let rest = self
            .schemes
            .iter()
            .copied()
            .filter(|s| Some(*s) != self.nonce_scheme);
        self.nonce_scheme.into_iter().chain(rest).collect()
    }
}

#[derive(Debug, Clone)]
pub struct Contacts {
    /// Normalised: lower case, no leading `./`, no duplicates.
    pub uris: Vec<String>,
    pub conflict_policy: ConflictPolicy,
    /// Default region of phone numbers for matching.
    pub region: crate::contacts::Region,
}

impl Contacts {
    /// Whether a client's datastore URI names the contacts book.
    pub fn matches_uri(&self, uri: &str) -> bool {
        let want = normalise_uri(uri);
        self.uris.contains(&want)
    }
}

pub use crate::engine::ConflictPolicy;

/// A user defined in the configuration, already reduced to the stored form.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// `B64(MD5("name:password"))`: password-equivalent for auth-md5.
    pub md5_userpass: String,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("md5_userpass", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Log {
    /// A `tracing_subscriber::EnvFilter` directive string, already checked.
    pub level: String,
    /// Log contact data and credentials.
    pub contents: bool,
}

/// The admin socket (`syncmld user …` etc. while the daemon runs).
#[derive(Debug, Clone)]
pub struct Admin {
    pub enabled: bool,
    /// Absolute path of the Unix socket.
    pub socket: PathBuf,
}
