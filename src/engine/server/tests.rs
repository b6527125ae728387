//! Engine tests on an in-memory store and a virtual clock: a scripted
//! client drives whole sessions, message by message.

use std::collections::BTreeMap;

use super::*;
use crate::auth;
use crate::protocol::{
    Alert, Anchor, Cred, ItemCommand, Map, MapItem, Meta, PutGet, Sync, SyncBody, SyncHdr, alert,
    auth_type, mime,
};
use crate::store::schema::UserRecord;
use crate::store::{MemoryStore, Store, Table};

// The real codec's exact sizes: the engine itself never encodes.
use crate::wire::xml::XmlSizer as TestSizer;

fn config(policy: ConflictPolicy) -> ServerConfig {
    ServerConfig {
        max_msg_size: 150_000,
        max_obj_size: 4_000_000,
        schemes: vec![Scheme::Md5, Scheme::Basic],
        require_registered_devices: false,
        store_name: "contacts".into(),
        contact_uris: vec!["addressbook".into(), "contacts".into()],
        conflict_policy: policy,
        region: crate::contacts::Region::none(),
    }
}

fn vcard(name: &str, tel: &str) -> String {
    format!("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nN:{name};;;;\r\nTEL:{tel}\r\nEND:VCARD\r\n")
}

/// The server side: engine, store, clock.
struct Server {
    engine: ServerEngine,
    store: MemoryStore,
    now_ms: u64,
    seed: u8,
}

impl Server {
    fn new(policy: ConflictPolicy) -> Self {
        let store = MemoryStore::new();
        let mut t = Txn::new(&store);
        let rec = UserRecord {
            md5_userpass: auth::userpass_digest("alice", "secret"),
            restrict_devices: false,
            created_ms: 0,
        };
        schema::put_user(&mut t, "alice", &rec);
        store.commit(&t.into_batch()).unwrap();
        Server {
            engine: ServerEngine::new(config(policy)),
            store,
            now_ms: 1_795_470_158_000,
            seed: 0,
        }
    }

    fn handle(&mut self, session: Option<ServerSession>, msg: SyncMl) -> Outcome {
        self.now_ms += 1_000;
        self.seed = self.seed.wrapping_add(1);
        let env = Env {
            now_ms: self.now_ms,
            random: [self.seed; 32],
        };
        let out = self
            .engine
            .handle(
                session,
                msg,
                &env,
                &self.store,
                &TestSizer,
                "http://srv/sync",
            )
            .unwrap();
        self.store.commit(&out.batch).unwrap();
        out
    }

    fn book(&self) -> BTreeMap<String, String> {
        let b = schema::BookId {
            user: "alice".into(),
            store: "contacts".into(),
        };
        schema::items_page(&self.store, &b, "", usize::MAX)
            .unwrap()
            .into_iter()
            .filter(|(_, r)| !r.deleted)
            .map(|(g, r)| (g, r.data))
            .collect()
    }
}

/// A scripted SyncML client with its own little address book.
struct Client {
    device: String,
    session_id: u32,
    book: BTreeMap<String, String>,
    /// Local changes since the last sync.
    dirty: BTreeMap<String, Change>,
    anchor: Option<String>,
    next_luid: u32,
    max_msg: u64,
    password: String,
}

#[derive(Debug, Clone)]
enum Change {
    Add(String),
    Replace(String),
    Delete,
}

/// What one session did, as seen by the client.
#[derive(Debug, Default)]
struct Seen {
    /// Status codes the server gave to our item commands.
    item_statuses: Vec<u16>,
    alert_status: Option<u16>,
    server_mode: Option<u16>,
    server_adds: usize,
    server_replaces: usize,
    server_deletes: usize,
    messages: usize,
    hdr_statuses: Vec<u16>,
    chunks_received: usize,
    /// Largest encoded reply, in bytes.
    max_reply_bytes: usize,
}

impl Client {
    fn new(device: &str) -> Self {
        Client {
            device: device.into(),
            session_id: 0,
            book: BTreeMap::new(),
            dirty: BTreeMap::new(),
            anchor: None,
            next_luid: 0,
            max_msg: 150_000,
            password: "secret".into(),
        }
    }

    fn add(&mut self, data: &str) -> String {
        self.next_luid += 1;
        let luid = format!("L{}", self.next_luid);
        self.book.insert(luid.clone(), data.to_owned());
        self.dirty
            .insert(luid.clone(), Change::Add(data.to_owned()));
        luid
    }

    fn modify(&mut self, luid: &str, data: &str) {
        self.book.insert(luid.to_owned(), data.to_owned());
        let change = match self.dirty.get(luid) {
            Some(Change::Add(_)) => Change::Add(data.to_owned()),
            _ => Change::Replace(data.to_owned()),
        };
        self.dirty.insert(luid.to_owned(), change);
    }

    fn delete(&mut self, luid: &str) {
        self.book.remove(luid);
        self.dirty.insert(luid.to_owned(), Change::Delete);
    }

    fn luid_of(&self, data_fragment: &str) -> String {
        self.book
            .iter()
            .find(|(_, d)| d.contains(data_fragment))
            .map(|(l, _)| l.clone())
            .unwrap()
    }

    fn header(&self, msg_id: u32, cred: bool) -> SyncHdr {
        SyncHdr {
            ver_dtd: "1.2".into(),
            ver_proto: "SyncML/1.2".into(),
            session_id: self.session_id.to_string(),
            msg_id,
            target: Loc::uri("http://srv/sync"),
            source: Loc {
                loc_uri: self.device.clone(),
                loc_name: Some("alice".into()),
            },
            cred: cred.then(|| Cred {
                meta: Some(Meta {
                    type_: Some(auth_type::BASIC.into()),
                    format: Some("b64".into()),
                    ..Meta::default()
                }),
                data: auth::basic_credential("alice", &self.password),
            }),
            meta: Some(Meta {
                max_msg_size: Some(self.max_msg),
                max_obj_size: Some(4_000_000),
                ..Meta::default()
            }),
            ..SyncHdr::default()
        }
    }

    /// Run one whole session with the requested mode.
    fn sync(&mut self, srv: &mut Server, mode: u16) -> Seen {
        self.sync_until(srv, mode, false)
    }

    /// A session; with `abort` the client vanishes after sending its
    /// changes (never reads the server's, never completes).
    fn sync_until(&mut self, srv: &mut Server, mode: u16, abort: bool) -> Seen {
        self.session_id += 1;
        let mut seen = Seen::default();
        let next_anchor = format!("A{}-{}", self.device, self.session_id);
        let last = if mode == alert::SLOW_SYNC {
            None
        } else {
            self.anchor.clone()
        };
        let pkg1 = SyncMl {
            header: self.header(1, true),
            body: SyncBody {
                commands: vec![Command::Alert(Alert {
                    cmd_id: 1,
                    data: Some(mode),
                    items: vec![Item {
                        target: Some(Loc::uri("addressbook")),
                        source: Some(Loc::uri("./contacts")),
                        meta: Some(Meta {
                            anchor: Some(Anchor {
                                last,
                                next: next_anchor.clone(),
                            }),
                            ..Meta::default()
                        }),
                        ..Item::default()
                    }],
                    ..Alert::default()
                })],
                final_: true,
            },
        };
        let mut out = srv.handle(None, pkg1);
        seen.messages += 1;
        let mut session = out.next.take();
        let mut msg_id = 1;
        let mut reply = out.reply;
        seen.hdr_statuses.push(hdr_status(&reply));
        note_size(&mut seen, &reply);
        if session.is_none() {
            return seen;
        }
        // Package 2: statuses for our Alert, the server's Alert.
        let mut effective = mode;
        for c in &reply.body.commands {
            match c {
                Command::Status(s) if s.cmd == "Alert" => seen.alert_status = Some(s.data.0),
                Command::Alert(a) => {
                    effective = a.data.unwrap_or(0);
                    seen.server_mode = Some(effective);
                }
                _ => {}
            }
        }
        let slow = matches!(effective, alert::SLOW_SYNC | alert::REFRESH_FROM_CLIENT);
        if effective == alert::REFRESH_FROM_SERVER {
            self.book.clear();
        }
        // Package 3: our changes (everything on a slow sync).
        let ops: Vec<(String, Change)> = match effective {
            alert::ONE_WAY_FROM_SERVER | alert::REFRESH_FROM_SERVER => Vec::new(),
            _ if slow => self
                .book
                .iter()
                .map(|(l, d)| (l.clone(), Change::Replace(d.clone())))
                .collect(),
            _ => self
                .dirty
                .iter()
                .map(|(l, d)| (l.clone(), d.clone()))
                .collect(),
        };
        let mut cmds = Vec::new();
        let mut id = 1;
        let mut sync_ops = Vec::new();
        for (luid, change) in ops {
            id += 1;
            let data = match &change {
                Change::Add(d) | Change::Replace(d) => Some(ItemData::Text(d.clone())),
                Change::Delete => None,
            };
            let item = Item {
                source: Some(Loc::uri(&luid)),
                data,
                ..Item::default()
            };
            let c = ItemCommand {
                cmd_id: id,
                meta: Some(Meta::with_type(mime::VCARD30)),
                items: vec![item],
                ..ItemCommand::default()
            };
            sync_ops.push(match change {
                Change::Delete => Command::Delete(c),
                Change::Replace(_) => Command::Replace(c),
                Change::Add(_) => Command::Add(c),
            });
        }
        cmds.push(Command::Sync(Sync {
            cmd_id: 1,
            target: Some(Loc::uri("addressbook")),
            source: Some(Loc::uri("./contacts")),
            commands: sync_ops,
            ..Sync::default()
        }));
        msg_id += 1;
        out = srv.handle(
            session.take(),
            SyncMl {
                header: self.header(msg_id, false),
                body: SyncBody {
                    commands: cmds,
                    final_: true,
                },
            },
        );
        seen.messages += 1;
        if abort {
            if effective == alert::REFRESH_FROM_SERVER {
                // The client had wiped its book: it must start over.
                self.anchor = None;
            }
            return seen;
        }
        session = out.next.take();
        reply = out.reply;
        seen.hdr_statuses.push(hdr_status(&reply));
        note_size(&mut seen, &reply);
        // Package 4 (maybe several messages), then 5/6.
        let mut maps: Vec<MapItem> = Vec::new();
        let mut pending_chunk: Option<(bool, String, String)> = None;
        loop {
            let mut statuses = Vec::new();
            for c in &reply.body.commands {
                match c {
                    Command::Status(s)
                        if matches!(s.cmd.as_str(), "Add" | "Replace" | "Delete") =>
                    {
                        seen.item_statuses.push(s.data.0)
                    }
                    Command::Sync(s) => {
                        statuses.push(self.status_for(reply.header.msg_id, s.cmd_id, "Sync", 200));
                        for op in &s.commands {
                            let (name, ic) = match op {
                                Command::Add(c) => ("Add", c),
                                Command::Replace(c) => ("Replace", c),
                                Command::Delete(c) => ("Delete", c),
                                _ => continue,
                            };
                            let item = &ic.items[0];
                            let text = item.text().unwrap_or("").to_owned();
                            let id = item.source_uri().or(item.target_uri()).unwrap().to_owned();
                            if item.more_data {
                                let buf = match pending_chunk.take() {
                                    Some((_, i, mut d)) if i == id => {
                                        d.push_str(&text);
                                        d
                                    }
                                    _ => text,
                                };
                                pending_chunk = Some((name == "Add", id, buf));
                                seen.chunks_received += 1;
                                statuses.push(self.status_for(
                                    reply.header.msg_id,
                                    ic.cmd_id,
                                    name,
                                    213,
                                ));
                                continue;
                            }
                            let data = match pending_chunk.take() {
                                Some((_, i, mut d)) if i == id => {
                                    d.push_str(&text);
                                    d
                                }
                                _ => text,
                            };
                            let code = match name {
                                "Add" => {
                                    seen.server_adds += 1;
                                    self.next_luid += 1;
                                    let luid = format!("L{}", self.next_luid);
                                    self.book.insert(luid.clone(), data);
                                    maps.push(MapItem {
                                        target: Loc::uri(&id),
                                        source: Loc::uri(&luid),
                                    });
                                    201
                                }
                                "Replace" => {
                                    seen.server_replaces += 1;
                                    self.book.insert(id, data);
                                    200
                                }
                                _ => {
                                    seen.server_deletes += 1;
                                    if self.book.remove(&id).is_some() {
                                        200
                                    } else {
                                        211
                                    }
                                }
                            };
                            statuses.push(self.status_for(
                                reply.header.msg_id,
                                ic.cmd_id,
                                name,
                                code,
                            ));
                        }
                    }
                    _ => {}
                }
            }
            let done = session.as_ref().map(|s| s.is_complete()).unwrap_or(true);
            if done {
                break;
            }
            msg_id += 1;
            let mut cmds: Vec<Command> = vec![Command::Status(self.status_for(
                reply.header.msg_id,
                0,
                "SyncHdr",
                200,
            ))];
            cmds.extend(statuses.into_iter().map(Command::Status));
            let final_ = reply.body.final_;
            if final_ && !maps.is_empty() {
                cmds.push(Command::Map(Map {
                    cmd_id: 0,
                    target: Loc::uri("addressbook"),
                    source: Loc::uri("./contacts"),
                    items: std::mem::take(&mut maps),
                    ..Map::default()
                }));
            }
            let mut n = 1;
            for c in &mut cmds {
                n = c.renumber(n);
            }
            out = srv.handle(
                session.take(),
                SyncMl {
                    header: self.header(msg_id, false),
                    body: SyncBody {
                        commands: cmds,
                        final_,
                    },
                },
            );
            seen.messages += 1;
            session = out.next.take();
            reply = out.reply;
            seen.hdr_statuses.push(hdr_status(&reply));
            note_size(&mut seen, &reply);
            assert!(seen.messages < 200, "session does not end");
        }
        assert!(reply.body.final_, "last message must carry Final");
        self.anchor = Some(next_anchor);
        self.dirty.clear();
        seen
    }

    fn status_for(&self, msg_ref: u32, cmd_ref: u32, cmd: &str, code: u16) -> Status {
        Status {
            msg_ref,
            cmd_ref,
            cmd: cmd.into(),
            data: StatusCode(code),
            ..Status::default()
        }
    }
}

fn note_size(seen: &mut Seen, reply: &SyncMl) {
    seen.max_reply_bytes = seen
        .max_reply_bytes
        .max(crate::wire::xml::encode(reply).len());
}

fn hdr_status(reply: &SyncMl) -> u16 {
    match reply.body.commands.first() {
        Some(Command::Status(s)) if s.cmd == "SyncHdr" => s.data.0,
        _ => 0,
    }
}

fn values(b: &BTreeMap<String, String>) -> Vec<String> {
    let mut v: Vec<String> = b.values().cloned().collect();
    v.sort();
    v
}

#[test]
fn first_slow_sync_merges_both_sides() {
    let mut srv = Server::new(ConflictPolicy::ServerWins);
    let mut other = Client::new("dev-other");
    other.add(&vcard("Dave", "1"));
    other.sync(&mut srv, alert::SLOW_SYNC);

    let mut c = Client::new("dev-1");
    c.add(&vcard("Alice", "2"));
    c.add(&vcard("Bob", "3"));
    let seen = c.sync(&mut srv, alert::SLOW_SYNC);
    assert_eq!(seen.hdr_statuses[0], 212);
    assert_eq!(seen.server_mode, Some(alert::SLOW_SYNC));
    assert_eq!(seen.item_statuses, vec![201, 201]);
    assert_eq!(seen.server_adds, 1);
    assert_eq!(values(&c.book), values(&srv.book()));
    assert_eq!(srv.book().len(), 3);
}

#[test]
fn two_way_moves_only_changes_and_never_echoes() {
    let mut srv = Server::new(ConflictPolicy::ServerWins);
    let mut a = Client::new("dev-a");
    let mut b = Client::new("dev-b");
    let alice = a.add(&vcard("Alice", "1"));
    a.add(&vcard("Bob", "2"));
    a.sync(&mut srv, alert::SLOW_SYNC);
    b.sync(&mut srv, alert::SLOW_SYNC);
    assert_eq!(values(&a.book), values(&b.book));

    // Nothing changed: nothing moves.
    let seen = a.sync(&mut srv, alert::TWO_WAY);
    assert_eq!(seen.alert_status, Some(200));
    assert_eq!(
        (seen.server_adds, seen.server_replaces, seen.server_deletes),
        (0, 0, 0)
    );

    // a modifies Alice, deletes Bob, adds Carol; b adds Dave.
    a.modify(&alice, &vcard("Alice", "11"));
    let bob = a.luid_of("FN:Bob");
    a.delete(&bob);
    a.add(&vcard("Carol", "3"));
    b.add(&vcard("Dave", "4"));
    let seen = a.sync(&mut srv, alert::TWO_WAY);
    assert_eq!(seen.item_statuses.iter().filter(|s| **s == 201).count(), 1);
    assert_eq!(
        seen.server_adds + seen.server_replaces + seen.server_deletes,
        0,
        "a's own changes are not echoed"
    );
    let seen = b.sync(&mut srv, alert::TWO_WAY);
    assert_eq!(
        (seen.server_adds, seen.server_replaces, seen.server_deletes),
        (1, 1, 1)
    );
    let seen = a.sync(&mut srv, alert::TWO_WAY);
    assert_eq!(
        (seen.server_adds, seen.server_replaces, seen.server_deletes),
        (1, 0, 0)
    );
    assert_eq!(values(&a.book), values(&b.book));
    assert_eq!(values(&a.book), values(&srv.book()));
}

#[test]
fn anchor_mismatch_forces_slow_sync_without_duplicates() {
    let mut srv = Server::new(ConflictPolicy::ServerWins);
    let mut a = Client::new("dev-a");
    a.add(&vcard("Alice", "1"));
    a.add(&vcard("Bob", "2"));
    a.sync(&mut srv, alert::SLOW_SYNC);
    a.anchor = Some("bogus".into());
    let seen = a.sync(&mut srv, alert::TWO_WAY);
    assert_eq!(seen.alert_status, Some(508));
    assert_eq!(seen.server_mode, Some(alert::SLOW_SYNC));
    assert_eq!(seen.server_adds, 0);
    assert_eq!(
        srv.book().len(),
        2,
        "slow sync of the same data adds nothing"
    );
}

#[test]
fn conflicts_follow_the_policy() {
    for (policy, status, server_has) in [
        (ConflictPolicy::ServerWins, 419, vec!["server-edit"]),
        (ConflictPolicy::ClientWins, 208, vec!["client-edit"]),
        (
            ConflictPolicy::Duplicate,
            209,
            vec!["client-edit", "server-edit"],
        ),
    ] {
        let mut srv = Server::new(policy);
        let mut a = Client::new("dev-a");
        let mut b = Client::new("dev-b");
        a.add(&vcard("Carol", "1"));
        a.sync(&mut srv, alert::SLOW_SYNC);
        b.sync(&mut srv, alert::SLOW_SYNC);
        let la = a.luid_of("Carol");
        let lb = b.luid_of("Carol");
        b.modify(&lb, &vcard("Carol", "server-edit"));
        b.sync(&mut srv, alert::TWO_WAY);
        a.modify(&la, &vcard("Carol", "client-edit"));
        let seen = a.sync(&mut srv, alert::TWO_WAY);
        assert_eq!(seen.item_statuses, vec![status], "{policy:?}");
        b.sync(&mut srv, alert::TWO_WAY);
        let mut want: Vec<String> = server_has.iter().map(|t| vcard("Carol", t)).collect();
        want.sort();
        assert_eq!(values(&srv.book()), want, "{policy:?}");
        assert_eq!(values(&a.book), want, "{policy:?} client a converged");
        assert_eq!(values(&b.book), want, "{policy:?} client b converged");
    }
}

#[test]
fn modify_beats_delete_both_ways() {
    let mut srv = Server::new(ConflictPolicy::ServerWins);
    let mut a = Client::new("dev-a");
    let mut b = Client::new("dev-b");
    a.add(&vcard("Frank", "1"));
    a.add(&vcard("Gina", "2"));
    a.sync(&mut srv, alert::SLOW_SYNC);
    b.sync(&mut srv, alert::SLOW_SYNC);
    // b deletes Frank, a modifies him; a deletes Gina, b modifies her.
    let fb = b.luid_of("Frank");
    b.delete(&fb);
    let gb = b.luid_of("Gina");
    b.modify(&gb, &vcard("Gina", "22"));
    b.sync(&mut srv, alert::TWO_WAY);
    let fa = a.luid_of("Frank");
    a.modify(&fa, &vcard("Frank", "11"));
    let ga = a.luid_of("Gina");
    a.delete(&ga);
    let seen = a.sync(&mut srv, alert::TWO_WAY);
    assert!(
        seen.item_statuses.contains(&201),
        "modified Frank is re-created: {:?}",
        seen.item_statuses
    );
    b.sync(&mut srv, alert::TWO_WAY);
    let want = {
        let mut v = vec![vcard("Frank", "11"), vcard("Gina", "22")];
        v.sort();
        v
    };
    assert_eq!(values(&srv.book()), want);
    assert_eq!(values(&a.book), want);
    assert_eq!(values(&b.book), want);
}

#[test]
fn one_way_and_refresh_modes() {
    let mut srv = Server::new(ConflictPolicy::ServerWins);
    let mut a = Client::new("dev-a");
    let mut b = Client::new("dev-b");
    a.add(&vcard("Alice", "1"));
    a.sync(&mut srv, alert::SLOW_SYNC);
    b.sync(&mut srv, alert::SLOW_SYNC);

    // 202: a's change goes up, b's change does not come down to a.
    a.add(&vcard("Bob", "2"));
    b.add(&vcard("Carol", "3"));
    b.sync(&mut srv, alert::TWO_WAY);
    let seen = a.sync(&mut srv, alert::ONE_WAY_FROM_CLIENT);
    assert_eq!(seen.server_adds, 0);
    assert_eq!(srv.book().len(), 3);
    // 204: now Carol comes down; a's local change stays local.
    a.add(&vcard("Dan", "4"));
    let seen = a.sync(&mut srv, alert::ONE_WAY_FROM_SERVER);
    assert_eq!(seen.server_adds, 1);
    assert_eq!(srv.book().len(), 3);
    // 205: a gets exactly the server's book.
    a.sync(&mut srv, alert::REFRESH_FROM_SERVER);
    assert_eq!(values(&a.book), values(&srv.book()));
    // 203: the server gets exactly b's book.
    b.add(&vcard("Eve", "5"));
    b.sync(&mut srv, alert::REFRESH_FROM_CLIENT);
    assert_eq!(values(&b.book), values(&srv.book()));
    a.sync(&mut srv, alert::TWO_WAY);
    assert_eq!(values(&a.book), values(&srv.book()));
}

#[test]
fn small_max_msg_size_splits_packages_and_chunks_large_items() {
    let mut srv = Server::new(ConflictPolicy::ServerWins);
    let mut a = Client::new("dev-a");
    for i in 0..12 {
        a.add(&vcard(&format!("Bulk {i}"), &"9".repeat(400)));
    }
    let big = vcard("Big", &"x".repeat(15_000));
    a.add(&big);
    a.sync(&mut srv, alert::SLOW_SYNC);
    let mut b = Client::new("dev-b");
    b.max_msg = 10_240;
    let seen = b.sync(&mut srv, alert::SLOW_SYNC);
    assert!(seen.messages > 3, "several messages: {}", seen.messages);
    assert!(
        seen.chunks_received >= 1,
        "the large item was sent in chunks"
    );
    assert_eq!(seen.server_adds, 13);
    assert_eq!(values(&b.book), values(&srv.book()));
    assert!(
        b.book.values().any(|d| *d == big),
        "the large item arrived intact"
    );
}

#[test]
fn wrong_password_gets_401_and_changes_no_data() {
    let mut srv = Server::new(ConflictPolicy::ServerWins);
    let before = srv.book();
    let mut a = Client::new("dev-a");
    a.password = "wrong".into();
    a.add(&vcard("Mallory", "1"));
    let seen = a.sync(&mut srv, alert::SLOW_SYNC);
    assert_eq!(seen.hdr_statuses, vec![401]);
    assert_eq!(srv.book(), before);
}

#[test]
fn early_map_is_accepted() {
    // A Map may arrive in any message after the server's Adds.
    let mut srv = Server::new(ConflictPolicy::ServerWins);
    let mut a = Client::new("dev-a");
    a.add(&vcard("Alice", "1"));
    a.sync(&mut srv, alert::SLOW_SYNC);
    let peer = PeerId {
        user: "alice".into(),
        device: "dev-late".into(),
        store: "contacts".into(),
    };
    let guid = srv.book().keys().next().unwrap().clone();
    let mut s = None;
    let c = Client::new("dev-late");
    let hdr = c.header(1, true);
    let msg = SyncMl {
        header: hdr,
        body: SyncBody {
            commands: vec![Command::Map(Map {
                cmd_id: 1,
                target: Loc::uri("addressbook"),
                source: Loc::uri("./contacts"),
                items: vec![MapItem {
                    target: Loc::uri(&guid),
                    source: Loc::uri("LUID-9"),
                }],
                ..Map::default()
            })],
            final_: true,
        },
    };
    let out = srv.handle(s.take(), msg);
    let map_status = out.reply.body.commands.iter().find_map(|c| match c {
        Command::Status(st) if st.cmd == "Map" => Some(st.data.0),
        _ => None,
    });
    assert_eq!(map_status, Some(200));
    assert_eq!(
        schema::guid_for_luid(&Txn::new(&srv.store), &peer, "LUID-9").unwrap(),
        Some(guid)
    );
}

#[test]
fn devinf_get_is_answered_with_results() {
    let mut srv = Server::new(ConflictPolicy::ServerWins);
    let c = Client::new("dev-a");
    let msg = SyncMl {
        header: c.header(1, true),
        body: SyncBody {
            commands: vec![Command::Get(PutGet {
                cmd_id: 1,
                meta: Some(Meta::with_type(mime::DEVINF_XML)),
                items: vec![Item {
                    target: Some(Loc::uri("./devinf12")),
                    ..Item::default()
                }],
                ..PutGet::default()
            })],
            final_: true,
        },
    };
    let out = srv.handle(None, msg);
    let results = out.reply.body.commands.iter().find_map(|c| match c {
        Command::Results(r) => Some(r.clone()),
        _ => None,
    });
    let r = results.expect("Results");
    assert_eq!(r.cmd_ref, 1);
    match &r.items[0].data {
        Some(ItemData::DevInf(d)) => {
            assert_eq!(d.dev_typ, "server");
            assert!(d.data_store("addressbook").is_some());
        }
        other => panic!("no DevInf: {other:?}"),
    }
}

#[test]
fn unknown_datastore_is_404_and_bad_version_is_513() {
    let mut srv = Server::new(ConflictPolicy::ServerWins);
    let c = Client::new("dev-a");
    let mut msg = SyncMl {
        header: c.header(1, true),
        body: SyncBody {
            commands: vec![Command::Alert(Alert {
                cmd_id: 1,
                data: Some(alert::TWO_WAY),
                items: vec![Item {
                    target: Some(Loc::uri("calendar")),
                    source: Some(Loc::uri("./cal")),
                    meta: Some(Meta {
                        anchor: Some(Anchor {
                            last: None,
                            next: "1".into(),
                        }),
                        ..Meta::default()
                    }),
                    ..Item::default()
                }],
                ..Alert::default()
            })],
            final_: true,
        },
    };
    let out = srv.handle(None, msg.clone());
    let codes: Vec<u16> = out
        .reply
        .body
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Status(s) => Some(s.data.0),
            _ => None,
        })
        .collect();
    assert_eq!(codes, vec![212, 404]);
    msg.header.ver_proto = "SyncML/3.0".into();
    let out = srv.handle(None, msg);
    assert!(out.next.is_none());
    match &out.reply.body.commands[0] {
        Command::Status(s) => assert_eq!(s.data.0, 513),
        other => panic!("{other:?}"),
    }
}

/// A first message with the given credential and a two-way Alert.
fn auth_msg(device: &str, session: &str, cred: Option<Cred>) -> SyncMl {
    SyncMl {
        header: SyncHdr {
            ver_dtd: "1.2".into(),
            ver_proto: "SyncML/1.2".into(),
            session_id: session.into(),
            msg_id: 1,
            target: Loc::uri("http://srv/sync"),
            source: Loc {
                loc_uri: device.into(),
                loc_name: Some("alice".into()),
            },
            cred,
            ..SyncHdr::default()
        },
        body: SyncBody {
            commands: Vec::new(),
            final_: true,
        },
    }
}

fn cred(type_: &str, data: String) -> Option<Cred> {
    Some(Cred {
        meta: Some(Meta {
            type_: Some(type_.into()),
            format: Some("b64".into()),
            ..Meta::default()
        }),
        data,
    })
}

/// (SyncHdr status, NextNonce of its Chal) of a reply.
fn hdr_and_nonce(reply: &SyncMl) -> (u16, Option<Vec<u8>>) {
    match reply.body.commands.first() {
        Some(Command::Status(s)) => {
            let nonce = s
                .chal
                .as_ref()
                .and_then(|c| c.meta.next_nonce.as_deref())
                .map(|n| auth::decode_nonce(n).unwrap());
            (s.data.0, nonce)
        }
        _ => (0, None),
    }
}

#[test]
fn md5_needs_the_issued_nonce_and_rotates_it() {
    let mut srv = Server::new(ConflictPolicy::ServerWins);
    let digest = auth::userpass_digest("alice", "secret");
    // First contact, empty nonce (what SyncEvolution sends): challenged.
    let out = srv.handle(
        None,
        auth_msg(
            "dev-md5",
            "1",
            cred(auth_type::MD5, auth::md5_credential(&digest, b"")),
        ),
    );
    let (code, nonce) = hdr_and_nonce(&out.reply);
    assert_eq!(code, 401);
    assert!(out.next.is_none());
    let nonce = nonce.expect("Chal with NextNonce");
    // The retry in a new session with that nonce is accepted (212 + next nonce).
    let good = auth::md5_credential(&digest, &nonce);
    let out = srv.handle(
        None,
        auth_msg("dev-md5", "2", cred(auth_type::MD5, good.clone())),
    );
    let (code, next) = hdr_and_nonce(&out.reply);
    assert_eq!(code, 212);
    assert!(
        out.reply
            .header
            .resp_uri
            .as_deref()
            .unwrap_or("")
            .contains("sessionid=")
    );
    assert_ne!(next.as_deref(), Some(nonce.as_slice()), "nonce rotated");
    // Replaying the same digest fails: the nonce was used.
    let out = srv.handle(None, auth_msg("dev-md5", "3", cred(auth_type::MD5, good)));
    assert_eq!(hdr_and_nonce(&out.reply).0, 401);
    // No Cred at all: 407 with a challenge.
    let out = srv.handle(None, auth_msg("dev-md5", "4", None));
    assert_eq!(hdr_and_nonce(&out.reply).0, 407);
    assert!(
        out.reply.header.resp_uri.is_none(),
        "no RespURI without authentication"
    );
}

#[test]
fn a_device_syncing_often_writes_only_its_nonce_when_it_logs_in() {
    // Every message's writes cost a log write and a flush; a login of a
    // device seen within the last minute rewrites only the nonce (one key:
    // no multi-table transaction). last_seen is display only.
    let mut srv = Server::new(ConflictPolicy::ServerWins);
    let digest = auth::userpass_digest("alice", "secret");
    let login = |srv: &mut Server, sid: &str, nonce: &[u8]| {
        let out = srv.handle(
            None,
            auth_msg(
                "dev-often",
                sid,
                cred(auth_type::MD5, auth::md5_credential(&digest, nonce)),
            ),
        );
        let (code, next) = hdr_and_nonce(&out.reply);
        (code, next.unwrap_or_default(), out.batch)
    };
    let (code, nonce, _) = login(&mut srv, "1", b"");
    assert_eq!(code, 401);
    // First admission: the device record is created with the nonce.
    let (code, nonce, batch) = login(&mut srv, "2", &nonce);
    assert_eq!(code, 212);
    let tables: Vec<Table> = batch.writes.iter().map(|w| w.table).collect();
    assert!(tables.contains(&Table::Devices) && tables.contains(&Table::Nonces));
    let first_seen = schema::device(&srv.store, "alice", "dev-often")
        .unwrap()
        .unwrap();
    // Seconds later: the nonce only.
    let (code, nonce, batch) = login(&mut srv, "3", &nonce);
    assert_eq!(code, 212);
    let tables: Vec<Table> = batch.writes.iter().map(|w| w.table).collect();
    assert_eq!(tables, vec![Table::Nonces]);
    // A minute on, last_seen is brought up to date again.
    srv.now_ms += header::LAST_SEEN_GRANULARITY_MS;
    let (code, _, batch) = login(&mut srv, "4", &nonce);
    assert_eq!(code, 212);
    assert!(batch.writes.iter().any(|w| w.table == Table::Devices));
    let dev = schema::device(&srv.store, "alice", "dev-often")
        .unwrap()
        .unwrap();
    assert!(dev.last_seen_ms >= first_seen.last_seen_ms + header::LAST_SEEN_GRANULARITY_MS);
    assert_eq!(dev.first_seen_ms, first_seen.first_seen_ms);
}

#[test]
fn hmac_credentials_cannot_be_replayed() {
    let mut srv = Server::new(ConflictPolicy::ServerWins);
    srv.engine.cfg.schemes = vec![Scheme::Hmac, Scheme::Md5];
    crate::admin::add_device(&srv.store, "alice", "IMEI:42", Some(b"device-secret"), 0).unwrap();
    let key = auth::device_key(b"device-secret", "IMEI:42");
    let out = srv.handle(
        None,
        auth_msg(
            "IMEI:42",
            "1",
            cred(
                auth_type::HMAC,
                auth::hmac_credential(&key, "IMEI:42", "1", 1, b""),
            ),
        ),
    );
    let (code, nonce) = hdr_and_nonce(&out.reply);
    assert_eq!(code, 401);
    let nonce = nonce.unwrap();
    let data = auth::hmac_credential(&key, "IMEI:42", "2", 1, &nonce);
    let out = srv.handle(
        None,
        auth_msg("IMEI:42", "2", cred(auth_type::HMAC, data.clone())),
    );
    assert_eq!(hdr_and_nonce(&out.reply).0, 212);
    let out = srv.handle(None, auth_msg("IMEI:42", "2", cred(auth_type::HMAC, data)));
    assert_eq!(hdr_and_nonce(&out.reply).0, 401, "replayed HMAC refused");
    // A wrong secret never works.
    let bad = auth::device_key(b"guess", "IMEI:42");
    let out = srv.handle(
        None,
        auth_msg(
            "IMEI:42",
            "5",
            cred(
                auth_type::HMAC,
                auth::hmac_credential(&bad, "IMEI:42", "5", 1, &nonce),
            ),
        ),
    );
    assert_eq!(hdr_and_nonce(&out.reply).0, 401);
}

#[test]
fn device_bound_credential_and_registered_devices() {
    let mut srv = Server::new(ConflictPolicy::ServerWins);
    srv.engine.cfg.schemes = vec![Scheme::Md5, Scheme::Device, Scheme::Basic];
    crate::admin::add_device(&srv.store, "alice", "IMEI:7", Some(b"s3"), 0).unwrap();
    let good = auth::device_credential(b"s3", "IMEI:7");
    let out = srv.handle(
        None,
        auth_msg("IMEI:7", "1", cred(auth_type::DEVICE, good.clone())),
    );
    assert_eq!(hdr_and_nonce(&out.reply).0, 212);
    // Bound to the device id: the same credential from another device fails.
    let out = srv.handle(None, auth_msg("IMEI:8", "1", cred(auth_type::DEVICE, good)));
    assert_eq!(hdr_and_nonce(&out.reply).0, 401);
    // With registration required, an unknown device is refused (403) even
    // with the right password; the registered one is admitted.
    srv.engine.cfg.require_registered_devices = true;
    let basic = auth::basic_credential("alice", "secret");
    let out = srv.handle(
        None,
        auth_msg("IMEI:9", "1", cred(auth_type::BASIC, basic.clone())),
    );
    assert_eq!(hdr_and_nonce(&out.reply).0, 403);
    let out = srv.handle(None, auth_msg("IMEI:7", "2", cred(auth_type::BASIC, basic)));
    assert_eq!(hdr_and_nonce(&out.reply).0, 212);
}

#[test]
fn a_new_device_of_the_same_user_gets_its_own_anchors_and_map() {
    let mut srv = Server::new(ConflictPolicy::ServerWins);
    let mut a = Client::new("dev-a");
    a.add(&vcard("Alice", "1"));
    a.sync(&mut srv, alert::SLOW_SYNC);
    a.sync(&mut srv, alert::TWO_WAY);
    let mut b = Client::new("dev-b");
    // b asks for two-way but has no anchors here: 508 and slow sync.
    let seen = b.sync(&mut srv, alert::TWO_WAY);
    assert_eq!(seen.alert_status, Some(508));
    assert_eq!(seen.server_adds, 1);
    let pa = PeerId {
        user: "alice".into(),
        device: "dev-a".into(),
        store: "contacts".into(),
    };
    let pb = PeerId {
        device: "dev-b".into(),
        ..pa.clone()
    };
    assert_ne!(
        schema::peer_state(&srv.store, &pa)
            .unwrap()
            .unwrap()
            .client_anchor,
        schema::peer_state(&srv.store, &pb)
            .unwrap()
            .unwrap()
            .client_anchor
    );
    assert_eq!(
        schema::peer_maps(&Txn::new(&srv.store), &pb).unwrap().len(),
        1
    );
}

mod convergence {
    //! Property: after any interleaving of local edits and syncs on three
    //! devices, a final round of two-way syncs leaves every device with
    //! exactly the server's book, under every conflict policy.

    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Add {
            dev: usize,
            tel: u16,
        },
        Modify {
            dev: usize,
            pick: usize,
            tel: u16,
        },
        Delete {
            dev: usize,
            pick: usize,
        },
        Sync {
            dev: usize,
            slow: bool,
        },
        /// The device disappears in the middle of a session.
        Abort {
            dev: usize,
        },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..3usize, any::<u16>()).prop_map(|(dev, tel)| Step::Add { dev, tel }),
            (0..3usize, any::<usize>(), any::<u16>()).prop_map(|(dev, pick, tel)| Step::Modify {
                dev,
                pick,
                tel
            }),
            (0..3usize, any::<usize>()).prop_map(|(dev, pick)| Step::Delete { dev, pick }),
            (0..3usize, proptest::bool::weighted(0.1))
                .prop_map(|(dev, slow)| Step::Sync { dev, slow }),
            (0..3usize).prop_map(|dev| Step::Abort { dev }),
        ]
    }

    fn policy() -> impl Strategy<Value = ConflictPolicy> {
        prop_oneof![
            Just(ConflictPolicy::Merge),
            Just(ConflictPolicy::ServerWins),
            Just(ConflictPolicy::ClientWins),
            Just(ConflictPolicy::Duplicate),
            Just(ConflictPolicy::NewerWins),
        ]
    }

    proptest! {
        // PROPTEST_CASES=5000 for a longer hunt; 48 keeps the default run quick.
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
            ..ProptestConfig::default()
        })]
        #[test]
        fn devices_converge(policy in policy(), steps in proptest::collection::vec(step(), 1..40)) {
            let mut srv = Server::new(policy);
            let mut devs: Vec<Client> = (0..3).map(|i| Client::new(&format!("dev-{i}"))).collect();
            for d in devs.iter_mut() {
                d.sync(&mut srv, alert::SLOW_SYNC);
            }
            let mut n = 0;
            for s in steps {
                match s {
                    Step::Add { dev, tel } => {
                        n += 1;
                        devs[dev].add(&vcard(&format!("P{n}"), &tel.to_string()));
                    }
                    Step::Modify { dev, pick, tel } => {
                        let keys: Vec<String> = devs[dev].book.keys().cloned().collect();
                        if !keys.is_empty() {
                            let luid = keys[pick % keys.len()].clone();
                            let name = devs[dev].book[&luid].lines().find_map(|l| l.strip_prefix("FN:")).unwrap_or("X").to_owned();
                            devs[dev].modify(&luid, &vcard(&name, &format!("m{tel}")));
                        }
                    }
                    Step::Delete { dev, pick } => {
                        let keys: Vec<String> = devs[dev].book.keys().cloned().collect();
                        if !keys.is_empty() {
                            let luid = keys[pick % keys.len()].clone();
                            devs[dev].delete(&luid);
                        }
                    }
                    Step::Sync { dev, slow } => {
                        let mode = if slow { alert::SLOW_SYNC } else { alert::TWO_WAY };
                        devs[dev].sync(&mut srv, mode);
                    }
                    Step::Abort { dev } => {
                        devs[dev].sync_until(&mut srv, alert::TWO_WAY, true);
                    }
                }
            }
            // Two rounds: the first delivers everything to the server, the
            // second brings every device up to date.
            for _ in 0..2 {
                for d in devs.iter_mut() {
                    d.sync(&mut srv, alert::TWO_WAY);
                }
            }
            let server = values(&srv.book());
            for d in &devs {
                prop_assert_eq!(&values(&d.book), &server, "{} diverged ({:?})", d.device, policy);
            }
            // Every contact was created once; only the duplicate policy may
            // turn one into two.
            if !matches!(policy, ConflictPolicy::Duplicate | ConflictPolicy::NewerWins) {
                let mut names: Vec<&str> = server.iter().filter_map(|c| c.lines().find_map(|l| l.strip_prefix("FN:"))).collect();
                let all = names.len();
                names.dedup();
                prop_assert_eq!(names.len(), all, "duplicate contacts: {:?}", server);
            }
        }
    }
}

/// Found by `convergence::devices_converge`: a device whose session broke
/// after it sent an Add, then slow-synced after another device deleted that
/// contact, got a second copy created (the mapped tombstone was ignored).
/// Now an unchanged copy of a deleted item lets the delete stand, and a
/// changed copy re-creates the same GUID.
#[test]
fn regression_slow_sync_of_a_deleted_item_does_not_duplicate() {
    let mut srv = Server::new(ConflictPolicy::ServerWins);
    let mut devs: Vec<Client> = (0..3).map(|i| Client::new(&format!("dev-{i}"))).collect();
    for d in devs.iter_mut() {
        d.sync(&mut srv, alert::SLOW_SYNC);
    }
    devs[0].add(&vcard("P1", "0"));
    devs[0].sync_until(&mut srv, alert::TWO_WAY, true);
    devs[2].sync(&mut srv, alert::TWO_WAY);
    devs[1].sync(&mut srv, alert::TWO_WAY);
    let l2 = devs[2].luid_of("P1");
    devs[2].delete(&l2);
    devs[2].sync_until(&mut srv, alert::TWO_WAY, true);
    let l1 = devs[1].luid_of("P1");
    devs[1].modify(&l1, &vcard("P1", "m0"));
    let seen = devs[0].sync(&mut srv, alert::SLOW_SYNC);
    assert_eq!(
        seen.server_deletes, 1,
        "the unchanged copy is deleted on the device"
    );
    for _ in 0..2 {
        for d in devs.iter_mut() {
            d.sync(&mut srv, alert::TWO_WAY);
        }
    }
    // dev1's modification beats the delete: exactly one P1, everywhere.
    assert_eq!(values(&srv.book()), vec![vcard("P1", "m0")]);
    for d in &devs {
        assert_eq!(values(&d.book), vec![vcard("P1", "m0")], "{}", d.device);
    }
}

#[test]
fn merge_policy_unites_fields_and_sends_the_merge_to_both() {
    let mut srv = Server::new(ConflictPolicy::Merge);
    let mut a = Client::new("dev-a");
    let mut b = Client::new("dev-b");
    a.add(&vcard("Carol", "1"));
    a.sync(&mut srv, alert::SLOW_SYNC);
    b.sync(&mut srv, alert::SLOW_SYNC);
    let (la, lb) = (a.luid_of("Carol"), b.luid_of("Carol"));
    b.modify(&lb, &vcard("Carol", "3333"));
    b.sync(&mut srv, alert::TWO_WAY);
    a.modify(
        &la,
        &vcard("Carol", "2222").replace("END:VCARD", "NOTE:from a\r\nEND:VCARD"),
    );
    let seen = a.sync(&mut srv, alert::TWO_WAY);
    assert_eq!(seen.item_statuses, vec![207]);
    assert_eq!(seen.server_replaces, 1, "the merge goes back to a");
    b.sync(&mut srv, alert::TWO_WAY);
    let book = srv.book();
    assert_eq!(book.len(), 1);
    let merged = book.values().next().unwrap().clone();
    for want in ["TEL:2222", "TEL:3333", "NOTE:from a"] {
        assert!(merged.contains(want), "{want} in {merged}");
    }
    assert_eq!(values(&a.book), vec![merged.clone()]);
    assert_eq!(values(&b.book), vec![merged]);
    let records = schema::conflicts(&srv.store, "alice").unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].resolution, "merged");
    assert_eq!(records[0].device, "dev-a");
    assert!(records[0].server.contains("3333") && records[0].client.contains("2222"));
}

#[test]
fn slow_sync_matches_the_same_person_written_differently() {
    let mut srv = Server::new(ConflictPolicy::Merge);
    let mut a = Client::new("dev-a");
    a.add("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Alice Anders\r\nN:Anders;Alice;;;\r\nTEL:+49 30 1234567\r\nEND:VCARD\r\n");
    a.add("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bob Brown\r\nN:Brown;Bob;;;\r\nTEL:+49 30 7654321\r\nEND:VCARD\r\n");
    a.sync(&mut srv, alert::SLOW_SYNC);
    // Another device has the same people, written its own way, plus a
    // namesake of Bob with another phone: one new contact, not three.
    let mut b = Client::new("dev-b");
    b.add("BEGIN:VCARD\r\nVERSION:2.1\r\nN:Anders;Alice\r\nFN:ALICE ANDERS\r\nTEL;CELL:+4930 123 4567\r\nEMAIL:alice@example.org\r\nEND:VCARD\r\n");
    b.add("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bob Brown\r\nN:Brown;Bob;;;\r\nTEL:+49 30 7654321\r\nEND:VCARD\r\n");
    b.add("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bob Brown\r\nN:Brown;Bob;;;\r\nTEL:+1 212 555 0100\r\nEND:VCARD\r\n");
    b.sync(&mut srv, alert::SLOW_SYNC);
    let book = srv.book();
    assert_eq!(book.len(), 3, "{book:#?}");
    let alice = book.values().find(|d| d.contains("Alice")).unwrap();
    assert!(alice.contains("alice@example.org"), "merged: {alice}");
    a.sync(&mut srv, alert::TWO_WAY);
    b.sync(&mut srv, alert::TWO_WAY);
    assert_eq!(values(&a.book), values(&srv.book()));
    assert_eq!(values(&b.book), values(&srv.book()));
}

#[test]
fn an_add_of_a_contact_the_server_has_is_mapped_not_duplicated() {
    // A device that lost its map (but not its anchors) sends its contacts
    // again as Adds in a two-way sync: no copies.
    let mut srv = Server::new(ConflictPolicy::Merge);
    let mut a = Client::new("dev-a");
    a.add(&vcard("Alice", "1"));
    a.add(&vcard("Bob", "2"));
    a.sync(&mut srv, alert::SLOW_SYNC);
    let peer = PeerId {
        user: "alice".into(),
        device: "dev-a".into(),
        store: "contacts".into(),
    };
    let mut t = Txn::new(&srv.store);
    schema::clear_peer_maps(&mut t, &peer).unwrap();
    srv.store.commit(&t.into_batch()).unwrap();
    for (luid, data) in a.book.clone() {
        a.dirty.insert(luid, Change::Add(data));
    }
    let seen = a.sync(&mut srv, alert::TWO_WAY);
    assert_eq!(seen.item_statuses, vec![201, 201]);
    assert_eq!(srv.book().len(), 2, "no duplicates");
    assert_eq!(
        schema::peer_maps(&Txn::new(&srv.store), &peer)
            .unwrap()
            .len(),
        2,
        "mapped again"
    );
    // A genuinely new identical contact on a device that still maps the
    // first one is a second contact (the device has two).
    let mut b = Client::new("dev-b");
    b.sync(&mut srv, alert::SLOW_SYNC);
    b.add(&vcard("Alice", "1"));
    b.sync(&mut srv, alert::TWO_WAY);
    assert_eq!(srv.book().len(), 3);
}

/// Found by the conformance runner (`alert.201-slow`): a device that reset
/// its store numbers its contacts from 1 again; its slow sync (no Last
/// anchor) wrote its new contact over the unrelated one the old LUID was
/// mapped to.
#[test]
fn regression_reset_device_reusing_a_luid_overwrites_nothing() {
    let mut srv = Server::new(ConflictPolicy::ServerWins);
    let mut old = Client::new("dev-reset");
    old.add(&vcard("Alice", "1"));
    old.sync(&mut srv, alert::SLOW_SYNC);
    let mut fresh = Client::new("dev-reset");
    fresh.add(&vcard("Bob", "2"));
    fresh.sync(&mut srv, alert::SLOW_SYNC);
    assert_eq!(
        values(&srv.book()),
        vec![vcard("Alice", "1"), vcard("Bob", "2")]
    );
    assert_eq!(values(&fresh.book), values(&srv.book()));
}

#[test]
fn two_devices_adding_the_same_person_between_syncs_leave_one_contact() {
    let mut srv = Server::new(ConflictPolicy::Merge);
    let mut a = Client::new("dev-a");
    let mut b = Client::new("dev-b");
    a.sync(&mut srv, alert::SLOW_SYNC);
    b.sync(&mut srv, alert::SLOW_SYNC);
    // Both enter Alice, each its own way; b also knows her email.
    a.add("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Alice Anders\r\nN:Anders;Alice;;;\r\nTEL:+49 30 1234567\r\nEND:VCARD\r\n");
    b.add("BEGIN:VCARD\r\nVERSION:2.1\r\nN:Anders;Alice\r\nFN:ALICE ANDERS\r\nTEL;CELL:+4930 123 4567\r\nEMAIL:alice@example.org\r\nEND:VCARD\r\n");
    a.sync(&mut srv, alert::TWO_WAY);
    let seen = b.sync(&mut srv, alert::TWO_WAY);
    assert_eq!(seen.item_statuses, vec![201]);
    assert_eq!(seen.server_adds, 0, "b is not sent a copy of Alice");
    let book = srv.book();
    assert_eq!(book.len(), 1, "{book:#?}");
    let alice = book.values().next().unwrap();
    assert!(alice.contains("alice@example.org"), "merged: {alice}");
    a.sync(&mut srv, alert::TWO_WAY);
    assert_eq!(a.book.len(), 1);
    assert_eq!(b.book.len(), 1);
    assert_eq!(values(&a.book), values(&srv.book()));
    assert_eq!(values(&b.book), values(&srv.book()));
}

#[test]
fn an_identical_add_matched_to_another_devices_contact_is_not_echoed() {
    let mut srv = Server::new(ConflictPolicy::Merge);
    let mut a = Client::new("dev-a");
    let mut b = Client::new("dev-b");
    a.sync(&mut srv, alert::SLOW_SYNC);
    b.sync(&mut srv, alert::SLOW_SYNC);
    a.add(&vcard("Alice", "+49 30 1234567"));
    a.sync(&mut srv, alert::TWO_WAY);
    b.add(&vcard("Alice", "+49 30 1234567"));
    let seen = b.sync(&mut srv, alert::TWO_WAY);
    assert_eq!(seen.item_statuses, vec![201]);
    assert_eq!(
        (seen.server_adds, seen.server_replaces),
        (0, 0),
        "nothing to send: b has exactly the server's Alice"
    );
    assert_eq!(srv.book().len(), 1);
}

#[test]
fn adds_outside_a_slow_sync_keep_namesakes_and_own_contacts_apart() {
    let mut srv = Server::new(ConflictPolicy::Merge);
    let mut a = Client::new("dev-a");
    let mut b = Client::new("dev-b");
    a.sync(&mut srv, alert::SLOW_SYNC);
    b.sync(&mut srv, alert::SLOW_SYNC);
    a.add(&vcard("Bob Brown", "+49 30 7654321"));
    a.sync(&mut srv, alert::TWO_WAY);
    // Another Bob Brown, another phone: another person.
    b.add(&vcard("Bob Brown", "+1 212 555 0100"));
    b.sync(&mut srv, alert::TWO_WAY);
    assert_eq!(srv.book().len(), 2);
    // a now has both Bobs; a third one it enters with the first one's
    // phone, written differently, is its own business: a has two entries,
    // the server keeps two.
    a.sync(&mut srv, alert::TWO_WAY);
    a.add(&vcard("BOB BROWN", "+49 (30) 765-4321"));
    a.sync(&mut srv, alert::TWO_WAY);
    assert_eq!(srv.book().len(), 3);
    assert_eq!(values(&a.book), values(&srv.book()));
}

#[test]
fn the_people_index_follows_edits_and_deletes() {
    let mut srv = Server::new(ConflictPolicy::Merge);
    // e last synced when the book was empty.
    let mut e = Client::new("dev-e");
    e.sync(&mut srv, alert::SLOW_SYNC);
    let mut a = Client::new("dev-a");
    let mut b = Client::new("dev-b");
    a.add(&vcard("Carol Clark", "+49 30 1000001"));
    a.add(&vcard("Dave Dunn", "+49 30 1000002"));
    a.sync(&mut srv, alert::SLOW_SYNC);
    b.sync(&mut srv, alert::SLOW_SYNC);
    // An Add from b makes the index catch up (Carol and Dave indexed).
    let mut c = Client::new("dev-c");
    c.sync(&mut srv, alert::SLOW_SYNC);
    c.add(&vcard("Erin Eck", "+49 30 1000009"));
    c.sync(&mut srv, alert::TWO_WAY);
    // Then a deletes Carol and gives Dave a new phone.
    let carol = a.luid_of("Carol");
    a.delete(&carol);
    let dave = a.luid_of("Dave");
    a.modify(&dave, &vcard("Dave Dunn", "+49 30 2000002"));
    a.sync(&mut srv, alert::TWO_WAY);
    // A device that never saw either: its Carol is new (the old one is
    // gone), its Dave with the new phone is the server's Dave, with the
    // old phone another Dave.
    let mut d = Client::new("dev-d");
    d.add(&vcard("Carol Clark", "+49 30 1000001"));
    d.sync(&mut srv, alert::SLOW_SYNC);
    let live_carols = srv.book().values().filter(|v| v.contains("Carol")).count();
    assert_eq!(live_carols, 1);
    // (Written differently from the server's copies: matched by person,
    // not by bytes.)
    e.add(&vcard("CAROL CLARK", "+49 (30) 100-0001"));
    e.add(&vcard("DAVE DUNN", "+49 (30) 200-0002"));
    e.add(&vcard("DAVE DUNN", "+49 (30) 100-0002"));
    e.sync(&mut srv, alert::TWO_WAY);
    let book = srv.book();
    let count = |n: &str| {
        book.values()
            .filter(|v| v.to_lowercase().contains(n))
            .count()
    };
    assert_eq!(count("dave"), 2, "{book:#?}");
    assert_eq!(count("carol"), 1, "d's Carol is the one e adds: {book:#?}");
    assert_eq!(e.book.len(), 4, "Carol, two Daves, Erin");
}

#[test]
fn regression_a_book_indexed_in_the_old_key_form_is_reindexed_and_still_matches() {
    // Stores written before the people index kept content fingerprints
    // ("f:" keys, KEYS_VERSION 1) hold keys without them and a
    // people_version of 0. Both readers of the index (an Add's lookup and
    // a slow sync's whole-book index) must re-index such a book, not
    // trust its keys, and still find every person.
    let mut srv = Server::new(ConflictPolicy::Merge);
    let mut e = Client::new("dev-e");
    e.sync(&mut srv, alert::SLOW_SYNC);
    let mut a = Client::new("dev-a");
    a.add(&vcard("Carol Clark", "+49 30 1000001"));
    a.add(&vcard("Dave Dunn", "+49 30 1000002"));
    a.sync(&mut srv, alert::SLOW_SYNC);
    // An Add elsewhere makes the index catch up in the current form.
    let mut c = Client::new("dev-c");
    c.sync(&mut srv, alert::SLOW_SYNC);
    c.add(&vcard("Erin Eck", "+49 30 1000009"));
    c.sync(&mut srv, alert::TWO_WAY);
    let book = schema::BookId {
        user: "alice".into(),
        store: "contacts".into(),
    };
    let fingerprinted = |srv: &Server| {
        schema::people_keys_page(&srv.store, &book, "", usize::MAX)
            .unwrap()
            .iter()
            .filter(|(_, keys)| keys.iter().any(|k| k.starts_with("f:")))
            .count()
    };
    // Carol and Dave (Erin came after the catch-up her Add triggered).
    assert_eq!(fingerprinted(&srv), 2);
    assert_eq!(
        schema::book_meta(&srv.store, &book).unwrap().people_version,
        1
    );

    // Turn the store into the old form.
    let mut t = Txn::new(&srv.store);
    for (guid, keys) in schema::people_keys_page(&srv.store, &book, "", usize::MAX).unwrap() {
        let old: Vec<String> = keys.into_iter().filter(|k| !k.starts_with("f:")).collect();
        schema::set_people_keys(&mut t, &book, &guid, &old).unwrap();
    }
    let mut meta = schema::book_meta(&srv.store, &book).unwrap();
    meta.people_version = 0;
    schema::put_book_meta(&mut t, &book, &meta);
    srv.store.commit(&t.into_batch()).unwrap();
    assert_eq!(fingerprinted(&srv), 0);

    // An Add of Carol written another way (e synced when the book was
    // empty): the server's Carol, not a second one.
    e.add(&vcard("CAROL CLARK", "+49 (30) 100-0001"));
    e.sync(&mut srv, alert::TWO_WAY);
    assert_eq!(
        schema::book_meta(&srv.store, &book).unwrap().people_version,
        1
    );
    assert_eq!(fingerprinted(&srv), 3, "re-indexed in the current form");
    // And a new device's slow sync with all three, written its own way.
    let mut g = Client::new("dev-g");
    g.add(&vcard("CAROL CLARK", "0049 30 1000001"));
    g.add(&vcard("dave dunn", "+49 (30) 100-0002"));
    g.add(&vcard("Erin Eck", "+49 30 1000009"));
    g.sync(&mut srv, alert::SLOW_SYNC);
    let book_now = srv.book();
    let count = |n: &str| {
        book_now
            .values()
            .filter(|v| v.to_lowercase().contains(n))
            .count()
    };
    assert_eq!(
        (count("carol"), count("dave"), count("erin")),
        (1, 1, 1),
        "{book_now:#?}"
    );
    assert_eq!(book_now.len(), 3);
}
