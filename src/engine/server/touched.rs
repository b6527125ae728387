//! What a session has reconciled with its client, and as of when.
//!
//! An item the client sent (matched, added, updated, a conflict resolved)
//! is not sent back to it: the two sides agree on it. They agree as of the
//! Sync command that carried it, though. Another device may change the
//! item before this session ends (between two of its messages); that
//! change is newer than what the client has and must still reach it, or
//! the client keeps an old version for good (its synced sequence passes
//! the change). So each item remembers the command it was last reconciled
//! in, and each command the book's change sequence at its end: a change
//! of the item after that is someone else's (nothing else writes the book
//! while a message is handled).

use std::collections::HashMap;

use crate::contacts::Taken;

#[derive(Debug, Clone, Default)]
pub(crate) struct Touched {
    /// GUID → index in `ends` of the command it was last reconciled in.
    guids: HashMap<String, u32>,
    /// The book's change sequence at the end of each Sync command so far.
    ends: Vec<u64>,
    /// The book's purge count at the end of the first command: a purged
    /// tombstone leaves no change behind, so a delete that was purged
    /// during the session is seen only as a count that moved.
    first_purged: Option<u64>,
}

impl Touched {
    /// `guid` is reconciled by the Sync command being handled.
    pub fn insert(&mut self, guid: String) {
        let command = u32::try_from(self.ends.len()).unwrap_or(u32::MAX);
        self.guids.insert(guid, command);
    }

    pub fn remove(&mut self, guid: &str) {
        self.guids.remove(guid);
    }

    pub fn contains(&self, guid: &str) -> bool {
        self.guids.contains_key(guid)
    }

    /// The Sync command being handled is done; the book is at `seq`,
    /// with `purged` tombstones purged so far.
    pub fn end_command(&mut self, seq: u64, purged: u64) {
        self.first_purged.get_or_insert(purged);
        self.ends.push(seq);
    }

    /// Were tombstones purged since the first command ended (the book's
    /// purge count is `purged` now)? Then reconciled items may be gone
    /// without a change to say so.
    pub fn purged_since(&self, purged: u64) -> bool {
        self.first_purged.is_some_and(|p| p != purged)
    }

    /// Every reconciled GUID, in order.
    pub fn sorted(&self) -> Vec<&str> {
        let mut g: Vec<&str> = self.guids.keys().map(String::as_str).collect();
        g.sort_unstable();
        g
    }

    /// Is the change of `guid` at `seq` one the client already agrees on
    /// (it reconciled the item at or after it)? `false` for items it did
    /// not reconcile, and for changes other devices made since.
    pub fn agreed(&self, guid: &str, seq: u64) -> bool {
        match self.guids.get(guid) {
            // A command not yet ended: nothing else has written since.
            Some(&c) => self.ends.get(c as usize).is_none_or(|&end| seq <= end),
            None => false,
        }
    }

    /// The change sequence after which a reconciled item's changes may be
    /// another device's (the end of the first command); `None` before any.
    pub fn first_end(&self) -> Option<u64> {
        self.ends.first().copied()
    }
}

impl Taken for Touched {
    fn is_taken(&self, guid: &str) -> bool {
        self.contains(guid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_after_the_reconciling_command_are_not_agreed() {
        let mut t = Touched::default();
        t.insert("a".into());
        // Not ended yet: nothing else can have written.
        assert!(t.agreed("a", 7));
        assert!(!t.purged_since(3));
        t.end_command(10, 3);
        t.insert("b".into());
        t.end_command(20, 4);
        assert!(!t.purged_since(3) && t.purged_since(4));
        assert_eq!(t.sorted(), ["a", "b"]);
        assert!(t.agreed("a", 10) && !t.agreed("a", 11));
        assert!(t.agreed("b", 20) && !t.agreed("b", 21));
        // Reconciled again later: agreed as of the later command.
        t.insert("a".into());
        t.end_command(30, 4);
        assert!(t.agreed("a", 25));
        assert!(!t.agreed("c", 1), "never reconciled");
        t.remove("b");
        assert!(!t.contains("b") && !t.agreed("b", 20));
        assert_eq!(t.first_end(), Some(10));
    }
}
