//! Configuration errors: each names the key (or file) and says why.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file given with `--config` does not exist.
    #[error("configuration file {} not found", path.display())]
    FileNotFound { path: PathBuf },

    /// A key no section has: usually a typo. `origin` is the file or
    /// environment variable it came from, when known; `expected` lists the
    /// valid keys of that section.
    #[error("unknown configuration key `{key}`{} ({expected})", in_source(origin))]
    UnknownKey {
        key: String,
        origin: Option<String>,
        expected: String,
    },

    /// A file that is not valid TOML, or a value of the wrong type; the
    /// message of the `config` crate names the key and the file.
    #[error("{0}")]
    Load(#[from] ::config::ConfigError),

    /// A value of the right type that makes no sense.
    #[error("invalid `{key}` = {value}: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },

    #[error("cannot determine the working directory: {0}")]
    WorkingDir(#[source] std::io::Error),

    #[error("environment variable {name} is not valid UTF-8")]
    NonUnicodeEnv { name: String },
}

fn in_source(origin: &Option<String>) -> String {
    origin
        .as_ref()
        .map(|s| format!(" in {s}"))
        .unwrap_or_default()
}

impl ConfigError {
    pub(crate) fn invalid(
        key: &str,
        value: impl std::fmt::Debug,
        reason: impl Into<String>,
    ) -> Self {
        ConfigError::Invalid {
            key: key.to_owned(),
            value: format!("{value:?}"),
            reason: reason.into(),
        }
    }
}

/// Turns serde's "unknown field" (which the `config` crate reports with the
/// section as its key, but without the source) into [`ConfigError::UnknownKey`]
/// with the full key and, through `origin_of`, the file or variable it came
/// from. Everything else stays a [`ConfigError::Load`].
pub(crate) fn classify(
    e: ::config::ConfigError,
    origin_of: impl FnOnce(&str) -> Option<String>,
) -> ConfigError {
    let (section, msg) = match &e {
        ::config::ConfigError::At { error, key, .. } => match error.as_ref() {
            ::config::ConfigError::Message(m) => (key.as_deref(), m.as_str()),
            _ => return ConfigError::Load(e),
        },
        ::config::ConfigError::Message(m) => (None, m.as_str()),
        _ => return ConfigError::Load(e),
    };
    let Some((field, rest)) = msg
        .strip_prefix("unknown field `")
        .and_then(|r| r.split_once('`'))
    else {
        return ConfigError::Load(e);
    };
    let key = match section {
        Some(s) if !s.is_empty() => format!("{s}.{field}"),
        _ => field.to_owned(),
    };
    let expected = rest.trim_start_matches(',').trim().to_owned();
    let origin = origin_of(&key);
    ConfigError::UnknownKey {
        key,
        origin,
        expected,
    }
}
