//! Layering and validation. No test touches the process environment or
//! `/etc`: sources are passed in.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::*;
use crate::auth::{Scheme, userpass_digest};

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn sources<'a>(
        &'a self,
        config: Option<&'a Path>,
        etc: Option<&'a Path>,
        env: &[(&str, &str)],
    ) -> Sources<'a> {
        Sources {
            config_file: config,
            etc_file: etc,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cwd: self.dir.path(),
        }
    }

    fn load(
        &self,
        config: Option<&Path>,
        etc: Option<&Path>,
        env: &[(&str, &str)],
    ) -> Result<Config, ConfigError> {
        load_from_sources(&self.sources(config, etc, env))
    }

    /// Loads with only a `--config` file with this text.
    fn load_text(&self, text: &str) -> Result<Config, ConfigError> {
        let f = self.file("syncmld.toml", text);
        self.load(Some(&f), None, &[])
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn invalid_key(e: ConfigError) -> String {
    match e {
        ConfigError::Invalid { key, .. } => key,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn defaults_load() {
    let fx = Fixture::new();
    let c = fx.load(None, None, &[]).unwrap();
    assert_eq!(c.role, Role::Server);
    assert_eq!(c.server.listen, addr("127.0.0.1:8080"));
    assert_eq!(c.server.path, "/sync");
    assert_eq!(c.server.max_body_bytes.get(), 4 << 20);
    assert_eq!(c.server.max_msg_size.get(), 150_000);
    assert_eq!(c.server.max_obj_size.get(), 4_000_000);
    assert_eq!(
        c.server.session_timeout,
        std::time::Duration::from_secs(300)
    );
    assert_eq!(c.server.max_sessions.get(), 10_000);
    assert_eq!(c.storage.data_dir, fx.dir.path().join("syncmld-data"));
    assert_eq!(c.storage.cache_capacity_bytes.get(), 64 << 20);
    assert_eq!(
        c.auth.schemes,
        [Scheme::Md5, Scheme::Hmac, Scheme::Basic, Scheme::Device]
    );
    assert_eq!(c.auth.nonce_scheme, Some(Scheme::Md5));
    assert!(!c.auth.require_registered_devices);
    assert_eq!(c.contacts.uris, ["addressbook", "contacts", "card", "pab"]);
    assert_eq!(c.contacts.conflict_policy, ConflictPolicy::Merge);
    assert!(c.users.is_empty());
    assert_eq!(c.log.level, "info");
    assert!(!c.log.contents);
}

#[test]
fn embedded_file_equals_code_defaults() {
    let fx = Fixture::new();
    assert_eq!(
        load_raw(&fx.sources(None, None, &[])).unwrap(),
        RawSettings::default()
    );
}

#[test]
fn file_overrides_default_key_by_key() {
    let fx = Fixture::new();
    let c = fx
        .load_text("[server]\nlisten = \"0.0.0.0:9000\"\n[log]\ncontents = true\n")
        .unwrap();
    assert_eq!(c.server.listen, addr("0.0.0.0:9000"));
    assert_eq!(c.server.path, "/sync");
    assert!(c.log.contents);
}

#[test]
fn env_overrides_file() {
    let fx = Fixture::new();
    let f = fx.file(
        "c.toml",
        "[server]\nlisten = \"0.0.0.0:9000\"\nmax_sessions = 5\n",
    );
    let env = [
        ("SYNCMLD__SERVER__LISTEN", "[::1]:7000"),
        ("SYNCMLD__SERVER__MAX_SESSIONS", "7"),
    ];
    let c = fx.load(Some(&f), None, &env).unwrap();
    assert_eq!(c.server.listen, addr("[::1]:7000"));
    assert_eq!(c.server.max_sessions.get(), 7);
}

#[test]
fn env_lists_are_comma_separated() {
    let fx = Fixture::new();
    let env = [
        ("SYNCMLD__AUTH__SCHEMES", "hmac,md5"),
        ("SYNCMLD__AUTH__NONCE_SCHEME", "hmac"),
    ];
    let c = fx.load(None, None, &env).unwrap();
    assert_eq!(c.auth.schemes, [Scheme::Hmac, Scheme::Md5]);
    let c = fx
        .load(None, None, &[("SYNCMLD__CONTACTS__URIS", "./Kontakte")])
        .unwrap();
    assert_eq!(c.contacts.uris, ["kontakte"]);
}

#[test]
fn single_underscore_prefix_is_not_ours() {
    // config-rs#291: with only `separator` set this would be read; we set the
    // prefix separator explicitly so the documented form is the only one.
    let fx = Fixture::new();
    let c = fx
        .load(None, None, &[("SYNCMLD_SERVER__LISTEN", "0.0.0.0:1")])
        .unwrap();
    assert_eq!(c.server.listen, addr("127.0.0.1:8080"));
}

#[test]
fn etc_file_is_layered_under_config_file() {
    let fx = Fixture::new();
    let etc = fx.file(
        "etc.toml",
        "[server]\nlisten = \"0.0.0.0:1111\"\npath = \"/etc-path\"\n",
    );
    let cfg = fx.file("cfg.toml", "[server]\nlisten = \"0.0.0.0:2222\"\n");
    let c = fx.load(Some(&cfg), Some(&etc), &[]).unwrap();
    assert_eq!(c.server.listen, addr("0.0.0.0:2222"));
    assert_eq!(c.server.path, "/etc-path");
    // Without --config the /etc file applies on its own.
    assert_eq!(
        fx.load(None, Some(&etc), &[]).unwrap().server.listen,
        addr("0.0.0.0:1111")
    );
    // A missing /etc file is fine.
    let absent = fx.dir.path().join("absent.toml");
    assert_eq!(
        fx.load(None, Some(&absent), &[]).unwrap().server.listen,
        addr("127.0.0.1:8080")
    );
}

#[test]
fn missing_config_file_is_an_error() {
    let fx = Fixture::new();
    let absent = fx.dir.path().join("absent.toml");
    match fx.load(Some(&absent), None, &[]) {
        Err(ConfigError::FileNotFound { path }) => assert_eq!(path, absent),
        other => panic!("expected FileNotFound, got {other:?}"),
    }
}

#[test]
fn unknown_key_is_named_with_its_source() {
    let fx = Fixture::new();
    let f = fx.file("c.toml", "[server]\nlistn = \"0.0.0.0:1\"\n");
    let e = fx.load(Some(&f), None, &[]).unwrap_err();
    let msg = e.to_string();
    match e {
        ConfigError::UnknownKey {
            key,
            origin,
            expected,
        } => {
            assert_eq!(key, "server.listn");
            assert_eq!(origin, Some(f.display().to_string()));
            assert!(expected.contains("`listen`"), "{expected}");
        }
        other => panic!("expected UnknownKey, got {other:?}"),
    }
    assert!(
        msg.starts_with("unknown configuration key `server.listn` in "),
        "{msg}"
    );

    let e = fx
        .load(None, None, &[("SYNCMLD__AUTH__SCHEME", "md5")])
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown configuration key `auth.scheme` in environment variable SYNCMLD__AUTH__SCHEME \
         (expected one of `schemes`, `require_registered_devices`, `nonce_scheme`)"
    );

    let e = fx.load_text("colour = \"blue\"\n").unwrap_err();
    assert!(
        matches!(e, ConfigError::UnknownKey { ref key, .. } if key == "colour"),
        "{e:?}"
    );
    let e = fx
        .load_text("[[users]]\nname = \"a\"\npasswd = \"x\"\n")
        .unwrap_err();
    assert!(
        matches!(e, ConfigError::UnknownKey { ref key, .. } if key == "users[0].passwd"),
        "{e:?}"
    );
}

#[test]
fn wrong_type_names_the_key() {
    let fx = Fixture::new();
    let e = fx
        .load(None, None, &[("SYNCMLD__SERVER__MAX_MSG_SIZE", "-5")])
        .unwrap_err();
    assert!(matches!(e, ConfigError::Load(_)), "{e:?}");
    assert!(e.to_string().contains("server.max_msg_size"), "{e}");
    let e = fx.load_text("[server\n").unwrap_err();
    assert!(matches!(e, ConfigError::Load(_)), "{e:?}");
}

#[test]
fn bad_values_are_rejected_with_the_key() {
    let fx = Fixture::new();
    let cases = [
        ("[server]\nlisten = \"localhost\"\n", "server.listen"),
        ("[server]\nlisten = \"1.2.3.4:99999\"\n", "server.listen"),
        ("[server]\npath = \"sync\"\n", "server.path"),
        ("[server]\nmax_msg_size = 5000000\n", "server.max_msg_size"),
        (
            "[server]\nsession_timeout_secs = 0\n",
            "server.session_timeout_secs",
        ),
        ("[storage]\ndata_dir = \"\"\n", "storage.data_dir"),
        (
            "[storage]\ncache_capacity_mb = 0\n",
            "storage.cache_capacity_mb",
        ),
        ("[auth]\nschemes = [\"md5\", \"sha1\"]\n", "auth.schemes"),
        ("[auth]\nschemes = []\n", "auth.schemes"),
        ("[auth]\nnonce_scheme = \"basic\"\n", "auth.nonce_scheme"),
        ("[auth]\nschemes = [\"hmac\"]\n", "auth.nonce_scheme"),
        (
            "[contacts]\nconflict_policy = \"mix\"\n",
            "contacts.conflict_policy",
        ),
        ("[contacts]\nuris = [\"./\"]\n", "contacts.uris"),
        ("[contacts]\nregion = \"XX\"\n", "contacts.region"),
        ("role = \"proxy\"\n", "role"),
        ("[log]\nlevel = \"info,=\"\n", "log.level"),
    ];
    for (text, key) in cases {
        assert_eq!(invalid_key(fx.load_text(text).unwrap_err()), key, "{text}");
    }
    let e = fx
        .load_text("[server]\nlisten = \"localhost\"\n")
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid `server.listen` = \"localhost\": expected IP:port"),
        "{e}"
    );
}

#[test]
fn client_role_is_a_value() {
    let fx = Fixture::new();
    assert_eq!(
        fx.load_text("role = \"client\"\n").unwrap().role,
        Role::Client
    );
}

#[test]
fn users_are_reduced_to_the_digest() {
    let fx = Fixture::new();
    let digest = userpass_digest("bob", "hunter2");
    let text = format!(
        "[[users]]\nname = \"alice\"\npassword = \"secret\"\n[[users]]\nname = \"bob\"\npassword_md5 = \"{digest}\"\n"
    );
    let c = fx.load_text(&text).unwrap();
    assert_eq!(c.users.len(), 2);
    assert_eq!(
        (c.users[0].name.as_str(), c.users[0].md5_userpass.as_str()),
        ("alice", "b2IgWJaLuQdX5sbteeXfgQ==")
    ); // python3 hashlib
    assert_eq!(c.users[0].md5_userpass, userpass_digest("alice", "secret"));
    assert_eq!(c.users[1].md5_userpass, digest);
    let dump = format!("{c:?}");
    assert!(
        !dump.contains("secret") && !dump.contains(&digest),
        "{dump}"
    );
}

#[test]
fn bad_users_are_rejected() {
    let fx = Fixture::new();
    let cases = [
        ("[[users]]\nname = \"a\"\n", "users[0].name"),
        (
            "[[users]]\nname = \"a\"\npassword = \"x\"\npassword_md5 = \"zoRGZ1G2Fe2FslnOfbIP6Q==\"\n",
            "users[0].name",
        ),
        (
            "[[users]]\nname = \"a:b\"\npassword = \"x\"\n",
            "users[0].name",
        ),
        (
            "[[users]]\nname = \"\"\npassword = \"x\"\n",
            "users[0].name",
        ),
        (
            "[[users]]\nname = \"a\"\npassword = \"x\"\n[[users]]\nname = \"a\"\npassword = \"y\"\n",
            "users[1].name",
        ),
        (
            "[[users]]\nname = \"a\"\npassword_md5 = \"c2VjcmV0\"\n",
            "users[0].password_md5",
        ),
    ];
    for (text, key) in cases {
        let e = fx.load_text(text).unwrap_err();
        assert!(!e.to_string().contains("c2VjcmV0"), "digest leaked: {e}");
        assert_eq!(invalid_key(e), key, "{text}");
    }
}

#[test]
fn data_dir_follows_systemd_then_cwd() {
    let fx = Fixture::new();
    let c = fx
        .load(
            None,
            None,
            &[("STATE_DIRECTORY", "/var/lib/syncmld:/var/lib/other")],
        )
        .unwrap();
    assert_eq!(c.storage.data_dir, Path::new("/var/lib/syncmld"));
    let c = fx.load_text("[storage]\ndata_dir = \"db\"\n").unwrap();
    assert_eq!(c.storage.data_dir, fx.dir.path().join("db"));
    let c = fx
        .load_text("[storage]\ndata_dir = \"/srv/syncmld\"\n")
        .unwrap();
    assert_eq!(c.storage.data_dir, Path::new("/srv/syncmld"));
}

#[test]
fn auth_helpers() {
    let fx = Fixture::new();
    let c = fx
        .load_text("[auth]\nschemes = [\"basic\", \"md5\", \"hmac\"]\nnonce_scheme = \"hmac\"\n")
        .unwrap();
    assert_eq!(
        c.auth.challenge_order(),
        [Scheme::Hmac, Scheme::Basic, Scheme::Md5]
    );
    assert!(c.auth.accepts(Scheme::Basic) && !c.auth.accepts(Scheme::Device));
    // Without a nonce scheme, nonce_scheme is unused whatever it says.
    let c = fx
        .load_text("[auth]\nschemes = [\"basic\", \"basic\"]\n")
        .unwrap();
    assert_eq!(c.auth.schemes, [Scheme::Basic]);
    assert_eq!(c.auth.nonce_scheme, None);
    assert_eq!(c.auth.challenge_order(), [Scheme::Basic]);
}

#[test]
fn contacts_uris_match_without_dot_slash_and_case() {
    let fx = Fixture::new();
    let c = fx.load(None, None, &[]).unwrap();
    for uri in ["./contacts", "Contacts", "./AddressBook", "pab", "card"] {
        assert!(c.contacts.matches_uri(uri), "{uri}");
    }
    assert!(!c.contacts.matches_uri("calendar"));
}

#[test]
fn client_toml_documents_a_valid_client_configuration() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/client.toml");
    let cwd = std::env::temp_dir();
    let cfg = load_from_sources(&Sources {
        config_file: Some(&path),
        etc_file: None,
        env: HashMap::new(),
        cwd: &cwd,
    })
    .expect("conf/client.toml is valid");
    assert_eq!(cfg.role, Role::Client);
    assert_eq!(cfg.peers.len(), 1);
    let p = &cfg.peers[0];
    assert_eq!(p.name, "backup");
    assert_eq!(p.mode, crate::protocol::alert::TWO_WAY);
    assert_eq!(p.session.dbs[0].local_uri, "./contacts");
    assert_eq!(p.session.device_id, "syncmld-client");
}

#[test]
fn peers_are_checked() {
    let cwd = std::env::temp_dir();
    let bad = [
        (
            "[[peers]]\nname = \"a\"\nurl = \"ftp://x\"\nuser = \"u\"\npassword = \"p\"\n",
            "peers[0].url",
        ),
        (
            "[[peers]]\nname = \"a\"\nurl = \"http://x\"\nuser = \"u\"\n",
            "peers[0].password",
        ),
        (
            "[[peers]]\nname = \"a\"\nurl = \"http://x\"\nuser = \"u\"\npassword = \"p\"\nmode = \"sideways\"\n",
            "peers[0].mode",
        ),
        (
            "[[peers]]\nname = \"a\"\nurl = \"http://x\"\nuser = \"u\"\nauth = \"hmac\"\npassword = \"p\"\n",
            "peers[0].secret",
        ),
        (
            "[[peers]]\nname = \"a\"\nurl = \"http://x\"\nuser = \"u\"\npassword = \"p\"\n[[peers]]\nname = \"a\"\nurl = \"http://x\"\nuser = \"u\"\npassword = \"p\"\n",
            "peers[1].name",
        ),
    ];
    for (toml, key) in bad {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, toml).unwrap();
        let err = load_from_sources(&Sources {
            config_file: Some(&f),
            etc_file: None,
            env: HashMap::new(),
            cwd: &cwd,
        })
        .unwrap_err();
        assert!(err.to_string().contains(key), "{key}: {err}");
    }
}
