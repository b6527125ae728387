//! Configuration in two stages, ripgrep style: layered sources are merged
//! into [`RawSettings`] (serde, loose types, unknown keys rejected), then
//! [`Config::from_raw`] checks every value and produces the typed [`Config`]
//! the rest of the daemon is given explicitly.
//!
//! Layers, lowest first (later wins, key by key): the embedded
//! `conf/server.toml`; `/etc/syncmld/syncmld.toml` if it exists; the
//! `--config` file (must exist); environment variables
//! `SYNCMLD__SECTION__KEY`.

mod error;
mod model;
mod peers;
mod raw;
mod validate;

use std::collections::HashMap;
use std::path::Path;

use ::config::{Environment, File, FileFormat};

pub use error::ConfigError;
pub use model::{Admin, Auth, Config, ConflictPolicy, Contacts, Log, Role, Server, Storage, User};
pub use peers::{Client, MODES, Peer, RawBook, RawClient, RawPeer, mode_by_name, mode_name};
pub use raw::{
    RawAdmin, RawAuth, RawContacts, RawLog, RawServer, RawSettings, RawStorage, RawUser,
};

/// The system-wide configuration file, layered under `--config`.
pub const ETC_CONFIG: &str = "/etc/syncmld/syncmld.toml";

/// The built-in defaults, also the documented example.
pub const EMBEDDED_DEFAULTS: &str = include_str!("../../conf/server.toml");

const ENV_PREFIX: &str = "SYNCMLD";
const ENV_SEPARATOR: &str = "__";
/// Keys whose environment values are comma-separated lists.
const ENV_LIST_KEYS: [&str; 2] = ["auth.schemes", "contacts.uris"];

/// What a load reads besides the files: the process environment (for
/// `SYNCMLD__*` and `STATE_DIRECTORY`) and the working directory relative
/// paths are resolved against. Tests build it by hand.
#[derive(Debug, Clone)]
pub struct Sources<'a> {
    pub config_file: Option<&'a Path>,
    pub etc_file: Option<&'a Path>,
    pub env: HashMap<String, String>,
    pub cwd: &'a Path,
}

/// Loads the configuration of this process: `config_file` is `--config`,
/// `etc_file` normally [`ETC_CONFIG`].
pub fn load(config_file: Option<&Path>, etc_file: Option<&Path>) -> Result<Config, ConfigError> {
    let cwd = std::env::current_dir().map_err(ConfigError::WorkingDir)?;
    let env = process_env()?;
    load_from_sources(&Sources {
        config_file,
        etc_file,
        env,
        cwd: &cwd,
    })
}

/// Loads and validates from explicit sources.
pub fn load_from_sources(src: &Sources) -> Result<Config, ConfigError> {
    Config::from_raw(load_raw(src)?, &src.env, src.cwd)
}

/// The merged raw settings, before validation (for `check-config`).
pub fn load_raw(src: &Sources) -> Result<RawSettings, ConfigError> {
    let mut builder =
        ::config::Config::builder().add_source(File::from_str(EMBEDDED_DEFAULTS, FileFormat::Toml));
    if let Some(etc) = src.etc_file {
        let etc = src.cwd.join(etc);
        builder = builder.add_source(File::from(etc).format(FileFormat::Toml).required(false));
    }
    if let Some(file) = src.config_file {
        // Relative to the given working directory, not whatever the process
        // happens to have (absolute paths are kept as they are).
        let file = src.cwd.join(file);
        // Checked here rather than with `required(true)` so the error is a
        // clear "not found" naming the path.
        if !file.is_file() {
            return Err(ConfigError::FileNotFound { path: file });
        }
        builder = builder.add_source(File::from(file).format(FileFormat::Toml).required(true));
    }
    let mut env = Environment::with_prefix(ENV_PREFIX)
        .prefix_separator(ENV_SEPARATOR)
        .separator(ENV_SEPARATOR)
        .try_parsing(true)
        .list_separator(",")
        .source(Some(
            src.env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ));
    for key in ENV_LIST_KEYS {
        env = env.with_list_parse_key(key);
    }
    let merged = builder.add_source(env).build()?;
    merged
        .try_deserialize::<RawSettings>()
        .map_err(|e| error::classify(e, |key| origin_of(key, src)))
}

/// Which layer set `key` (highest precedence first), for error messages.
fn origin_of(key: &str, src: &Sources) -> Option<String> {
    let var = format!(
        "{ENV_PREFIX}{ENV_SEPARATOR}{}",
        key.replace('.', ENV_SEPARATOR)
    );
    if let Some(name) = src.env.keys().find(|k| k.eq_ignore_ascii_case(&var)) {
        return Some(format!("environment variable {name}"));
    }
    [src.config_file, src.etc_file]
        .into_iter()
        .flatten()
        .map(|f| src.cwd.join(f))
        .find_map(|file| {
            let alone = ::config::Config::builder()
                .add_source(
                    File::from(file.as_path())
                        .format(FileFormat::Toml)
                        .required(false),
                )
                .build()
                .ok()?;
            alone
                .get::<::config::Value>(key)
                .ok()
                .map(|_| file.display().to_string())
        })
}

/// The process environment as strings. A non-UTF-8 `SYNCMLD__*` variable is
/// an error (it was meant for us); other non-UTF-8 variables are skipped.
pub fn process_env() -> Result<HashMap<String, String>, ConfigError> {
    let mut out = HashMap::new();
    for (k, v) in std::env::vars_os() {
        match (k.into_string(), v.into_string()) {
            (Ok(k), Ok(v)) => {
                out.insert(k, v);
            }
            (Ok(k), Err(_)) if k.to_ascii_uppercase().starts_with("SYNCMLD__") => {
                return Err(ConfigError::NonUnicodeEnv { name: k });
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
