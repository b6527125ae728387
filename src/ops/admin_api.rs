//! The administration requests, as the CLI sends them to a running daemon
//! over the admin socket or runs them on the store itself: one request
//! type, one executor ([`execute`]), one reply type, so the output is the
//! same either way.
//!
//! Wire form (the admin socket): one JSON object per line each way,
//! `{"cmd":"user-list"}` → `{"ok":{"users":[…]}}` or `{"err":"…"}`.

use serde::{Deserialize, Serialize};

use crate::admin::{self, AdminError};
use crate::store::schema::{self, BookId};
use crate::store::{Store, StoreError};

use super::import_export::{self, ImportCounts};

/// Name of the contacts book in the store (as `daemon::CONTACTS_STORE`).
pub const CONTACTS_BOOK: &str = "contacts";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    UserAdd {
        name: String,
        password: String,
        #[serde(default)]
        restrict_devices: bool,
        #[serde(default)]
        replace: bool,
    },
    UserList,
    UserRemove {
        name: String,
    },
    UserPasswd {
        name: String,
        password: String,
    },
    DeviceAdd {
        user: String,
        device: String,
        #[serde(default)]
        secret: Option<String>,
    },
    DeviceList {
        user: String,
    },
    DeviceRemove {
        user: String,
        device: String,
    },
    DeviceSecret {
        user: String,
        device: String,
        secret: String,
    },
    Stats,
    /// One page of a user's contacts, after GUID `after` ("" = start).
    ExportPage {
        user: String,
        #[serde(default)]
        after: String,
        limit: usize,
    },
    /// Store these vCards in the user's book (skipping ones already there).
    ImportBatch {
        user: String,
        cards: Vec<String>,
    },
    /// Conflicts and how they were resolved: the list, or one (`id`) with
    /// both versions and the result.
    Conflicts {
        #[serde(default)]
        user: Option<String>,
        #[serde(default)]
        id: Option<String>,
    },
    /// Set a device's own conflict policy (`None`: back to the default).
    DevicePolicy {
        user: String,
        device: String,
        policy: Option<String>,
    },
}

impl Request {
    /// The user whose data the request changes or reads, if one: a running
    /// daemon runs it under that user's lock, never inside a sync message.
    pub fn user(&self) -> Option<&str> {
        match self {
            Request::UserAdd { name, .. }
            | Request::UserRemove { name }
            | Request::UserPasswd { name, .. } => Some(name),
            Request::DeviceAdd { user, .. }
            | Request::DeviceList { user }
            | Request::DeviceRemove { user, .. }
            | Request::DeviceSecret { user, .. }
            | Request::ExportPage { user, .. }
            | Request::ImportBatch { user, .. }
            | Request::DevicePolicy { user, .. } => Some(user),
            Request::Conflicts { user, .. } => user.as_deref(),
            Request::UserList | Request::Stats => None,
        }
    }

    /// The command's name, for logs (never its arguments: passwords).
    pub fn name(&self) -> &'static str {
        match self {
            Request::UserAdd { .. } => "user-add",
            Request::UserList => "user-list",
            Request::UserRemove { .. } => "user-remove",
            Request::UserPasswd { .. } => "user-passwd",
            Request::DeviceAdd { .. } => "device-add",
            Request::DeviceList { .. } => "device-list",
            Request::DeviceRemove { .. } => "device-remove",
            Request::DeviceSecret { .. } => "device-secret",
            Request::Stats => "stats",
            Request::ExportPage { .. } => "export-page",
            Request::ImportBatch { .. } => "import-batch",
            Request::Conflicts { .. } => "conflicts",
            Request::DevicePolicy { .. } => "device-policy",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub restrict_devices: bool,
    pub created_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub device: String,
    pub registered: bool,
    pub has_secret: bool,
    pub last_seen_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserStats {
    pub name: String,
    pub contacts: u64,
    pub devices: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub users: Vec<UserStats>,
    pub store_size_bytes: u64,
    /// Sessions in memory; only a running daemon knows (None otherwise).
    /// Not printed, so the output is the same with and without a daemon
    /// (`/metrics` has it as `syncmld_sessions_active`).
    pub sessions_active: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reply {
    /// Done; the line to print.
    Done(String),
    Users(Vec<UserInfo>),
    Devices(Vec<DeviceInfo>),
    Stats(Stats),
    ExportPage {
        cards: Vec<(String, String)>,
        next: Option<String>,
    },
    Imported(ImportCounts),
    Conflicts(Vec<String>),
}

/// A reply on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Response {
    Ok(Reply),
    Err(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the executor needs besides the store.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub now_ms: u64,
    /// Largest item accepted by import (the server's MaxObjSize).
    pub max_item_bytes: u64,
    /// Live sessions, when a daemon runs the request.
    pub sessions_active: Option<u64>,
}

fn book(user: &str) -> BookId {
    BookId {
        user: user.to_owned(),
        store: CONTACTS_BOOK.to_owned(),
    }
}

fn need_user(store: &dyn Store, user: &str) -> Result<(), ApiError> {
    match schema::user(store, user)? {
        Some(_) => Ok(()),
        None => Err(AdminError::NoUser(user.to_owned()).into()),
    }
}

/// Run one request on the store. Blocking (store I/O).
pub fn execute(store: &dyn Store, req: Request, ctx: &Context) -> Result<Reply, ApiError> {
    Ok(match req {
        Request::UserAdd {
            name,
            password,
            restrict_devices,
            replace,
        } => {
            admin::add_user(
                store,
                &name,
                &password,
                restrict_devices,
                replace,
                ctx.now_ms,
            )?;
            Reply::Done(format!(
                "user {name} {}",
                if replace { "updated" } else { "added" }
            ))
        }
        Request::UserList => Reply::Users({
            let mut users: Vec<UserInfo> = admin::list_users(store)?
                .into_iter()
                .map(|(name, r)| UserInfo {
                    name,
                    restrict_devices: r.restrict_devices,
                    created_ms: r.created_ms,
                })
                .collect();
            users.sort_by(|a, b| a.name.cmp(&b.name));
            users
        }),
        Request::UserRemove { name } => {
            admin::remove_user(store, &name)?;
            Reply::Done(format!("user {name} removed with all their data"))
        }
        Request::UserPasswd { name, password } => {
            admin::set_password(store, &name, &password)?;
            Reply::Done(format!("password of {name} changed"))
        }
        Request::DeviceAdd {
            user,
            device,
            secret,
        } => {
            admin::add_device(
                store,
                &user,
                &device,
                secret.as_deref().map(str::as_bytes),
                ctx.now_ms,
            )?;
            Reply::Done(format!("device {device} registered for {user}"))
        }
        Request::DeviceList { user } => Reply::Devices(
            admin::list_devices(store, &user)?
                .into_iter()
                .map(|(device, r)| DeviceInfo {
                    device,
                    registered: r.registered,
                    has_secret: r.secret_key.is_some(),
                    last_seen_ms: r.last_seen_ms,
                })
                .collect(),
        ),
        Request::DeviceRemove { user, device } => {
            admin::remove_device(store, &user, &device)?;
            Reply::Done(format!("device {device} of {user} removed"))
        }
        Request::DeviceSecret {
            user,
            device,
            secret,
        } => {
            admin::set_device_secret(store, &user, &device, secret.as_bytes())?;
            Reply::Done(format!("secret of device {device} of {user} set"))
        }
        Request::Stats => {
            let mut users = Vec::new();
            let mut names: Vec<String> = admin::list_users(store)?
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            names.sort();
            for name in names {
                let devices = schema::devices(store, &name)?.len() as u64;
                let mut contacts = 0u64;
                let b = book(&name);
                let mut after = String::new();
                loop {
                    let page = schema::items_page(store, &b, &after, 1000)?;
                    let Some((last, _)) = page.last() else { break };
                    after = last.clone();
                    contacts += page.iter().filter(|(_, r)| !r.deleted).count() as u64;
                }
                users.push(UserStats {
                    name,
                    contacts,
                    devices,
                });
            }
            Reply::Stats(Stats {
                users,
                store_size_bytes: store.size_on_disk(),
                sessions_active: ctx.sessions_active,
            })
        }
        Request::ExportPage { user, after, limit } => {
            need_user(store, &user)?;
            let (cards, next) =
                import_export::export_page(store, &book(&user), &after, limit.clamp(1, 10_000))?;
            Reply::ExportPage { cards, next }
        }
        Request::ImportBatch { user, cards } => {
            need_user(store, &user)?;
            Reply::Imported(import_export::import_cards(
                store,
                &book(&user),
                &cards,
                ctx.max_item_bytes,
                ctx.now_ms,
            )?)
        }
        Request::Conflicts { user, id } => {
            let all = admin::list_conflicts(store, user.as_deref())?;
            match id {
                None => Reply::Conflicts(
                    all.iter()
                        .map(|(u, c)| {
                            format!(
                                "{}  {u}  {}  {} ({})  {}",
                                c.id(),
                                c.device,
                                c.resolution,
                                c.policy,
                                display_name(c.result.as_deref().unwrap_or(&c.client))
                            )
                        })
                        .collect(),
                ),
                Some(id) => {
                    let Some((u, c)) = all.into_iter().find(|(_, c)| c.id() == id) else {
                        return Err(admin::AdminError::NoConflict(id).into());
                    };
                    Reply::Conflicts(vec![format!(
                        "conflict {id}\nuser: {u}\ndevice: {}\nbook: {}\ncontact: {}\ntime: {}\npolicy: {}\nresolution: {}\n\n--- server version{} ---\n{}\n--- client version ---\n{}\n--- now stored ---\n{}",
                        c.device,
                        c.store,
                        c.guid,
                        crate::engine::anchor::format_utc(c.time_ms),
                        c.policy,
                        c.resolution,
                        if c.server_deleted { " (deleted)" } else { "" },
                        c.server.trim_end(),
                        c.client.trim_end(),
                        c.result
                            .as_deref()
                            .map(str::trim_end)
                            .unwrap_or("(nothing)"),
                    )])
                }
            }
        }
        Request::DevicePolicy {
            user,
            device,
            policy,
        } => {
            let policy = policy.filter(|p| !p.eq_ignore_ascii_case("default"));
            admin::set_device_policy(store, &user, &device, policy.as_deref())?;
            Reply::Done(match policy {
                Some(p) => format!("device {device} of {user}: conflict policy {p}"),
                None => format!("device {device} of {user}: the server's conflict policy"),
            })
        }
    })
}

/// The text the CLI prints for a reply (stdout).
pub fn render(reply: &Reply) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    match reply {
        Reply::Done(line) => out.push_str(line),
        Reply::Users(users) => {
            for u in users {
                let _ = writeln!(
                    out,
                    "{}{}",
                    u.name,
                    if u.restrict_devices {
                        "\t(registered devices only)"
                    } else {
                        ""
                    }
                );
            }
        }
        Reply::Devices(devices) => {
            for d in devices {
                let reg = if d.registered { "registered" } else { "seen" };
                let secret = if d.has_secret { ", has secret" } else { "" };
                let _ = writeln!(out, "{}\t{reg}{secret}", d.device);
            }
        }
        Reply::Stats(s) => {
            let contacts: u64 = s.users.iter().map(|u| u.contacts).sum();
            let devices: u64 = s.users.iter().map(|u| u.devices).sum();
            let _ = writeln!(out, "users\t{}", s.users.len());
            let _ = writeln!(out, "devices\t{devices}");
            let _ = writeln!(out, "contacts\t{contacts}");
            let _ = writeln!(out, "store_size_bytes\t{}", s.store_size_bytes);
            for u in &s.users {
                let _ = writeln!(
                    out,
                    "user\t{}\tcontacts {}\tdevices {}",
                    u.name, u.contacts, u.devices
                );
            }
        }
        Reply::ExportPage { cards, .. } => {
            let _ = write!(out, "{} contacts", cards.len());
        }
        Reply::Imported(c) => {
            let _ = write!(
                out,
                "{} added, {} already there, {} invalid",
                c.added, c.unchanged, c.invalid
            );
        }
        Reply::Conflicts(list) => {
            if list.is_empty() {
                out.push_str("no conflicts");
            }
            for c in list {
                let _ = writeln!(out, "{c}");
            }
        }
    }
    while out.ends_with('\n') {
        out.pop();
    }
    out
}

/// FN of a vCard, for listings (never more of its content).
fn display_name(vcard: &str) -> String {
    crate::contacts::Card::parse(vcard)
        .ok()
        .and_then(|c| c.first("FN").map(|p| p.text()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn requests_have_a_stable_json_form() {
        let r: Request = serde_json::from_str(r#"{"cmd":"user-list"}"#).unwrap();
        assert_eq!(r, Request::UserList);
        let r: Request =
            serde_json::from_str(r#"{"cmd":"user-add","name":"a","password":"p"}"#).unwrap();
        assert_eq!(r.user(), Some("a"));
        assert!(
            serde_json::from_str::<Request>(r#"{"cmd":"user-remove","name":"a","x":1}"#).is_err()
        );
        let resp = Response::Ok(Reply::Done("x".into()));
        let line = serde_json::to_string(&resp).unwrap();
        assert_eq!(line, r#"{"ok":{"done":"x"}}"#);
        assert_eq!(serde_json::from_str::<Response>(&line).unwrap(), resp);
    }

    #[test]
    fn executes_user_and_device_commands() {
        let s = MemoryStore::new();
        let ctx = Context {
            now_ms: 1,
            max_item_bytes: 1 << 20,
            sessions_active: None,
        };
        let add = Request::UserAdd {
            name: "alice".into(),
            password: "pw".into(),
            restrict_devices: false,
            replace: false,
        };
        assert_eq!(render(&execute(&s, add, &ctx).unwrap()), "user alice added");
        let dev = Request::DeviceAdd {
            user: "alice".into(),
            device: "IMEI:1".into(),
            secret: None,
        };
        execute(&s, dev, &ctx).unwrap();
        let list = execute(
            &s,
            Request::DeviceList {
                user: "alice".into(),
            },
            &ctx,
        )
        .unwrap();
        assert_eq!(render(&list), "IMEI:1\tregistered");
        let stats = render(&execute(&s, Request::Stats, &ctx).unwrap());
        assert!(
            stats.contains("users\t1\ndevices\t1\ncontacts\t0"),
            "{stats}"
        );
        let err = execute(
            &s,
            Request::ExportPage {
                user: "bob".into(),
                after: String::new(),
                limit: 10,
            },
            &ctx,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "no user 'bob'");
    }
}
