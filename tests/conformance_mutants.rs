//! The conformance runner against syncmld's own server in process, intact
//! and deliberately broken.
//!
//! * `catalogue_passes_in_process`: every scenario passes against the real
//!   service stack (engine + `SyncService` on a memory store with three
//!   contacts in it), and the book is left as found.
//! * One test per scenario: a [`Mutant`] transport between the runner and
//!   the service tampers with the messages in one way (drops a status,
//!   changes a code, echoes a change, hides a 508, …) and the scenario
//!   must fail. So no scenario can pass vacuously.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use syncmld::auth::Scheme;
use syncmld::conformance::{self, Options, RunReport, Verdict};
use syncmld::engine::ConflictPolicy;
use syncmld::engine::book::{self, Change};
use syncmld::engine::server::{ServerConfig, ServerEngine};
use syncmld::protocol::{
    Command, Item, ItemCommand, ItemData, Loc, Meta, Status, StatusCode, SyncMl, mime,
};
use syncmld::service::{ServiceLimits, SyncService};
use syncmld::store::schema::{self, BookId};
use syncmld::store::{MemoryStore, Store, Txn};
use syncmld::sync_client::{LocalTransport, Transport, TransportError};
use syncmld::wire::xml;

const URL: &str = "http://conformance.test/sync";

fn service() -> (Arc<SyncService>, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    syncmld::admin::add_user(store.as_ref(), "alice", "secret", false, false, 0).unwrap();
    let engine = ServerEngine::new(ServerConfig {
        max_msg_size: 150_000,
        max_obj_size: 4_000_000,
        schemes: vec![Scheme::Md5, Scheme::Hmac, Scheme::Basic, Scheme::Device],
        require_registered_devices: false,
        store_name: "contacts".into(),
        contact_uris: vec!["addressbook".into(), "contacts".into()],
        conflict_policy: ConflictPolicy::ServerWins,
        region: syncmld::contacts::Region::none(),
    });
    let limits = ServiceLimits {
        session_timeout: Duration::from_secs(60),
        max_sessions: 1000,
        max_finished_sessions: 10_000,
        fallback_url: URL.into(),
    };
    let dyn_store: Arc<dyn Store> = store.clone();
    (Arc::new(SyncService::new(engine, dyn_store, limits)), store)
}

fn book() -> BookId {
    BookId {
        user: "alice".into(),
        store: "contacts".into(),
    }
}

/// The phone number of every seeded contact.
const SEED_TEL: &str = "+44 20 0000";

/// Three contacts already on the server: the runner must leave them.
fn seed(store: &MemoryStore) -> Vec<String> {
    let cards: Vec<String> = ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
        .iter()
        .map(|n| {
            format!("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{n}\r\nN:{n};;;;\r\nTEL:{SEED_TEL}\r\nEND:VCARD\r\n")
        })
        .collect();
    for c in &cards {
        let mut t = Txn::new(store);
        book::create(
            &mut t,
            &book(),
            &Change {
                content_type: mime::VCARD30,
                data: c,
                origin: "",
                now_ms: 1,
            },
        )
        .unwrap();
        store.commit(&t.into_batch()).unwrap();
    }
    cards
}

fn live(store: &MemoryStore) -> Vec<String> {
    let mut v: Vec<String> = schema::items_page(store, &book(), "", usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|(_, r)| !r.deleted)
        .map(|(_, r)| r.data)
        .collect();
    v.sort();
    v
}

fn options(only: Option<&str>) -> Options {
    let mut o = Options::new(URL, "alice", "secret");
    o.only = only.map(str::to_owned);
    o
}

async fn run(only: Option<&str>, transport: impl Transport + 'static) -> RunReport {
    conformance::run(&options(only), transport, &mut |r| {
        println!("{}", conformance::report::table_row(r))
    })
    .await
    .unwrap_or_else(|e| panic!("the run did not start: {e}"))
}

#[tokio::test]
async fn catalogue_passes_in_process() {
    let (svc, store) = service();
    let mut seeded = seed(&store);
    seeded.sort();
    let t = LocalTransport {
        service: svc,
        timeout: Duration::from_secs(30),
    };
    let report = run(None, t).await;
    println!("{}\n{}", report.summary(), report.final_state_line());
    let bad: Vec<String> = report
        .results
        .iter()
        .filter(|r| !matches!(r.verdict, Verdict::Pass(_)))
        .map(|r| format!("{} {}: {}", r.id, r.verdict.label(), r.verdict.detail()))
        .collect();
    assert!(bad.is_empty(), "not passed:\n{}", bad.join("\n"));
    assert_eq!(report.results.len(), conformance::list().len());
    assert_eq!(
        report.final_state,
        conformance::FinalState::Restored { contacts: 3 }
    );
    // Same content: the seeded cards are untouched (only delete-all re-adds
    // them, with the same text).
    assert_eq!(live(&store), seeded);
}

#[tokio::test]
async fn catalogue_passes_with_basic_auth_another_datastore_and_prefix() {
    let (svc, store) = service();
    seed(&store);
    let mut o = options(None);
    o.auth = Scheme::Basic;
    o.datastore = "./Contacts".into();
    o.device_prefix = "phone".into();
    let t = LocalTransport {
        service: svc,
        timeout: Duration::from_secs(30),
    };
    let report = conformance::run(&o, t, &mut |_| {}).await.unwrap();
    let bad: Vec<String> = report
        .results
        .iter()
        .filter(|r| !matches!(r.verdict, Verdict::Pass(_)))
        .map(|r| format!("{} {}: {}", r.id, r.verdict.label(), r.verdict.detail()))
        .collect();
    assert!(bad.is_empty(), "not passed:\n{}", bad.join("\n"));
    // The devices used the prefix.
    let devices = schema::devices(store.as_ref(), "alice").unwrap();
    assert!(
        devices.iter().all(|(d, _)| d.starts_with("phone-")),
        "{devices:?}"
    );
}

// ---------------------------------------------------------------------------
// A deliberately broken server: the real service behind a transport that
// tampers with what goes in and out.

type RequestHook = Box<dyn Fn(&mut SyncMl) + Send + Sync>;
type ReplyHook = Box<dyn Fn(&SyncMl, &mut SyncMl) + Send + Sync>;
type HttpHook = Box<
    dyn Fn(&[u8], Result<Vec<u8>, TransportError>) -> Result<Vec<u8>, TransportError> + Send + Sync,
>;

#[derive(Default)]
struct Hooks {
    /// Changes a client message before the server sees it.
    request: Option<RequestHook>,
    /// Changes the server's reply (given the request it answers).
    reply: Option<ReplyHook>,
    /// Changes the HTTP outcome (for undecodable requests).
    http: Option<HttpHook>,
}

impl Hooks {
    fn reply(f: impl Fn(&SyncMl, &mut SyncMl) + Send + Sync + 'static) -> Self {
        Hooks {
            reply: Some(Box::new(f)),
            ..Hooks::default()
        }
    }
    fn request(f: impl Fn(&mut SyncMl) + Send + Sync + 'static) -> Self {
        Hooks {
            request: Some(Box::new(f)),
            ..Hooks::default()
        }
    }
}

struct Mutant {
    service: Arc<SyncService>,
    hooks: Arc<Hooks>,
}

impl Transport for Mutant {
    fn post(
        &self,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> impl std::future::Future<Output = Result<Vec<u8>, TransportError>> + Send {
        let inner = LocalTransport {
            service: self.service.clone(),
            timeout: Duration::from_secs(30),
        };
        let hooks = self.hooks.clone();
        let (url, content_type) = (url.to_owned(), content_type.to_owned());
        async move {
            let mut request = xml::decode(&body).ok();
            let body = match (&mut request, &hooks.request) {
                (Some(m), Some(f)) => {
                    f(m);
                    xml::encode(m)
                }
                _ => body,
            };
            let result = inner.post(&url, &content_type, body.clone()).await;
            let result = match (&request, result, &hooks.reply) {
                (Some(q), Ok(bytes), Some(f)) => match xml::decode(&bytes) {
                    Ok(mut m) => {
                        f(q, &mut m);
                        Ok(xml::encode(&m))
                    }
                    Err(_) => Ok(bytes),
                },
                (_, r, _) => r,
            };
            match &hooks.http {
                Some(f) => f(&body, result),
                None => result,
            }
        }
    }
}

/// Run scenario `id` against the broken server; it must fail.
async fn must_fail(id: &str, hooks: Hooks) {
    let (svc, store) = service();
    seed(&store);
    let t = Mutant {
        service: svc,
        hooks: Arc::new(hooks),
    };
    let report = run(Some(id), t).await;
    let r = report
        .results
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("{id} did not run"));
    assert!(
        r.verdict.is_fail(),
        "{id} did not fail against the broken server: {} {}",
        r.verdict.label(),
        r.verdict.detail()
    );
    assert!(
        !r.transcript.is_empty(),
        "{id}: a failure keeps its exchange"
    );
}

// ---- helpers for hooks ----

fn statuses(m: &mut SyncMl) -> impl Iterator<Item = &mut Status> {
    m.body.commands.iter_mut().filter_map(|c| match c {
        Command::Status(s) => Some(s),
        _ => None,
    })
}

/// Statuses for `cmd` with code `from` become `to`.
fn recode(m: &mut SyncMl, cmd: &str, from: u16, to: u16) {
    for s in statuses(m) {
        if s.cmd == cmd && s.data.0 == from {
            s.data = StatusCode(to);
        }
    }
}

fn from_device(q: &SyncMl, n: usize) -> bool {
    q.header.source.loc_uri == format!("{}-{n}", conformance::DEFAULT_DEVICE_PREFIX)
}

/// The sync Alert codes in a message.
fn alert_codes(m: &SyncMl) -> Vec<u16> {
    m.body
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Alert(a) => a.data.filter(|d| (200..=210).contains(d)),
            _ => None,
        })
        .collect()
}

fn set_alert_code(m: &mut SyncMl, from: u16, to: u16) {
    for c in &mut m.body.commands {
        if let Command::Alert(a) = c
            && a.data == Some(from)
        {
            a.data = Some(to);
        }
    }
}

/// The item commands inside every Sync of a message.
fn sync_ops(m: &mut SyncMl) -> impl Iterator<Item = &mut Vec<Command>> {
    m.body.commands.iter_mut().filter_map(|c| match c {
        Command::Sync(s) => Some(&mut s.commands),
        _ => None,
    })
}

/// Remembers the sync Alert of each session's first message.
#[derive(Default)]
struct Sessions(Mutex<Vec<(String, String, u16)>>);

impl Sessions {
    fn note(&self, q: &SyncMl) {
        if let Some(code) = alert_codes(q).first() {
            self.0.lock().unwrap().push((
                q.header.source.loc_uri.clone(),
                q.header.session_id.clone(),
                *code,
            ));
        }
    }
    fn mode(&self, q: &SyncMl) -> Option<u16> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(d, s, _)| *d == q.header.source.loc_uri && *s == q.header.session_id)
            .map(|(_, _, c)| *c)
    }
}

fn without_last_property(data: &str) -> String {
    let mut lines: Vec<&str> = data.lines().collect();
    if let Some(end) = lines.iter().rposition(|l| l.trim() == "END:VCARD")
        && end > 0
    {
        lines.remove(end - 1);
    }
    lines.join("\r\n") + "\r\n"
}

// ---- one broken server per scenario ----

#[tokio::test]
async fn mutant_auth_no_cred_407() {
    must_fail(
        "auth.no-cred-407",
        Hooks::reply(|_, m| recode(m, "SyncHdr", 407, 401)),
    )
    .await;
}

#[tokio::test]
async fn mutant_auth_bad_password_401() {
    // 401 → 407 keeps the challenge (so clients still retry) but names the
    // wrong problem.
    must_fail(
        "auth.bad-password-401",
        Hooks::reply(|q, m| {
            if q.header.cred.is_some() {
                recode(m, "SyncHdr", 401, 407)
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_auth_md5_nonce() {
    // The nonce for the next session never reaches the client.
    must_fail(
        "auth.md5-nonce",
        Hooks::reply(|_, m| {
            for s in statuses(m) {
                if s.cmd == "SyncHdr" && s.data.0 == 212 {
                    s.chal = None;
                }
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_auth_basic() {
    must_fail(
        "auth.basic",
        Hooks::reply(|q, m| {
            let basic = q
                .header
                .cred
                .as_ref()
                .and_then(|c| c.meta.as_ref())
                .and_then(|m| m.type_.as_deref())
                == Some("syncml:auth-basic");
            if basic {
                recode(m, "SyncHdr", 212, 401)
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_devinf_get() {
    must_fail(
        "devinf.get",
        Hooks::reply(|_, m| {
            m.body
                .commands
                .retain(|c| !matches!(c, Command::Results(_)))
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_devinf_put() {
    must_fail(
        "devinf.put",
        Hooks::reply(|_, m| recode(m, "Put", 200, 500)),
    )
    .await;
}

/// The server alerts another sync type than the one asked for.
async fn alert_mutant(id: &str, asked: u16, alerted: u16) {
    must_fail(
        id,
        Hooks::reply(move |q, m| {
            if alert_codes(q).contains(&asked) {
                set_alert_code(m, asked, alerted)
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_alert_200() {
    alert_mutant("alert.200-two-way", 200, 202).await;
}

#[tokio::test]
async fn mutant_alert_201() {
    alert_mutant("alert.201-slow", 201, 205).await;
}

#[tokio::test]
async fn mutant_alert_202() {
    alert_mutant("alert.202-one-way-from-client", 202, 200).await;
}

#[tokio::test]
async fn mutant_alert_203() {
    alert_mutant("alert.203-refresh-from-client", 203, 201).await;
}

#[tokio::test]
async fn mutant_alert_204() {
    alert_mutant("alert.204-one-way-from-server", 204, 200).await;
}

#[tokio::test]
async fn mutant_alert_205() {
    alert_mutant("alert.205-refresh-from-server", 205, 201).await;
}

#[tokio::test]
async fn mutant_anchor_second_sync() {
    // The server forgets the anchors of every completed session.
    must_fail(
        "anchor.second-sync-two-way",
        Hooks::reply(|q, m| {
            if alert_codes(q).contains(&200) {
                recode(m, "Alert", 200, 508);
                set_alert_code(m, 200, 201);
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_anchor_wrong_last() {
    // The server does not check the Last anchor.
    must_fail(
        "anchor.wrong-last-508",
        Hooks::reply(|q, m| {
            if alert_codes(q).contains(&200) {
                recode(m, "Alert", 508, 200);
                set_alert_code(m, 201, 200);
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_anchor_next_echoed() {
    must_fail(
        "anchor.next-echoed",
        Hooks::reply(|_, m| {
            for s in statuses(m) {
                if s.cmd == "Alert" {
                    s.items.clear();
                }
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_sync_client_add() {
    must_fail(
        "sync.client-add",
        Hooks::reply(|_, m| recode(m, "Add", 201, 200)),
    )
    .await;
}

#[tokio::test]
async fn mutant_sync_client_replace() {
    // The server's Replace names its GUID (Source) instead of the LUID.
    must_fail(
        "sync.client-replace",
        Hooks::reply(|_, m| {
            for ops in sync_ops(m) {
                for op in ops.iter_mut() {
                    if let Command::Replace(c) = op {
                        for it in &mut c.items {
                            it.target = None;
                            it.source = Some(Loc::uri("guid-not-luid"));
                        }
                    }
                }
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_sync_client_delete() {
    // Deletes never reach the other devices.
    must_fail(
        "sync.client-delete",
        Hooks::reply(|_, m| {
            for ops in sync_ops(m) {
                ops.retain(|c| !matches!(c, Command::Delete(_)));
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_sync_no_echo() {
    // The server echoes the client's own Add back in its Sync.
    must_fail(
        "sync.no-echo",
        Hooks::reply(|q, m| {
            let theirs: Vec<String> = q
                .body
                .commands
                .iter()
                .filter_map(|c| match c {
                    Command::Sync(s) => Some(s),
                    _ => None,
                })
                .flat_map(|s| s.commands.iter())
                .filter_map(|c| match c {
                    Command::Add(c) | Command::Replace(c) => {
                        c.items.first()?.text().map(str::to_owned)
                    }
                    _ => None,
                })
                .collect();
            let Some(data) = theirs.first() else { return };
            let top = m
                .body
                .commands
                .iter()
                .map(Command::cmd_id)
                .max()
                .unwrap_or(0);
            let mut next = top + 100;
            for ops in sync_ops(m) {
                let mut echo = Command::Add(ItemCommand {
                    meta: Some(Meta::with_type(mime::VCARD30)),
                    items: vec![Item {
                        source: Some(Loc::uri("echo-guid")),
                        data: Some(ItemData::Text(data.clone())),
                        ..Item::default()
                    }],
                    ..ItemCommand::default()
                });
                next = echo.renumber(next);
                ops.push(echo);
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_sync_replace_unknown() {
    must_fail(
        "sync.replace-unknown",
        Hooks::reply(|_, m| recode(m, "Replace", 201, 404)),
    )
    .await;
}

#[tokio::test]
async fn mutant_sync_delete_unknown() {
    must_fail(
        "sync.delete-unknown",
        Hooks::reply(|_, m| recode(m, "Delete", 211, 200)),
    )
    .await;
}

#[tokio::test]
async fn mutant_map_basic() {
    must_fail("map.basic", Hooks::reply(|_, m| recode(m, "Map", 200, 500))).await;
}

#[tokio::test]
async fn mutant_map_next_session() {
    // The server files every Map under a LUID the client never used.
    must_fail(
        "map.next-session",
        Hooks::request(|m| {
            for c in &mut m.body.commands {
                if let Command::Map(map) = c {
                    for it in &mut map.items {
                        it.source.loc_uri.push_str("-lost");
                    }
                }
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_size_multi_message() {
    // Replies ignore the client's MaxMsgSize.
    must_fail(
        "size.multi-message",
        Hooks::reply(|q, m| {
            let small = q
                .header
                .meta
                .as_ref()
                .and_then(|m| m.max_msg_size)
                .is_some_and(|n| n <= 10_240);
            if small && let Some(s) = statuses(m).next() {
                s.items.push(Item {
                    data: Some(ItemData::Text("padding ".repeat(1500))),
                    ..Item::default()
                });
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_size_large_object() {
    must_fail(
        "size.large-object",
        Hooks::reply(|_, m| recode(m, "Add", 213, 200)),
    )
    .await;
}

#[tokio::test]
async fn mutant_session_resend() {
    // A resent message is answered differently.
    let seen: Mutex<Vec<(String, String, u32)>> = Mutex::new(Vec::new());
    must_fail(
        "session.resend",
        Hooks::reply(move |q, m| {
            let key = (
                q.header.source.loc_uri.clone(),
                q.header.session_id.clone(),
                q.header.msg_id,
            );
            let mut seen = seen.lock().unwrap();
            if seen.contains(&key) {
                recode(m, "Add", 201, 500);
            } else {
                seen.push(key);
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_slow_identical_no_dup() {
    // The second device's contacts arrive as other people (renamed), so
    // nothing matches and the book doubles. (A changed NOTE is no longer
    // enough: the server recognises the same person and merges.)
    must_fail(
        "slow.identical-no-dup",
        Hooks::request(|m| {
            if !from_device(m, 2) {
                return;
            }
            for ops in sync_ops(m) {
                for op in ops.iter_mut() {
                    if let Command::Add(c) = op {
                        for it in &mut c.items {
                            if let Some(ItemData::Text(t)) = &mut it.data {
                                *t = t
                                    .split("\r\n")
                                    .map(|l| {
                                        if let Some(v) = l.strip_prefix("FN:") {
                                            format!("FN:Zz {v}")
                                        } else if let Some(v) = l.strip_prefix("N:") {
                                            format!("N:Zz{v}")
                                        } else {
                                            l.to_owned()
                                        }
                                    })
                                    .collect::<Vec<_>>()
                                    .join("\r\n");
                            }
                        }
                    }
                }
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_conflict_same_add() {
    // The second device never gets the server's changes.
    must_fail(
        "conflict.same-add-both-sides",
        Hooks::reply(|q, m| {
            if from_device(q, 2) {
                for ops in sync_ops(m) {
                    ops.clear();
                }
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_conflict_both_modified() {
    // The losing device is never told who won.
    must_fail(
        "conflict.both-modified",
        Hooks::reply(|q, m| {
            if from_device(q, 2) {
                for ops in sync_ops(m) {
                    ops.retain(|c| !matches!(c, Command::Replace(_)));
                }
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_bulk_delete_all() {
    // One Delete gets lost on the way in.
    must_fail(
        "bulk.delete-all",
        Hooks::request(|m| {
            for ops in sync_ops(m) {
                if let Some(i) = ops.iter().position(|c| matches!(c, Command::Delete(_))) {
                    ops.remove(i);
                }
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_bulk_1000() {
    // One Add to the second device gets lost.
    must_fail(
        "bulk.1000-items",
        Hooks::reply(|q, m| {
            if from_device(q, 2) {
                for ops in sync_ops(m) {
                    if let Some(i) = ops.iter().position(|c| matches!(c, Command::Add(_))) {
                        ops.remove(i);
                    }
                }
            }
        }),
    )
    .await;
}

/// In refresh-from-server sessions, the server drops the last property of
/// each contact the runner added (the seeded ones stay intact, so the
/// check that fails is the property comparison).
async fn fidelity_mutant(id: &str) {
    let sessions = Sessions::default();
    must_fail(
        id,
        Hooks::reply(move |q, m| {
            sessions.note(q);
            if sessions.mode(q) != Some(205) {
                return;
            }
            for ops in sync_ops(m) {
                for op in ops.iter_mut() {
                    if let Command::Add(c) = op {
                        for it in &mut c.items {
                            if let Some(ItemData::Text(t)) = &mut it.data
                                && !t.contains(SEED_TEL)
                            {
                                *t = without_last_property(t);
                            }
                        }
                    }
                }
            }
        }),
    )
    .await;
}

#[tokio::test]
async fn mutant_fidelity_vcard21() {
    fidelity_mutant("fidelity.vcard21-qp").await;
}

#[tokio::test]
async fn mutant_fidelity_cjk() {
    fidelity_mutant("fidelity.cjk").await;
}

#[tokio::test]
async fn mutant_fidelity_photo() {
    fidelity_mutant("fidelity.photo").await;
}

#[tokio::test]
async fn mutant_fidelity_note() {
    fidelity_mutant("fidelity.multiline-note").await;
}

#[tokio::test]
async fn mutant_fidelity_x_props() {
    fidelity_mutant("fidelity.x-props").await;
}

#[tokio::test]
async fn mutant_fidelity_common() {
    fidelity_mutant("fidelity.common-fields").await;
}

#[tokio::test]
async fn mutant_bad_malformed() {
    must_fail(
        "bad.malformed-xml",
        Hooks {
            http: Some(Box::new(|body, result| match result {
                Err(TransportError::Http {
                    status: 400,
                    message,
                }) if xml::decode(body).is_err() => Err(TransportError::Http {
                    status: 500,
                    message,
                }),
                other => other,
            })),
            ..Hooks::default()
        },
    )
    .await;
}

#[tokio::test]
async fn mutant_bad_unknown_datastore() {
    must_fail(
        "bad.unknown-datastore",
        Hooks::reply(|_, m| recode(m, "Alert", 404, 200)),
    )
    .await;
}

#[tokio::test]
async fn mutant_bad_unsupported_version() {
    must_fail(
        "bad.unsupported-version",
        Hooks::reply(|_, m| recode(m, "SyncHdr", 513, 505)),
    )
    .await;
}

/// Every scenario of the catalogue has a mutant above.
#[test]
fn every_scenario_has_a_mutant() {
    let src = include_str!("conformance_mutants.rs");
    let missing: Vec<&str> = conformance::list()
        .iter()
        .map(|s| s.id)
        .filter(|id| !src.contains(&format!("\"{id}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "scenarios without a mutant: {missing:?}"
    );
}
