//! Looking at what was said in a session: the recorded exchanges, decoded.

use crate::protocol::{Alert, Command, Item, ItemCommand, Status, SyncMl, alert};

use super::wire::Exchange;

/// The decoded messages of one session (or any stretch of exchanges).
pub struct Seen {
    pub exchanges: Vec<Exchange>,
    /// (request, reply), each `None` when it is not decodable SyncML.
    pub msgs: Vec<(Option<SyncMl>, Option<SyncMl>)>,
}

/// An item operation the server sent.
pub struct ServerOp<'a> {
    /// "Add", "Replace", "Delete", …
    pub kind: &'a str,
    pub cmd: &'a ItemCommand,
    pub item: &'a Item,
}

impl Seen {
    pub fn new(exchanges: Vec<Exchange>) -> Self {
        let msgs = exchanges
            .iter()
            .map(|x| (x.request_msg(), x.reply_msg()))
            .collect();
        Seen { exchanges, msgs }
    }

    pub fn replies(&self) -> impl Iterator<Item = &SyncMl> {
        self.msgs.iter().filter_map(|(_, r)| r.as_ref())
    }

    pub fn requests(&self) -> impl Iterator<Item = &SyncMl> {
        self.msgs.iter().filter_map(|(q, _)| q.as_ref())
    }

    /// The server's Statuses answering commands named `cmd`.
    pub fn statuses(&self, cmd: &str) -> Vec<&Status> {
        self.replies()
            .flat_map(|m| m.body.commands.iter())
            .filter_map(|c| match c {
                Command::Status(s) if s.cmd.eq_ignore_ascii_case(cmd) => Some(s),
                _ => None,
            })
            .collect()
    }

    /// Status codes for `cmd`, in order.
    pub fn codes(&self, cmd: &str) -> Vec<u16> {
        self.statuses(cmd).iter().map(|s| s.data.0).collect()
    }

    /// The server's Status for our first sync Alert (200–205).
    pub fn alert_status(&self) -> Option<&Status> {
        let (msg, cmd) = self.requests().find_map(|m| {
            m.body.commands.iter().find_map(|c| match c {
                Command::Alert(a) if is_sync_alert(a) => Some((m.header.msg_id, a.cmd_id)),
                _ => None,
            })
        })?;
        self.statuses("Alert")
            .into_iter()
            .find(|s| s.msg_ref == msg && s.cmd_ref == cmd)
    }

    /// Our first sync Alert.
    pub fn client_alert(&self) -> Option<&Alert> {
        self.requests()
            .flat_map(|m| m.body.commands.iter())
            .find_map(|c| match c {
                Command::Alert(a) if is_sync_alert(a) => Some(a),
                _ => None,
            })
    }

    /// The sync Alert codes the server sent.
    pub fn server_alert_codes(&self) -> Vec<u16> {
        self.replies()
            .flat_map(|m| m.body.commands.iter())
            .filter_map(|c| match c {
                Command::Alert(a) if is_sync_alert(a) => a.data,
                _ => None,
            })
            .collect()
    }

    /// Item operations inside the server's Syncs.
    pub fn server_ops(&self) -> Vec<ServerOp<'_>> {
        let mut out = Vec::new();
        for m in self.replies() {
            for c in &m.body.commands {
                let Command::Sync(s) = c else { continue };
                for op in &s.commands {
                    let (kind, cmd) = match op {
                        Command::Add(c) => ("Add", c),
                        Command::Replace(c) => ("Replace", c),
                        Command::Delete(c) => ("Delete", c),
                        Command::Copy(c) => ("Copy", c),
                        _ => continue,
                    };
                    for item in &cmd.items {
                        out.push(ServerOp { kind, cmd, item });
                    }
                }
            }
        }
        out
    }

    /// Encoded sizes of the server's replies.
    pub fn reply_sizes(&self) -> Vec<usize> {
        self.exchanges
            .iter()
            .filter_map(|x| x.reply.as_ref().ok().map(Vec::len))
            .collect()
    }

    /// "Add 201 ×3, Replace 200" for details.
    pub fn status_summary(&self, cmd: &str) -> String {
        summarize(&self.codes(cmd))
    }
}

pub fn is_sync_alert(a: &Alert) -> bool {
    a.data
        .is_some_and(|c| (alert::TWO_WAY..=alert::REFRESH_FROM_SERVER_BY_SERVER).contains(&c))
}

/// Codes with counts: `[201, 201, 200]` → "201 ×2, 200".
pub fn summarize(codes: &[u16]) -> String {
    let mut parts: Vec<(u16, usize)> = Vec::new();
    for &c in codes {
        match parts.iter_mut().find(|(k, _)| *k == c) {
            Some((_, n)) => *n += 1,
            None => parts.push((c, 1)),
        }
    }
    if parts.is_empty() {
        return "none".into();
    }
    parts
        .iter()
        .map(|(c, n)| {
            if *n > 1 {
                format!("{c} ×{n}")
            } else {
                c.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
