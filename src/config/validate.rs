//! The checks that turn [`RawSettings`] into a [`Config`]: each failure
//! names the key.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;

use super::ConfigError;
use super::model::{
    Admin, Auth, Config, ConflictPolicy, Contacts, Log, Role, Server, Storage, User,
};
use super::raw::{
    RawAdmin, RawAuth, RawContacts, RawLog, RawServer, RawSettings, RawStorage, RawUser,
};
use crate::auth::{self, Scheme};

impl Config {
    /// Checks every raw value. `env` supplies `STATE_DIRECTORY` for the
    /// default data directory; relative paths are resolved against `cwd`.
    pub fn from_raw(
        raw: RawSettings,
        env: &HashMap<String, String>,
        cwd: &Path,
    ) -> Result<Config, ConfigError> {
        let client = super::peers::client(&raw.client, cwd)?;
        let peers = super::peers::peers(raw.peers, &client, cwd)?;
        let storage = storage(&raw.storage, env, cwd)?;
        Ok(Config {
            client,
            peers,
            role: role(&raw.role)?,
            server: server(&raw.server)?,
            admin: admin(&raw.admin, &storage, env, cwd)?,
            storage,
            auth: auth(&raw.auth)?,
            contacts: contacts(&raw.contacts)?,
            users: users(raw.users)?,
            log: log(raw.log)?,
        })
    }
}

fn role(raw: &str) -> Result<Role, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "server" => Ok(Role::Server),
        "client" => Ok(Role::Client),
        _ => Err(ConfigError::invalid(
            "role",
            raw,
            "expected \"server\" or \"client\"",
        )),
    }
}

fn server(raw: &RawServer) -> Result<Server, ConfigError> {
    let listen = raw.listen.trim().parse::<SocketAddr>().map_err(|_| {
        ConfigError::invalid(
            "server.listen",
            &raw.listen,
            "expected IP:port, e.g. \"127.0.0.1:8080\" or \"[::]:8080\"",
        )
    })?;
    if !raw.path.starts_with('/')
        || raw.path.contains(['?', '#'])
        || raw.path.contains(char::is_whitespace)
    {
        return Err(ConfigError::invalid(
            "server.path",
            &raw.path,
            "expected a URL path starting with '/', without query, fragment or spaces",
        ));
    }
    let max_body_bytes = positive_usize("server.max_body_bytes", raw.max_body_bytes)?;
    let max_msg_size = positive("server.max_msg_size", raw.max_msg_size)?;
    if max_msg_size.get() > raw.max_body_bytes {
        return Err(ConfigError::invalid(
            "server.max_msg_size",
            raw.max_msg_size,
            format!(
                "larger than server.max_body_bytes ({}): clients would send messages we refuse",
                raw.max_body_bytes
            ),
        ));
    }
    let max_sessions = positive_usize("server.max_sessions", raw.max_sessions)?;
    let max_finished_sessions =
        positive_usize("server.max_finished_sessions", raw.max_finished_sessions)?;
    Ok(Server {
        listen,
        path: raw.path.clone(),
        max_body_bytes,
        max_msg_size,
        max_obj_size: positive("server.max_obj_size", raw.max_obj_size)?,
        session_timeout: Duration::from_secs(
            positive("server.session_timeout_secs", raw.session_timeout_secs)?.get(),
        ),
        max_sessions,
        max_finished_sessions,
        shutdown_grace: Duration::from_secs(raw.shutdown_grace_secs),
        metrics: raw.metrics,
    })
}

fn admin(
    raw: &RawAdmin,
    storage: &Storage,
    env: &HashMap<String, String>,
    cwd: &Path,
) -> Result<Admin, ConfigError> {
    let socket = match raw.socket.as_deref() {
        Some("") => {
            return Err(ConfigError::invalid(
                "admin.socket",
                "",
                "must not be empty (omit it for the default)",
            ));
        }
        Some(p) => cwd.join(p),
        // systemd may list several directories separated by ':'; ours is the first.
        None => match env
            .get("RUNTIME_DIRECTORY")
            .and_then(|s| s.split(':').find(|p| !p.is_empty()))
        {
            Some(run) => cwd.join(run).join("admin.sock"),
            None => storage.data_dir.join("admin.sock"),
        },
    };
    // sun_path holds 108 bytes including the terminating NUL.
    if socket.as_os_str().len() > 107 {
        return Err(ConfigError::invalid(
            "admin.socket",
            socket.display().to_string(),
            "longer than the 107 bytes a Unix socket path may have",
        ));
    }
    Ok(Admin {
        enabled: raw.enabled,
        socket,
    })
}

fn storage(
    raw: &RawStorage,
    env: &HashMap<String, String>,
    cwd: &Path,
) -> Result<Storage, ConfigError> {
    let dir = match raw.data_dir.as_deref() {
        Some("") => {
            return Err(ConfigError::invalid(
                "storage.data_dir",
                "",
                "must not be empty (omit it for the default)",
            ));
        }
        Some(d) => PathBuf::from(d),
        // systemd may list several directories separated by ':'; ours is the first.
        None => match env
            .get("STATE_DIRECTORY")
            .and_then(|s| s.split(':').find(|p| !p.is_empty()))
        {
            Some(state) => PathBuf::from(state),
            None => PathBuf::from("syncmld-data"),
        },
    };
    let cache_capacity_bytes = raw
        .cache_capacity_mb
        .checked_mul(1 << 20)
        .and_then(NonZeroU64::new)
        .ok_or_else(|| {
            ConfigError::invalid(
                "storage.cache_capacity_mb",
                raw.cache_capacity_mb,
                "expected 1 or more (MiB)",
            )
        })?;
    Ok(Storage {
        data_dir: cwd.join(dir),
        cache_capacity_bytes,
    })
}

fn auth(raw: &RawAuth) -> Result<Auth, ConfigError> {
    let mut schemes = Vec::new();
    for name in &raw.schemes {
        let s = Scheme::from_name(name).ok_or_else(|| {
            ConfigError::invalid("auth.schemes", name, one_of(Scheme::ALL.map(|s| s.name())))
        })?;
        if !schemes.contains(&s) {
            schemes.push(s);
        }
    }
    if schemes.is_empty() {
        return Err(ConfigError::invalid(
            "auth.schemes",
            &raw.schemes,
            "at least one scheme is needed",
        ));
    }
    let nonce_scheme = Scheme::from_name(&raw.nonce_scheme)
        .filter(Scheme::uses_nonce)
        .ok_or_else(|| {
            ConfigError::invalid(
                "auth.nonce_scheme",
                &raw.nonce_scheme,
                one_of(["md5", "hmac"]),
            )
        })?;
    let any_nonce_scheme = schemes.iter().any(Scheme::uses_nonce);
    if any_nonce_scheme && !schemes.contains(&nonce_scheme) {
        return Err(ConfigError::invalid(
            "auth.nonce_scheme",
            &raw.nonce_scheme,
            "not listed in auth.schemes",
        ));
    }
    Ok(Auth {
        schemes,
        require_registered_devices: raw.require_registered_devices,
        nonce_scheme: any_nonce_scheme.then_some(nonce_scheme),
    })
}

fn contacts(raw: &RawContacts) -> Result<Contacts, ConfigError> {
    let mut uris: Vec<String> = Vec::new();
    for uri in &raw.uris {
        let n = normalise_uri(uri);
        if n.is_empty() {
            return Err(ConfigError::invalid(
                "contacts.uris",
                uri,
                "empty datastore name",
            ));
        }
        if !uris.contains(&n) {
            uris.push(n);
        }
    }
    if uris.is_empty() {
        return Err(ConfigError::invalid(
            "contacts.uris",
            &raw.uris,
            "at least one datastore name is needed",
        ));
    }
    let policy = raw.conflict_policy.trim().to_ascii_lowercase();
    let conflict_policy = ConflictPolicy::NAMES
        .iter()
        .find(|(n, _)| *n == policy)
        .map(|(_, p)| *p)
        .ok_or_else(|| {
            ConfigError::invalid(
                "contacts.conflict_policy",
                &raw.conflict_policy,
                one_of(ConflictPolicy::NAMES.map(|(n, _)| n)),
            )
        })?;
    let region = crate::contacts::Region::new(&raw.region);
    if !raw.region.trim().is_empty() && !region.is_known() {
        return Err(ConfigError::invalid(
            "contacts.region",
            &raw.region,
            "expected an ISO 3166-1 alpha-2 code such as \"DE\", or \"\"",
        ));
    }
    Ok(Contacts {
        uris,
        conflict_policy,
        region,
    })
}

fn users(raw: Vec<RawUser>) -> Result<Vec<User>, ConfigError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    // Consumes the raw users so the plaintext passwords are dropped here.
    for (i, u) in raw.into_iter().enumerate() {
        let key = &format!("users[{i}].name");
        if u.name.is_empty() || u.name.contains(':') || u.name.trim() != u.name {
            return Err(ConfigError::invalid(
                key,
                &u.name,
                "expected a non-empty name without ':' or surrounding spaces",
            ));
        }
        if !seen.insert(u.name.clone()) {
            return Err(ConfigError::invalid(key, &u.name, "defined twice"));
        }
        let md5_userpass = match (u.password, u.password_md5) {
            (Some(p), None) => auth::userpass_digest(&u.name, &p),
            (None, Some(d)) => {
                check_digest(&format!("users[{i}].password_md5"), &u.name, d.trim())?
            }
            _ => {
                return Err(ConfigError::invalid(
                    key,
                    &u.name,
                    "give exactly one of `password` and `password_md5`",
                ));
            }
        };
        out.push(User {
            name: u.name,
            md5_userpass,
        });
    }
    Ok(out)
}

/// A `password_md5` must be the Base64 of 16 bytes; stored normalised.
fn check_digest(key: &str, name: &str, digest: &str) -> Result<String, ConfigError> {
    let engine = base64::engine::general_purpose::STANDARD;
    match engine.decode(digest) {
        Ok(raw) if raw.len() == 16 => Ok(engine.encode(raw)),
        // The value is password-equivalent: name the user, not the digest.
        _ => Err(ConfigError::invalid(
            key,
            name,
            "expected B64(MD5(\"name:password\")), 24 characters",
        )),
    }
}

fn log(raw: RawLog) -> Result<Log, ConfigError> {
    if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&raw.level) {
        return Err(ConfigError::invalid("log.level", &raw.level, e.to_string()));
    }
    Ok(Log {
        level: raw.level,
        contents: raw.contents,
    })
}

fn positive(key: &str, v: u64) -> Result<NonZeroU64, ConfigError> {
    NonZeroU64::new(v).ok_or_else(|| ConfigError::invalid(key, v, "must be positive"))
}

fn positive_usize(key: &str, v: u64) -> Result<NonZeroUsize, ConfigError> {
    usize::try_from(v)
        .ok()
        .and_then(NonZeroUsize::new)
        .ok_or_else(|| ConfigError::invalid(key, v, "must be positive"))
}

fn one_of<const N: usize>(names: [&str; N]) -> String {
    format!(
        "expected one of {}",
        names.map(|n| format!("\"{n}\"")).join(", ")
    )
}

pub(crate) fn normalise_uri(uri: &str) -> String {
    uri.trim().trim_start_matches("./").to_ascii_lowercase()
}
