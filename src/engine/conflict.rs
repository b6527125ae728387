//! Conflict resolution: what happens when a client changes an item the
//! server also changed since that client's last sync.
//!
//! Every decision goes through [`resolve`]; how contents compare (equal?
//! newer?) comes from a [`Judge`], which the engine backs with the contacts
//! library, so the decision table stays here and testable on strings.
//!
//! Rules (docs/sync-rules.md has the user-facing version):
//! * both sides modified → the configured policy:
//!   - merge (default): field-level merge — multi-valued properties united,
//!     NOTE keeps both texts, single-valued ones from the side with the later
//!     REV (the server's on a tie); the merge is stored and sent back (207);
//!   - server-wins (419: the server version is sent back), client-wins (208);
//!   - duplicate (209: the client version becomes a new item, the server
//!     version goes to the client as Add);
//!   - newer-wins: the version with the later REV wins whole (208/419); with
//!     no REV to compare, both are kept (209);
//! * equal content on both sides → no conflict (200);
//! * modify vs delete, either direction → the modification wins, whatever
//!   the policy, so no user data is lost (as libsynthesis does).

use crate::protocol::StatusCode;

/// Configured resolution for both-sides-modified conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictPolicy {
    Merge,
    ServerWins,
    ClientWins,
    Duplicate,
    NewerWins,
}

impl ConflictPolicy {
    /// The configuration names.
    pub const NAMES: [(&'static str, ConflictPolicy); 5] = [
        ("merge", ConflictPolicy::Merge),
        ("server-wins", ConflictPolicy::ServerWins),
        ("client-wins", ConflictPolicy::ClientWins),
        ("duplicate", ConflictPolicy::Duplicate),
        ("newer-wins", ConflictPolicy::NewerWins),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConflictPolicy::Merge => "merge",
            ConflictPolicy::ServerWins => "server-wins",
            ConflictPolicy::ClientWins => "client-wins",
            ConflictPolicy::Duplicate => "duplicate",
            ConflictPolicy::NewerWins => "newer-wins",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
            .map(|(_, p)| *p)
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

/// How two versions of an item compare.
pub trait Judge {
    /// Equal in content.
    fn same(&self, a: &str, b: &str) -> bool;
    /// Is the client's version newer (by REV)? `None`: can't tell.
    fn client_newer(&self, client: &str, server: &str) -> Option<bool>;
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Both versions are equal in content: nothing to resolve.
    Same,
    /// Field-level merge of both versions; stored, and sent to the client
    /// when it differs from its version.
    Merge,
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
            Resolution::Merge => StatusCode::CONFLICT_MERGED,
            Resolution::KeepServer => StatusCode::CONFLICT_SERVER_WON,
            Resolution::TakeClient => StatusCode::CONFLICT_CLIENT_WON,
            Resolution::Duplicate => StatusCode::CONFLICT_DUPLICATED,
            Resolution::Resurrect => StatusCode::ITEM_ADDED,
            Resolution::KeepAndResend => StatusCode::OK,
        }
    }

    /// A short name for records, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Same => "same",
            Resolution::Merge => "merged",
            Resolution::KeepServer => "server-won",
            Resolution::TakeClient => "client-won",
            Resolution::Duplicate => "duplicated",
            Resolution::Resurrect => "re-created",
            Resolution::KeepAndResend => "delete-refused",
        }
    }
}

/// Decide a conflict.
pub fn resolve(policy: ConflictPolicy, clash: Clash<'_>, judge: &dyn Judge) -> Resolution {
    match clash {
        Clash::ClientReplace { server: None, .. } => Resolution::Resurrect,
        Clash::ClientReplace {
            client,
            server: Some(server),
        } if judge.same(client, server) => Resolution::Same,
        Clash::ClientReplace {
            client,
            server: Some(server),
        } => match policy {
            ConflictPolicy::Merge => Resolution::Merge,
            ConflictPolicy::ServerWins => Resolution::KeepServer,
            ConflictPolicy::ClientWins => Resolution::TakeClient,
            ConflictPolicy::Duplicate => Resolution::Duplicate,
            ConflictPolicy::NewerWins => match judge.client_newer(client, server) {
                Some(true) => Resolution::TakeClient,
                Some(false) => Resolution::KeepServer,
                None => Resolution::Duplicate,
            },
        },
        Clash::ClientDelete => Resolution::KeepAndResend,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strings equal = same; "new…" is newer than "old…"; else unknown.
    struct Plain;
    impl Judge for Plain {
        fn same(&self, a: &str, b: &str) -> bool {
            a == b
        }
        fn client_newer(&self, client: &str, server: &str) -> Option<bool> {
            match (client.starts_with("new"), server.starts_with("new")) {
                (true, false) => Some(true),
                (false, true) => Some(false),
                _ => None,
            }
        }
    }

    #[test]
    fn policy_decides_both_modified() {
        let c = Clash::ClientReplace {
            client: "c",
            server: Some("s"),
        };
        assert_eq!(resolve(ConflictPolicy::Merge, c, &Plain).status().0, 207);
        assert_eq!(
            resolve(ConflictPolicy::ServerWins, c, &Plain).status().0,
            419
        );
        assert_eq!(
            resolve(ConflictPolicy::ClientWins, c, &Plain).status().0,
            208
        );
        assert_eq!(
            resolve(ConflictPolicy::Duplicate, c, &Plain).status().0,
            209
        );
    }

    #[test]
    fn newer_wins_by_rev_else_keeps_both() {
        let newer_client = Clash::ClientReplace {
            client: "new c",
            server: Some("old s"),
        };
        let newer_server = Clash::ClientReplace {
            client: "old c",
            server: Some("new s"),
        };
        let unknown = Clash::ClientReplace {
            client: "c",
            server: Some("s"),
        };
        assert_eq!(
            resolve(ConflictPolicy::NewerWins, newer_client, &Plain),
            Resolution::TakeClient
        );
        assert_eq!(
            resolve(ConflictPolicy::NewerWins, newer_server, &Plain),
            Resolution::KeepServer
        );
        assert_eq!(
            resolve(ConflictPolicy::NewerWins, unknown, &Plain),
            Resolution::Duplicate
        );
    }

    #[test]
    fn modification_beats_deletion_under_every_policy() {
        for (_, p) in ConflictPolicy::NAMES {
            let r = resolve(
                p,
                Clash::ClientReplace {
                    client: "c",
                    server: None,
                },
                &Plain,
            );
            assert_eq!(r, Resolution::Resurrect);
            assert_eq!(
                resolve(p, Clash::ClientDelete, &Plain),
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
        for (_, p) in ConflictPolicy::NAMES {
            assert_eq!(resolve(p, c, &Plain), Resolution::Same);
        }
        assert_eq!(Resolution::Same.status().0, 200);
    }

    #[test]
    fn policy_names_round_trip() {
        for (n, p) in ConflictPolicy::NAMES {
            assert_eq!(ConflictPolicy::parse(n), Some(p));
            assert_eq!(p.as_str(), n);
        }
    }
}
