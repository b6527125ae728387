//! Administration of users and devices, directly on a store.
//!
//! sled allows one process per database: the CLI runs these on the store
//! directly only while no daemon runs; a running daemon runs them for the
//! CLI through its admin socket (`ops::admin_socket`).

use crate::auth;
use crate::store::schema::{self, DeviceRecord, UserRecord};
use crate::store::{Store, StoreError, Table, Txn};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("user '{0}' already exists")]
    UserExists(String),
    #[error("no user '{0}'")]
    NoUser(String),
    #[error("invalid name '{0}': use 1-128 characters, no control characters or ':'")]
    BadName(String),
    #[error("the password must not be empty")]
    EmptyPassword,
    #[error("no device '{device}' for user '{user}'")]
    NoDevice { user: String, device: String },
    #[error("the device secret must not be empty")]
    EmptySecret,
    #[error(
        "unknown conflict policy '{0}': use merge, server-wins, client-wins, duplicate, newer-wins or default"
    )]
    BadPolicy(String),
    #[error("no conflict '{0}'")]
    NoConflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Names end up in credentials ("user:password") and in store keys.
pub fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.contains(':')
        && !name.chars().any(char::is_control)
}

/// Create a user, or with `replace` set its password. Only the
/// B64(MD5("user:password")) digest is stored.
pub fn add_user(
    store: &dyn Store,
    name: &str,
    password: &str,
    restrict_devices: bool,
    replace: bool,
    now_ms: u64,
) -> Result<(), AdminError> {
    if !valid_user_name(name) {
        return Err(AdminError::BadName(name.to_owned()));
    }
    if password.is_empty() {
        return Err(AdminError::EmptyPassword);
    }
    let existing = schema::user(store, name)?;
    if existing.is_some() && !replace {
        return Err(AdminError::UserExists(name.to_owned()));
    }
    let rec = UserRecord {
        md5_userpass: auth::userpass_digest(name, password),
        restrict_devices: existing
            .as_ref()
            .map(|u| u.restrict_devices)
            .unwrap_or(false)
            || restrict_devices,
        created_ms: existing.map(|u| u.created_ms).unwrap_or(now_ms),
    };
    let mut t = Txn::new(store);
    schema::put_user(&mut t, name, &rec);
    store.commit(&t.into_batch())?;
    Ok(())
}

/// Make sure a user exists with this digest (users declared in the config
/// file for development). Returns whether anything changed.
pub fn ensure_user(
    store: &dyn Store,
    name: &str,
    digest: &str,
    now_ms: u64,
) -> Result<bool, AdminError> {
    if !valid_user_name(name) {
        return Err(AdminError::BadName(name.to_owned()));
    }
    let existing = schema::user(store, name)?;
    if existing.as_ref().is_some_and(|u| u.md5_userpass == digest) {
        return Ok(false);
    }
    let rec = UserRecord {
        md5_userpass: digest.to_owned(),
        restrict_devices: existing
            .as_ref()
            .map(|u| u.restrict_devices)
            .unwrap_or(false),
        created_ms: existing.map(|u| u.created_ms).unwrap_or(now_ms),
    };
    let mut t = Txn::new(store);
    schema::put_user(&mut t, name, &rec);
    store.commit(&t.into_batch())?;
    Ok(true)
}

pub fn list_users(store: &dyn Store) -> Result<Vec<(String, UserRecord)>, AdminError> {
    Ok(schema::users(store)?)
}

/// Register a device for a user, optionally with a shared secret (for the
/// device-bound and HMAC credentials; only a key derived from it is stored).
pub fn add_device(
    store: &dyn Store,
    user: &str,
    device: &str,
    secret: Option<&[u8]>,
    now_ms: u64,
) -> Result<(), AdminError> {
    if schema::user(store, user)?.is_none() {
        return Err(AdminError::NoUser(user.to_owned()));
    }
    if device.is_empty() || device.len() > 1024 {
        return Err(AdminError::BadName(device.to_owned()));
    }
    let mut rec = schema::device(store, user, device)?.unwrap_or(DeviceRecord {
        first_seen_ms: now_ms,
        ..DeviceRecord::default()
    });
    rec.registered = true;
    if let Some(secret) = secret {
        rec.secret_key = Some(auth::device_key(secret, device));
    }
    let mut t = Txn::new(store);
    schema::put_device(&mut t, user, device, &rec);
    store.commit(&t.into_batch())?;
    Ok(())
}

pub fn list_devices(
    store: &dyn Store,
    user: &str,
) -> Result<Vec<(String, DeviceRecord)>, AdminError> {
    if schema::user(store, user)?.is_none() {
        return Err(AdminError::NoUser(user.to_owned()));
    }
    Ok(schema::devices(store, user)?)
}

/// Remove a user and everything stored for them: devices, nonces, address
/// books with their items and change logs, maps and sync state.
pub fn remove_user(store: &dyn Store, name: &str) -> Result<(), AdminError> {
    if schema::user(store, name)?.is_none() {
        return Err(AdminError::NoUser(name.to_owned()));
    }
    let mut t = Txn::new(store);
    // Every table is keyed by user first, except the store-wide `Meta`.
    let per_user: Vec<Table> = Table::ALL
        .into_iter()
        .filter(|t| *t != Table::Meta)
        .collect();
    schema::remove_prefixed(&mut t, &per_user, &[name])?;
    store.commit(&t.into_batch())?;
    Ok(())
}

/// Set a new password for an existing user.
pub fn set_password(store: &dyn Store, name: &str, password: &str) -> Result<(), AdminError> {
    if schema::user(store, name)?.is_none() {
        return Err(AdminError::NoUser(name.to_owned()));
    }
    add_user(store, name, password, false, true, 0)
}

/// Forget a device of a user: its registration, nonce, maps and sync state
/// (its next sync is a slow sync; the user's contacts are kept).
pub fn remove_device(store: &dyn Store, user: &str, device: &str) -> Result<(), AdminError> {
    if schema::user(store, user)?.is_none() {
        return Err(AdminError::NoUser(user.to_owned()));
    }
    if schema::device(store, user, device)?.is_none() {
        return Err(AdminError::NoDevice {
            user: user.to_owned(),
            device: device.to_owned(),
        });
    }
    let mut t = Txn::new(store);
    schema::remove_prefixed(
        &mut t,
        &[Table::Devices, Table::Nonces, Table::Maps, Table::Peers],
        &[user, device],
    )?;
    store.commit(&t.into_batch())?;
    Ok(())
}

/// Set (replace) the shared secret of a known device; only a key derived
/// from it is stored.
pub fn set_device_secret(
    store: &dyn Store,
    user: &str,
    device: &str,
    secret: &[u8],
) -> Result<(), AdminError> {
    if secret.is_empty() {
        return Err(AdminError::EmptySecret);
    }
    let Some(mut rec) = schema::device(store, user, device)? else {
        return Err(AdminError::NoDevice {
            user: user.to_owned(),
            device: device.to_owned(),
        });
    };
    rec.secret_key = Some(auth::device_key(secret, device));
    let mut t = Txn::new(store);
    schema::put_device(&mut t, user, device, &rec);
    store.commit(&t.into_batch())?;
    Ok(())
}

/// Set (or with `None` clear) a device's own conflict policy.
pub fn set_device_policy(
    store: &dyn Store,
    user: &str,
    device: &str,
    policy: Option<&str>,
) -> Result<(), AdminError> {
    let policy = match policy {
        None => None,
        Some(p) => Some(
            crate::engine::ConflictPolicy::parse(p)
                .ok_or_else(|| AdminError::BadPolicy(p.to_owned()))?,
        ),
    };
    let Some(mut rec) = schema::device(store, user, device)? else {
        return Err(AdminError::NoDevice {
            user: user.to_owned(),
            device: device.to_owned(),
        });
    };
    rec.conflict_policy = policy.map(|p| p.as_str().to_owned());
    let mut t = Txn::new(store);
    schema::put_device(&mut t, user, device, &rec);
    store.commit(&t.into_batch())?;
    Ok(())
}

/// Conflicts of one user or of all, as (user, record), oldest first.
pub fn list_conflicts(
    store: &dyn Store,
    user: Option<&str>,
) -> Result<Vec<(String, schema::ConflictRecord)>, AdminError> {
    let users: Vec<String> = match user {
        Some(u) => {
            if schema::user(store, u)?.is_none() {
                return Err(AdminError::NoUser(u.to_owned()));
            }
            vec![u.to_owned()]
        }
        None => schema::users(store)?.into_iter().map(|(n, _)| n).collect(),
    };
    let mut out = Vec::new();
    for u in users {
        for c in schema::conflicts(store, &u)? {
            out.push((u.clone(), c));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{KeyRange, KvRead, MemoryStore};

    #[test]
    fn add_user_stores_only_the_digest() {
        let s = MemoryStore::new();
        add_user(&s, "alice", "secret", false, false, 1).unwrap();
        let u = schema::user(&s, "alice").unwrap().unwrap();
        assert_eq!(u.md5_userpass, auth::userpass_digest("alice", "secret"));
        let dump = format!("{:?}", s.dump().unwrap());
        assert!(!dump.contains("secret"), "no plaintext password at rest");
        assert!(matches!(
            add_user(&s, "alice", "x", false, false, 2),
            Err(AdminError::UserExists(_))
        ));
        add_user(&s, "alice", "new", false, true, 3).unwrap();
        assert_eq!(schema::user(&s, "alice").unwrap().unwrap().created_ms, 1);
    }

    #[test]
    fn rejects_bad_names_and_empty_passwords() {
        let s = MemoryStore::new();
        assert!(matches!(
            add_user(&s, "a:b", "x", false, false, 0),
            Err(AdminError::BadName(_))
        ));
        assert!(matches!(
            add_user(&s, "", "x", false, false, 0),
            Err(AdminError::BadName(_))
        ));
        assert!(matches!(
            add_user(&s, "bob", "", false, false, 0),
            Err(AdminError::EmptyPassword)
        ));
        assert!(list_users(&s).unwrap().is_empty());
    }

    #[test]
    fn devices_need_a_user_and_store_a_derived_key() {
        let s = MemoryStore::new();
        assert!(matches!(
            add_device(&s, "alice", "IMEI:1", None, 0),
            Err(AdminError::NoUser(_))
        ));
        add_user(&s, "alice", "secret", true, false, 0).unwrap();
        add_device(&s, "alice", "IMEI:1", Some(b"shh"), 5).unwrap();
        let devs = list_devices(&s, "alice").unwrap();
        assert_eq!(devs.len(), 1);
        assert!(devs[0].1.registered);
        assert_eq!(
            devs[0].1.secret_key.as_deref(),
            Some(auth::device_key(b"shh", "IMEI:1").as_slice())
        );
        set_device_secret(&s, "alice", "IMEI:1", b"new").unwrap();
        assert_eq!(
            schema::device(&s, "alice", "IMEI:1")
                .unwrap()
                .unwrap()
                .secret_key,
            Some(auth::device_key(b"new", "IMEI:1"))
        );
        assert!(matches!(
            set_device_secret(&s, "alice", "IMEI:2", b"x"),
            Err(AdminError::NoDevice { .. })
        ));
        remove_device(&s, "alice", "IMEI:1").unwrap();
        assert!(list_devices(&s, "alice").unwrap().is_empty());
    }

    #[test]
    fn removing_a_user_removes_their_data_only() {
        let s = MemoryStore::new();
        add_user(&s, "alice", "a", false, false, 0).unwrap();
        add_user(&s, "alicex", "b", false, false, 0).unwrap();
        add_device(&s, "alice", "d1", None, 0).unwrap();
        add_device(&s, "alicex", "d1", None, 0).unwrap();
        let book = schema::BookId {
            user: "alice".into(),
            store: "contacts".into(),
        };
        let mut t = Txn::new(&s);
        let item = crate::engine::book::Change {
            content_type: "text/vcard",
            data: "BEGIN:VCARD\r\nFN:A\r\nEND:VCARD\r\n",
            origin: "",
            now_ms: 0,
        };
        crate::engine::book::create(&mut t, &book, &item).unwrap();
        s.commit(&t.into_batch()).unwrap();
        set_password(&s, "alice", "new").unwrap();
        assert_eq!(
            schema::user(&s, "alice").unwrap().unwrap().md5_userpass,
            auth::userpass_digest("alice", "new")
        );
        // Their device's map goes too; the store-wide upgrade record stays.
        crate::store::upgrade::run(&s).unwrap();
        let peer = schema::PeerId {
            user: "alice".into(),
            device: "d1".into(),
            store: "contacts".into(),
        };
        let mut t = Txn::new(&s);
        schema::put_map(&mut t, &peer, "1", "g1").unwrap();
        s.commit(&t.into_batch()).unwrap();
        let meta = s.scan(Table::Meta, &KeyRange::prefix(&[]), 10).unwrap();
        assert_eq!(meta.len(), 1);
        remove_user(&s, "alice").unwrap();
        assert!(schema::user(&s, "alice").unwrap().is_none());
        assert!(schema::peer_maps(&Txn::new(&s), &peer).unwrap().is_empty());
        assert_eq!(
            s.scan(Table::Meta, &KeyRange::prefix(&[]), 10).unwrap(),
            meta
        );
        assert!(schema::items_page(&s, &book, "", 10).unwrap().is_empty());
        assert!(schema::devices(&s, "alice").unwrap().is_empty());
        assert_eq!(schema::devices(&s, "alicex").unwrap().len(), 1);
        assert!(matches!(
            remove_user(&s, "alice"),
            Err(AdminError::NoUser(_))
        ));
    }
}
