//! The catalogue: every scenario with its id, title and the rule it checks
//! (sections of `shared/docs/syncml-protocol.md` unless named otherwise),
//! in the order they run. docs/conformance.md describes each one.

use std::future::Future;
use std::pin::Pin;

use super::ctx::Ctx;
use super::scenarios::{
    Outcome, alerts, anchors, auth, bad, bulk, changes, conflicts, devinf, fidelity, maps,
    scripted, size,
};

type RunFn = for<'a> fn(&'a Ctx) -> Pin<Box<dyn Future<Output = Outcome> + 'a>>;

pub struct Scenario {
    pub id: &'static str,
    pub title: &'static str,
    pub rule: &'static str,
    pub(crate) run: RunFn,
}

/// What `syncmld conformance --list` shows.
#[derive(Debug, Clone, Copy)]
pub struct ScenarioInfo {
    pub id: &'static str,
    pub title: &'static str,
    pub rule: &'static str,
}

/// Every scenario, in run order.
pub fn list() -> Vec<ScenarioInfo> {
    SCENARIOS
        .iter()
        .map(|s| ScenarioInfo {
            id: s.id,
            title: s.title,
            rule: s.rule,
        })
        .collect()
}

/// Does `id` match `only`? `only` is a comma-separated list of patterns;
/// a pattern is an id, a group (`auth` = `auth.*`) or a glob with `*`.
pub fn matches(only: Option<&str>, id: &str) -> bool {
    let Some(only) = only else { return true };
    only.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .any(|p| {
            if p.contains('*') {
                glob(p, id)
            } else {
                id == p || id.strip_prefix(p).is_some_and(|rest| rest.starts_with('.'))
            }
        })
}

fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = match parts.split_first() {
        Some(x) => x,
        None => return s.is_empty(),
    };
    let Some(mut tail) = s.strip_prefix(first) else {
        return false;
    };
    for (i, part) in rest.iter().enumerate() {
        if i + 1 == rest.len() {
            return tail.ends_with(part);
        }
        match tail.find(part) {
            Some(pos) => tail = &tail[pos + part.len()..],
            None => return false,
        }
    }
    tail.is_empty()
}

/// `scenario!(id, title, rule, function)`: an entry whose `run` boxes the
/// function's future.
macro_rules! scenario {
    ($id:literal, $title:literal, $rule:literal, $f:path) => {
        Scenario {
            id: $id,
            title: $title,
            rule: $rule,
            run: {
                fn run(cx: &Ctx) -> Pin<Box<dyn Future<Output = Outcome> + '_>> {
                    Box::pin($f(cx))
                }
                run
            },
        }
    };
}

pub(crate) static SCENARIOS: &[Scenario] = &[
    scenario!(
        "auth.no-cred-407",
        "A message without credentials gets 407 with a challenge",
        "syncml-protocol.md §2 (407 missing credentials + Chal)",
        auth::no_cred_407
    ),
    scenario!(
        "auth.bad-password-401",
        "A wrong password gets 401 with a challenge",
        "syncml-protocol.md §2 (401 invalid credentials + Chal)",
        auth::bad_password_401
    ),
    scenario!(
        "auth.md5-nonce",
        "The md5 NextNonce of one session authenticates the next session",
        "syncml-protocol.md §2 (nonce rolling, per device)",
        auth::md5_nonce
    ),
    scenario!(
        "auth.basic",
        "auth-basic credentials are accepted",
        "syncml-protocol.md §2 (auth-basic)",
        auth::basic
    ),
    scenario!(
        "devinf.get",
        "Get ./devinf12 is answered with Results carrying a valid DevInf 1.2",
        "syncml-protocol.md §6; OMA DevInf DTD 1.2",
        devinf::get
    ),
    scenario!(
        "devinf.put",
        "The client's DevInf (Put ./devinf12) is accepted",
        "syncml-protocol.md §6",
        devinf::put
    ),
    scenario!(
        "alert.200-two-way",
        "Two-way sync: the server alerts 200 and takes the client's changes",
        "syncml-protocol.md §3.2 (Alert 200)",
        alerts::two_way
    ),
    scenario!(
        "alert.201-slow",
        "Slow sync: the server alerts 201 and takes all client items",
        "syncml-protocol.md §3.2 (Alert 201)",
        alerts::slow
    ),
    scenario!(
        "alert.202-one-way-from-client",
        "One-way from client: client changes go up, none come down",
        "syncml-protocol.md §3.2 (Alert 202)",
        alerts::one_way_from_client
    ),
    scenario!(
        "alert.203-refresh-from-client",
        "Refresh from client: the server's book becomes the client's",
        "syncml-protocol.md §3.2 (Alert 203)",
        alerts::refresh_from_client
    ),
    scenario!(
        "alert.204-one-way-from-server",
        "One-way from server: server changes come down, none go up",
        "syncml-protocol.md §3.2 (Alert 204)",
        alerts::one_way_from_server
    ),
    scenario!(
        "alert.205-refresh-from-server",
        "Refresh from server: the client's book becomes the server's",
        "syncml-protocol.md §3.2 (Alert 205)",
        alerts::refresh_from_server
    ),
    scenario!(
        "anchor.second-sync-two-way",
        "After a completed session a two-way request stays two-way",
        "syncml-protocol.md §3.4 (anchors match)",
        anchors::second_sync_two_way
    ),
    scenario!(
        "anchor.wrong-last-508",
        "A Last anchor the server never issued gets 508 and a slow sync",
        "syncml-protocol.md §3.4 (mismatch: 508 + Alert 201)",
        anchors::wrong_last_508
    ),
    scenario!(
        "anchor.next-echoed",
        "The Status of a sync Alert echoes the client's Next anchor",
        "syncml-protocol.md §3.1 (Status Item/Data/Anchor/Next)",
        anchors::next_echoed
    ),
    scenario!(
        "sync.client-add",
        "Client Adds get 201 and reach another device as Adds naming the GUID",
        "syncml-protocol.md §4.2, §5",
        changes::client_add
    ),
    scenario!(
        "sync.client-replace",
        "A client Replace gets 200 and reaches another device addressed by its LUID",
        "syncml-protocol.md §4.2 (server Replace: Target = client LUID)",
        changes::client_replace
    ),
    scenario!(
        "sync.client-delete",
        "A client Delete gets 200 and reaches another device addressed by its LUID",
        "syncml-protocol.md §4.2 (server Delete: Target = client LUID)",
        changes::client_delete
    ),
    scenario!(
        "sync.no-echo",
        "A device's own changes are not sent back to it",
        "syncml-protocol.md §3.1 (pkg 4 = server changes); docs/sync-rules.md",
        changes::no_echo
    ),
    scenario!(
        "sync.replace-unknown",
        "A Replace of an item the server never saw is added (201)",
        "syncml-protocol.md §4.3 (Replace of unknown LUID → add, 201)",
        scripted::replace_unknown
    ),
    scenario!(
        "sync.delete-unknown",
        "A Delete of an item the server never saw gets 211 (or 404) and deletes nothing",
        "syncml-protocol.md §4.3 (Delete of unknown LUID → 211)",
        scripted::delete_unknown
    ),
    scenario!(
        "map.basic",
        "The Map of server Adds is accepted and the server uses it",
        "syncml-protocol.md §3.5",
        maps::basic
    ),
    scenario!(
        "map.next-session",
        "A Map that missed its session is accepted at the start of the next one",
        "syncml-protocol.md §3.5 (unconfirmed Maps resent in pkg 3)",
        maps::next_session
    ),
    scenario!(
        "size.multi-message",
        "With a small MaxMsgSize packages span several messages, none too large",
        "syncml-protocol.md §3.6",
        size::multi_message
    ),
    scenario!(
        "size.large-object",
        "An item larger than a message travels in chunks (MoreData, Size, 213)",
        "syncml-protocol.md §3.7 (only with SupportLargeObjs)",
        size::large_object
    ),
    scenario!(
        "session.resend",
        "A resent message gets the same answer and is applied once",
        "syncml-protocol.md §1 (same MsgID = resend), §9",
        scripted::resend
    ),
    scenario!(
        "slow.identical-no-dup",
        "A slow sync of contacts the server already has creates no duplicate",
        "syncml-protocol.md §3.2 (slow sync on the server), §7",
        conflicts::identical_no_dup
    ),
    scenario!(
        "conflict.same-add-both-sides",
        "The same contact added on two devices ends merged or duplicated, never lost",
        "syncml-protocol.md §7",
        conflicts::same_add_both_sides
    ),
    scenario!(
        "conflict.both-modified",
        "Two devices edit one contact: resolved (reported), converged, nothing lost",
        "syncml-protocol.md §7",
        conflicts::both_modified
    ),
    scenario!(
        "bulk.delete-all",
        "Deleting every contact on one device empties the book everywhere",
        "syncml-protocol.md §4.1",
        bulk::delete_all
    ),
    scenario!(
        "bulk.1000-items",
        "1,000 contacts go up from one device and come down to another intact",
        "syncml-protocol.md §3.6, §4",
        bulk::thousand
    ),
    scenario!(
        "fidelity.vcard21-qp",
        "A vCard 2.1 card (quoted-printable, UTF-8, bare types) survives the server",
        "vcard-notes.md §1–2; syncml-protocol.md §11.8",
        fidelity::vcard21_qp
    ),
    scenario!(
        "fidelity.cjk",
        "A card in Chinese, Japanese and Korean survives the server",
        "vcard-notes.md §2",
        fidelity::cjk
    ),
    scenario!(
        "fidelity.photo",
        "A card with an inline PHOTO survives the server",
        "vcard-notes.md §1 (PHOTO;ENCODING=b)",
        fidelity::photo
    ),
    scenario!(
        "fidelity.multiline-note",
        "A multi-line NOTE with escaped characters survives the server",
        "vcard-notes.md §1 (newlines and escapes)",
        fidelity::multiline_note
    ),
    scenario!(
        "fidelity.x-props",
        "Unknown X- properties survive the server",
        "vcard-notes.md §2 (keep unknown X-*)",
        fidelity::x_props
    ),
    scenario!(
        "fidelity.common-fields",
        "Typed TEL/EMAIL/ADR, ORG, TITLE, BDAY, URL, CATEGORIES survive the server",
        "vcard-notes.md §1",
        fidelity::common_fields
    ),
    scenario!(
        "bad.malformed-xml",
        "Malformed XML gets HTTP 400 (or a SyncML 400) and the server keeps working",
        "syncml-protocol.md §9 (HTTP 4xx when no SyncML reply is possible)",
        bad::malformed_xml
    ),
    scenario!(
        "bad.unknown-datastore",
        "An Alert for a datastore the server does not have gets 404",
        "syncml-protocol.md §3.1; docs/sync-rules.md (unknown names get 404)",
        bad::unknown_datastore
    ),
    scenario!(
        "bad.unsupported-version",
        "An unsupported VerProto gets 513",
        "syncml-protocol.md §1 (513 protocol version not supported)",
        bad::unsupported_version
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_grouped() {
        let mut ids: Vec<&str> = SCENARIOS.iter().map(|s| s.id).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate scenario id");
        assert!(ids.iter().all(|id| id.contains('.')));
    }

    #[test]
    fn patterns() {
        assert!(matches(None, "auth.basic"));
        assert!(matches(Some("auth"), "auth.basic"));
        assert!(!matches(Some("aut"), "auth.basic"));
        assert!(matches(Some("auth.basic"), "auth.basic"));
        assert!(matches(
            Some("x, alert.20*"),
            "alert.203-refresh-from-client"
        ));
        assert!(matches(Some("*-unknown"), "sync.replace-unknown"));
        assert!(!matches(Some("*-unknown"), "sync.replace-unknown-x"));
        assert!(matches(Some("a*b*c"), "a-b-c"));
    }
}
