//! `syncmld check-config`: every problem of the configuration layers at
//! once, each with its file and line where the format allows — unknown keys
//! with the closest valid name, TOML syntax errors, bad values, missing
//! files — instead of the first error that stops `serve`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::{self, Config, ConfigError, Sources};

/// Every key the configuration knows, by section ("" = top level).
/// `users` is an array of tables with the keys listed under it. A test
/// checks that the loader accepts each of them.
pub const SCHEMA: &[(&str, &[&str])] = &[
    ("", &["role"]),
    (
        "server",
        &[
            "listen",
            "path",
            "max_body_bytes",
            "max_msg_size",
            "max_obj_size",
            "session_timeout_secs",
            "max_sessions",
            "max_finished_sessions",
            "shutdown_grace_secs",
            "metrics",
        ],
    ),
    ("storage", &["data_dir", "cache_capacity_mb"]),
    (
        "auth",
        &["schemes", "require_registered_devices", "nonce_scheme"],
    ),
    ("contacts", &["uris", "conflict_policy", "region"]),
    (
        "client",
        &[
            "device_id",
            "local_user",
            "http_timeout_secs",
            "resends",
            "max_backoff_secs",
            "poll_first",
            "vdir",
            "vdir_book",
            "vdir_interval_secs",
            "notify_listen",
            "callback_url",
        ],
    ),
    (
        "peers",
        &[
            "name",
            "url",
            "user",
            "password",
            "password_file",
            "secret",
            "secret_file",
            "auth",
            "interval_secs",
            "jitter_secs",
            "mode",
            "max_msg_size",
            "max_obj_size",
            "conflict",
            "books",
        ],
    ),
    ("peers.books", &["local", "remote", "local_uri"]),
    ("users", &["name", "password", "password_md5"]),
    ("log", &["level", "contents"]),
    ("admin", &["enabled", "socket"]),
];

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file, or the environment variable, it is in.
    pub origin: Option<String>,
    /// 1-based line in `origin`.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.origin, self.line) {
            (Some(o), Some(l)) => write!(f, "{o}:{l}: {}", self.message),
            (Some(o), None) => write!(f, "{o}: {}", self.message),
            _ => write!(f, "{}", self.message),
        }
    }
}

/// The outcome: the findings, and the validated configuration when there
/// were none.
pub struct Report {
    pub findings: Vec<Finding>,
    pub config: Option<Config>,
}

/// All dotted keys (`server.listen`, `users.name`, `role`).
fn all_keys() -> impl Iterator<Item = String> {
    SCHEMA.iter().flat_map(|(section, keys)| {
        keys.iter().map(move |k| {
            if section.is_empty() {
                (*k).to_owned()
            } else {
                format!("{section}.{k}")
            }
        })
    })
}

fn section_keys(section: &str) -> Option<&'static [&'static str]> {
    SCHEMA.iter().find(|(s, _)| *s == section).map(|(_, k)| *k)
}

/// Top-level names: the top-level keys and the section names.
fn top_level_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = section_keys("").unwrap_or(&[]).to_vec();
    v.extend(SCHEMA.iter().map(|(s, _)| *s).filter(|s| !s.is_empty()));
    v
}

/// The closest known name to `wrong` among `candidates`, if close enough
/// to be a plausible typo.
pub fn closest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wrong = wrong.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&wrong, c), c))
        .filter(|(d, c)| *d <= (c.len().max(wrong.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A suggestion for an unknown `section.key` (section "" = top level).
fn suggest(section: &str, key: &str) -> Option<String> {
    let full_name = if section.is_empty() {
        key.to_owned()
    } else {
        format!("{section}.{key}")
    };
    if section.is_empty() {
        if let Some(c) = closest(key, top_level_names()) {
            return Some(c.to_owned());
        }
    } else if let Some(c) =
        section_keys(section).and_then(|keys| closest(key, keys.iter().copied()))
    {
        return Some(format!("{section}.{c}"));
    }
    // The right key in the wrong section (e.g. `listen` at the top level).
    let all: Vec<String> = all_keys().collect();
    if let Some(exact) = all
        .iter()
        .find(|k| k.rsplit('.').next() == Some(key) && **k != full_name)
    {
        return Some(exact.clone());
    }
    closest(&full_name, all.iter().map(String::as_str)).map(str::to_owned)
}

fn unknown_message(section: &str, key: &str) -> String {
    let full = if section.is_empty() {
        key.to_owned()
    } else {
        format!("{section}.{key}")
    };
    match suggest(section, key) {
        Some(s) => format!("unknown key `{full}`; did you mean `{s}`?"),
        None => format!("unknown key `{full}`"),
    }
}

/// The 1-based line of `key` in `section` of a TOML text (the `n`-th table
/// of an array of tables when `nth` is given), found textually.
pub fn locate(text: &str, section: &str, key: Option<&str>, nth: Option<usize>) -> Option<usize> {
    let mut current = String::new();
    let mut array_index: Option<usize> = None;
    let mut seen_arrays = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(h) = line.strip_prefix("[[") {
            current = h.split("]]").next().unwrap_or("").trim().to_owned();
            if current == section {
                array_index = Some(seen_arrays);
                seen_arrays += 1;
            }
            if key.is_none() && current == section && (nth.is_none() || array_index == nth) {
                return Some(i + 1);
            }
            continue;
        }
        if let Some(h) = line.strip_prefix('[') {
            current = h.split(']').next().unwrap_or("").trim().to_owned();
            array_index = None;
            if key.is_none() && current == section {
                return Some(i + 1);
            }
            continue;
        }
        let Some(key) = key else { continue };
        let Some((name, _)) = line.split_once('=') else {
            continue;
        };
        let name = name.trim().trim_matches('"');
        let in_place = current == section && (nth.is_none() || array_index == nth);
        let dotted_top =
            current.is_empty() && !section.is_empty() && name == format!("{section}.{key}");
        if (in_place && name == key) || dotted_top {
            return Some(i + 1);
        }
    }
    None
}

/// The 1-based line of byte `offset` (any offset, boundary or not).
fn line_of_offset(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Unknown keys and syntax errors of one TOML file.
fn check_file(path: &Path, text: &str, out: &mut Vec<Finding>) {
    let origin = Some(path.display().to_string());
    let table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            let line = e.span().map(|s| line_of_offset(text, s.start));
            out.push(Finding {
                origin,
                line,
                message: format!("not valid TOML: {}", e.message().trim()),
            });
            return;
        }
    };
    for (key, value) in &table {
        match section_keys(key) {
            Some(keys) if !key.is_empty() => match value {
                toml::Value::Table(t) if key != "users" => {
                    for sub in t.keys().filter(|k| !keys.contains(&k.as_str())) {
                        out.push(Finding {
                            origin: origin.clone(),
                            line: locate(text, key, Some(sub), None),
                            message: unknown_message(key, sub),
                        });
                    }
                }
                toml::Value::Array(items) if key == "users" => {
                    for (i, item) in items.iter().enumerate() {
                        let Some(t) = item.as_table() else { continue };
                        for sub in t.keys().filter(|k| !keys.contains(&k.as_str())) {
                            out.push(Finding {
                                origin: origin.clone(),
                                line: locate(text, key, Some(sub), Some(i)),
                                message: unknown_message(key, sub),
                            });
                        }
                    }
                }
                // Wrong shape: the loader reports it below with the key.
                _ => {}
            },
            _ if section_keys("").is_some_and(|k| k.contains(&key.as_str())) => {}
            _ => out.push(Finding {
                origin: origin.clone(),
                line: locate(text, "", Some(key), None).or_else(|| locate(text, key, None, None)),
                message: unknown_message("", key),
            }),
        }
    }
}

/// Unknown `SYNCMLD__*` variables.
fn check_env(src: &Sources, out: &mut Vec<Finding>) {
    let mut names: Vec<&String> = src
        .env
        .keys()
        .filter(|k| k.to_ascii_uppercase().starts_with("SYNCMLD__"))
        .collect();
    names.sort();
    for name in names {
        let path = name["SYNCMLD__".len()..].to_ascii_lowercase();
        let parts: Vec<&str> = path.split("__").collect();
        let known = match parts.as_slice() {
            [key] => section_keys("").is_some_and(|k| k.contains(key)),
            [section, key] if *section != "users" => {
                section_keys(section).is_some_and(|k| k.contains(key))
            }
            _ => false,
        };
        if !known {
            let (section, key) = match parts.as_slice() {
                [key] => ("", *key),
                [section, key, ..] => (*section, *key),
                [] => ("", ""),
            };
            out.push(Finding {
                origin: Some(format!("environment variable {name}")),
                line: None,
                message: unknown_message(section, key),
            });
        }
    }
}

/// Check everything `serve` would load from `src`.
pub fn check(src: &Sources) -> Report {
    let mut findings = Vec::new();
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    if let Some(etc) = src.etc_file {
        let path = src.cwd.join(etc);
        if path.is_file() {
            match std::fs::read_to_string(&path) {
                Ok(text) => files.push((path, text)),
                Err(e) => findings.push(Finding {
                    origin: Some(path.display().to_string()),
                    line: None,
                    message: format!("cannot read: {e}"),
                }),
            }
        }
    }
    if let Some(file) = src.config_file {
        let path = src.cwd.join(file);
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push((path, text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => findings.push(Finding {
                origin: Some(path.display().to_string()),
                line: None,
                message: "configuration file not found".into(),
            }),
            Err(e) => findings.push(Finding {
                origin: Some(path.display().to_string()),
                line: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    for (path, text) in &files {
        check_file(path, text, &mut findings);
    }
    check_env(src, &mut findings);
    if !findings.is_empty() {
        return Report {
            findings,
            config: None,
        };
    }
    // Types and values: the loader stops at the first, with the key.
    match config::load_from_sources(src) {
        Ok(cfg) => Report {
            findings,
            config: Some(cfg),
        },
        Err(e) => {
            findings.push(value_finding(&e, &files, src));
            Report {
                findings,
                config: None,
            }
        }
    }
}

/// Where a value error is: the highest layer that sets the key.
fn value_finding(e: &ConfigError, files: &[(PathBuf, String)], src: &Sources) -> Finding {
    let key = match e {
        ConfigError::Invalid { key, .. } | ConfigError::UnknownKey { key, .. } => Some(key.clone()),
        ConfigError::Load(
            ::config::ConfigError::At { key: Some(k), .. }
            | ::config::ConfigError::Type { key: Some(k), .. },
        ) => Some(k.clone()),
        _ => None,
    };
    let Some(key) = key else {
        return Finding {
            origin: None,
            line: None,
            message: e.to_string(),
        };
    };
    // `users[1].name` → section users, key name, table 1.
    let (section, name, nth) = split_key(&key);
    let env_name = format!("SYNCMLD__{}", key.replace('.', "__")).to_ascii_uppercase();
    if let Some(var) = src.env.keys().find(|k| k.to_ascii_uppercase() == env_name) {
        return Finding {
            origin: Some(format!("environment variable {var}")),
            line: None,
            message: e.to_string(),
        };
    }
    for (path, text) in files.iter().rev() {
        if let Some(line) = locate(text, &section, Some(&name), nth) {
            return Finding {
                origin: Some(path.display().to_string()),
                line: Some(line),
                message: e.to_string(),
            };
        }
    }
    Finding {
        origin: None,
        line: None,
        message: e.to_string(),
    }
}

fn split_key(key: &str) -> (String, String, Option<usize>) {
    let (section, name) = match key.rsplit_once('.') {
        Some((s, n)) => (s.to_owned(), n.to_owned()),
        None => (String::new(), key.to_owned()),
    };
    match section.split_once('[') {
        Some((s, rest)) => {
            let nth = rest.trim_end_matches(']').parse().ok();
            (s.to_owned(), name, nth)
        }
        None => (section, name, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(text: &str, env: &[(&str, &str)]) -> (Vec<String>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, text).unwrap();
        let src = Sources {
            config_file: Some(&file),
            etc_file: None,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
            cwd: dir.path(),
        };
        let r = check(&src);
        let shown = r
            .findings
            .iter()
            .map(|f| {
                let s = f.to_string();
                s.replace(&dir.path().display().to_string(), "DIR")
            })
            .collect();
        (shown, dir)
    }

    #[test]
    fn every_schema_key_is_accepted_by_the_loader() {
        let dir = tempfile::tempdir().unwrap();
        for key in all_keys() {
            let (section, name) = key.rsplit_once('.').unwrap_or(("", &key));
            let text = if section == "users" {
                format!("[[users]]\n{name} = \"x\"\n")
            } else if section.is_empty() {
                format!("{name} = \"x\"\n")
            } else {
                format!("[{section}]\n{name} = \"x\"\n")
            };
            let file = dir.path().join("k.toml");
            std::fs::write(&file, &text).unwrap();
            let src = Sources {
                config_file: Some(&file),
                etc_file: None,
                env: HashMap::new(),
                cwd: dir.path(),
            };
            if let Err(ConfigError::UnknownKey { key: k, .. }) = config::load_raw(&src) {
                panic!("{key}: the loader does not know {k}");
            }
        }
    }

    #[test]
    fn client_example_uses_only_schema_keys() {
        let text = include_str!("../../conf/client.toml");
        let (findings, _d) = run(text, &[]);
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn embedded_defaults_use_only_schema_keys() {
        let (findings, _d) = run(config::EMBEDDED_DEFAULTS, &[]);
        assert!(findings.is_empty(), "{findings:?}");
        // Commented-out keys of the documented example are known too.
        for line in config::EMBEDDED_DEFAULTS.lines() {
            if let Some(k) = line.strip_prefix("# ").and_then(|l| l.split_once(" = ")) {
                let name = k.0.trim();
                if !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    continue;
                }
                assert!(
                    all_keys().any(|full| full.rsplit('.').next() == Some(name)),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn unknown_keys_get_the_closest_name_and_a_line() {
        let text = "role = \"server\"\n\n[server]\nlisten = \"127.0.0.1:1\"\nlisen = 1\nmax_sesions = 3\n\n[storage]\ndatadir = \"/x\"\n\n[[users]]\nname = \"a\"\npassword = \"b\"\n[[users]]\nname = \"c\"\npasword = \"d\"\n\n[logg]\nlevel = \"info\"\n";
        let (mut f, _d) = run(text, &[("SYNCMLD__SERVER__LISTN", "x")]);
        f.sort();
        let mut want = vec![
            "DIR/c.toml:6: unknown key `server.max_sesions`; did you mean `server.max_sessions`?",
            "DIR/c.toml:5: unknown key `server.lisen`; did you mean `server.listen`?",
            "DIR/c.toml:9: unknown key `storage.datadir`; did you mean `storage.data_dir`?",
            "DIR/c.toml:16: unknown key `users.pasword`; did you mean `users.password`?",
            "DIR/c.toml:18: unknown key `logg`; did you mean `log`?",
            "environment variable SYNCMLD__SERVER__LISTN: unknown key `server.listn`; did you mean `server.listen`?",
        ];
        want.sort();
        assert_eq!(f, want);
    }

    #[test]
    fn syntax_errors_and_bad_values_have_lines() {
        let (f, _d) = run("[server]\nlisten = \"127.0.0.1:1\"\npath = \n", &[]);
        assert_eq!(f.len(), 1);
        assert!(f[0].starts_with("DIR/c.toml:3: not valid TOML"), "{f:?}");

        let (f, _d) = run("[server]\n\nmax_sessions = 0\n", &[]);
        assert_eq!(
            f,
            vec!["DIR/c.toml:3: invalid `server.max_sessions` = 0: must be positive"]
        );
        let (f, _d) = run("[log]\ncontents = \"maybe\"\n", &[]);
        assert_eq!(f.len(), 1);
        assert!(f[0].starts_with("DIR/c.toml:2: "), "{f:?}");
        let (f, _d) = run("", &[("SYNCMLD__SERVER__LISTEN", "nowhere")]);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].starts_with(
                "environment variable SYNCMLD__SERVER__LISTEN: invalid `server.listen`"
            ),
            "{f:?}"
        );
    }

    #[test]
    fn missing_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let src = Sources {
            config_file: Some(Path::new("nope.toml")),
            etc_file: None,
            env: HashMap::new(),
            cwd: dir.path(),
        };
        let r = check(&src);
        assert_eq!(r.findings.len(), 1);
        assert!(
            r.findings[0]
                .to_string()
                .ends_with("nope.toml: configuration file not found")
        );
    }

    #[test]
    fn closest_needs_plausible_typos() {
        assert_eq!(closest("lisen", ["listen", "path"]), Some("listen"));
        assert_eq!(closest("zzzzzzzz", ["listen", "path"]), None);
    }
}
