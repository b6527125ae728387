//! Conflict resolution: what happens when a client changes an item the
//! server also changed since that client's last sync.
//!
//! Every decision goes through [`resolve`], so the contacts work (field
//! merge, newer-wins) replaces one function, not the engine.
//!
//! Rules (docs/sync-rules.md has the user-facing version):
//! * both sides modified → the configured policy: server-wins (419, the
//!   server version is sent back), client-wins (208), duplicate (209: the
//!   client version becomes a new item, the server version is sent as Add);
//! * equal content on both sides → no conflict (200);
//! * modify vs delete, either direction → the modification wins, whatever
//!   the policy, so no user data is lost (as libsynthesis does).

use crate::protocol::StatusCode;

/// Configured resolution for both-sides-modified conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictPolicy {
    ServerWins,
    ClientWins,
    Duplicate,
}

impl ConflictPolicy {
    /// The configuration names.
    pub const NAMES: [(&'static str, ConflictPolicy); 3] = [
        ("server-wins", ConflictPolicy::ServerWins),
        ("client-wins", ConflictPolicy::ClientWins),
        ("duplicate", ConflictPolicy::Duplicate),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConflictPolicy::ServerWins => "server-wins",
            ConflictPolicy::ClientWins => "client-wins",
            ConflictPolicy::Duplicate => "duplicate",
        }
    }
}

/// What the client asked for, against a server item changed since its last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clash<'a> {
    /// Client Replace; `server` is the server's current data, `None` if the
    /// server deleted the item.
    ClientReplace {
        client: &'a str,
        server: Option<&'a str>,
    },
    /// Client Delete of an item the server modified.
    ClientDelete,
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Both versions are equal in content: nothing to resolve.
    Same,
    /// Keep the server item; it is sent back to the client.
    KeepServer,
    /// Store the client's version over the server item.
    TakeClient,
    /// Store the client's version as a new item; both survive.
    Duplicate,
    /// The server item was deleted; re-create it from the client's version.
    Resurrect,
    /// The client deleted an item the server modified: keep it and send it
    /// back to the client as a new item.
    KeepAndResend,
}

impl Resolution {
    /// The status reported for the client's command.
    pub fn status(self) -> StatusCode {
        match self {
            Resolution::Same => StatusCode::OK,
            Resolution::KeepServer => StatusCode::CONFLICT_SERVER_WON,
            Resolution::TakeClient => StatusCode::CONFLICT_CLIENT_WON,
            Resolution::Duplicate => StatusCode::CONFLICT_DUPLICATED,
            Resolution::Resurrect => StatusCode::ITEM_ADDED,
            Resolution::KeepAndResend => StatusCode::OK,
        }
    }
}

/// Decide a conflict. `same` tells whether the two versions are equal in
/// content (then there is nothing to resolve and the client's copy is kept).
pub fn resolve(
    policy: ConflictPolicy,
    clash: Clash<'_>,
    same: impl Fn(&str, &str) -> bool,
) -> Resolution {
    match clash {
        Clash::ClientReplace { server: None, .. } => Resolution::Resurrect,
        Clash::ClientReplace {
            client,
            server: Some(server),
        } if same(client, server) => Resolution::Same,
        Clash::ClientReplace { .. } => match policy {
            ConflictPolicy::ServerWins => Resolution::KeepServer,
            ConflictPolicy::ClientWins => Resolution::TakeClient,
            ConflictPolicy::Duplicate => Resolution::Duplicate,
        },
        Clash::ClientDelete => Resolution::KeepAndResend,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(a: &str, b: &str) -> bool {
        a == b
    }

    #[test]
    fn policy_decides_both_modified() {
        let c = Clash::ClientReplace {
            client: "c",
            server: Some("s"),
        };
        assert_eq!(resolve(ConflictPolicy::ServerWins, c, eq).status().0, 419);
        assert_eq!(resolve(ConflictPolicy::ClientWins, c, eq).status().0, 208);
        assert_eq!(resolve(ConflictPolicy::Duplicate, c, eq).status().0, 209);
    }

    #[test]
    fn modification_beats_deletion_under_every_policy() {
        for p in [
            ConflictPolicy::ServerWins,
            ConflictPolicy::ClientWins,
            ConflictPolicy::Duplicate,
        ] {
            let r = resolve(
                p,
                Clash::ClientReplace {
                    client: "c",
                    server: None,
                },
                eq,
            );
            assert_eq!(r, Resolution::Resurrect);
            assert_eq!(
                resolve(p, Clash::ClientDelete, eq),
                Resolution::KeepAndResend
            );
        }
    }

    #[test]
    fn identical_content_is_not_a_conflict() {
        let c = Clash::ClientReplace {
            client: "same",
            server: Some("same"),
        };
        assert_eq!(resolve(ConflictPolicy::ServerWins, c, eq), Resolution::Same);
        assert_eq!(Resolution::Same.status().0, 200);
    }
}
