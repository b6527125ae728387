//! Client role: a vdir folder (one `.vcf` file per contact, as khard and
//! vdirsyncer use) kept in sync with a local book, both ways.
//!
//! One pass, under the store's write lock:
//! 1. folder → book: a new file becomes a contact; a file whose content
//!    changed updates its contact; a removed file deletes its contact;
//! 2. book → folder: every change since the last pass that did not come
//!    from the folder is written (new contacts as `<id>.vcf`) or removed.
//!
//! File name ↔ contact id lives in the `Maps` table under the pseudo-peer
//! `local:vdir` (file name as "LUID"), the last pass's book sequence in its
//! `PeerState`, so a pass is O(files + changes). Writes are atomic (temp file
//! + rename). Changes read from the folder carry origin `local:vdir`, so they
//! go to every peer and are not written back to the folder.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use crate::engine::book::{self, Change};
use crate::local_book::{LocalError, ORIGIN_VDIR, WriteLock};
use crate::store::schema::{self, BookId, PeerId, PeerState};
use crate::store::{Store, Txn};

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VdirReport {
    pub imported: u32,
    pub updated: u32,
    pub deleted: u32,
    pub written: u32,
    pub removed: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum VdirError {
    #[error("vdir folder {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Local(#[from] LocalError),
}

impl From<crate::store::StoreError> for VdirError {
    fn from(e: crate::store::StoreError) -> Self {
        VdirError::Local(e.into())
    }
}

impl From<crate::engine::EngineError> for VdirError {
    fn from(e: crate::engine::EngineError) -> Self {
        VdirError::Local(e.into())
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VdirError + '_ {
    move |source| VdirError::Io {
        path: path.to_owned(),
        source,
    }
}

fn pseudo_peer(book: &BookId) -> PeerId {
    PeerId {
        user: book.user.clone(),
        device: ORIGIN_VDIR.into(),
        store: book.store.clone(),
    }
}

/// The `.vcf` files of the folder (names without directories), read.
fn read_folder(dir: &Path) -> Result<BTreeMap<String, String>, VdirError> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.to_ascii_lowercase().ends_with(".vcf") || name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        // Non-UTF-8 files (old 2.1 exports) are read as Latin-1 rather than
        // refused: every byte maps to a character.
        let text = String::from_utf8(bytes)
            .unwrap_or_else(|e| e.into_bytes().iter().map(|&b| b as char).collect());
        out.insert(name, text);
    }
    Ok(out)
}

fn write_atomically(dir: &Path, name: &str, text: &str) -> Result<(), VdirError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    let path = dir.join(name);
    std::fs::rename(&tmp, &path).map_err(io(&path))
}

/// One pass over `dir` and `book`.
pub async fn sync_folder(
    store: &dyn Store,
    lock: &WriteLock,
    book: &BookId,
    dir: &Path,
    now_ms: u64,
) -> Result<VdirReport, VdirError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let _guard = lock.lock().await;
    let peer = pseudo_peer(book);
    let mut report = VdirReport::default();
    let files = read_folder(dir)?;
    let mut t = Txn::new(store);

    // 1. folder → book
    for (name, text) in &files {
        if !crate::contacts::is_vcard(text) {
            tracing::warn!(file = %name, "not a vCard; left alone");
            continue;
        }
        let change = Change {
            content_type: "text/vcard",
            data: text,
            origin: ORIGIN_VDIR,
            now_ms,
        };
        match schema::guid_for_luid(&t, &peer, name)? {
            Some(id) => match schema::item(&t, book, &id)? {
                Some(rec) if !rec.deleted => {
                    if !crate::contacts::same_content(&rec.data, text) {
                        book::update(&mut t, book, &id, Some(&rec), &change)?;
                        report.updated += 1;
                    }
                }
                // Deleted in the book since the last pass (by a peer): the
                // file goes in step 2 — unless it was edited meanwhile, then
                // the edit wins and re-creates the contact.
                Some(rec) => {
                    if !crate::contacts::same_content(&rec.data, text) {
                        book::update(&mut t, book, &id, Some(&rec), &change)?;
                        report.updated += 1;
                    }
                }
                None => {
                    let id = book::create(&mut t, book, &change)?;
                    schema::put_map(&mut t, &peer, name, &id)?;
                    report.imported += 1;
                }
            },
            None => {
                let id = book::create(&mut t, book, &change)?;
                schema::put_map(&mut t, &peer, name, &id)?;
                report.imported += 1;
            }
        }
    }
    let present: HashSet<&String> = files.keys().collect();
    for (name, id) in schema::peer_maps(&t, &peer)? {
        if present.contains(&name) {
            continue;
        }
        if let Some(rec) = schema::item(&t, book, &id)?.filter(|r| !r.deleted) {
            book::delete(&mut t, book, &id, &rec, ORIGIN_VDIR, now_ms)?;
            report.deleted += 1;
        }
        schema::remove_map_by_luid(&mut t, &peer, &name)?;
    }

    // 2. book → folder
    let prior = schema::peer_state(&t, &peer)?.unwrap_or_default();
    let mut after = prior.synced_seq;
    loop {
        let page = schema::changes_after(&t, book, after, 1000)?;
        let full = page.len() == 1000;
        for (seq, id) in page {
            after = seq;
            let Some(rec) = schema::item(&t, book, &id)? else {
                continue;
            };
            if rec.origin == ORIGIN_VDIR {
                continue;
            }
            let name = schema::luid_for_guid(&t, &peer, &id)?;
            if rec.deleted {
                if let Some(name) = name {
                    let path = dir.join(&name);
                    match std::fs::remove_file(&path) {
                        Ok(()) => report.removed += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(VdirError::Io { path, source: e }),
                    }
                    schema::remove_map_by_luid(&mut t, &peer, &name)?;
                }
            } else {
                let name = name.unwrap_or_else(|| format!("{id}.vcf"));
                write_atomically(dir, &name, &rec.data)?;
                schema::put_map(&mut t, &peer, &name, &id)?;
                report.written += 1;
            }
        }
        if !full {
            break;
        }
    }
    let seq = schema::book_meta(&t, book)?.seq;
    schema::put_peer_state(
        &mut t,
        &peer,
        &PeerState {
            synced_seq: seq,
            last_sync_ms: now_ms,
            ..prior
        },
    );
    store.commit(&t.into_batch())?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn card(name: &str) -> String {
        format!("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nN:{name};;;;\r\nEND:VCARD\r\n")
    }

    fn book_names(store: &dyn Store, book: &BookId) -> Vec<String> {
        let mut v: Vec<String> = schema::items_page(store, book, "", usize::MAX)
            .unwrap()
            .into_iter()
            .filter(|(_, r)| !r.deleted)
            .filter_map(|(_, r)| {
                r.data
                    .lines()
                    .find_map(|l| l.strip_prefix("FN:"))
                    .map(str::to_owned)
            })
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn folder_and_book_follow_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryStore::new();
        let lock = WriteLock::default();
        let book = BookId {
            user: "local".into(),
            store: "contacts".into(),
        };
        std::fs::write(dir.path().join("alice.vcf"), card("Alice")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let r = sync_folder(&store, &lock, &book, dir.path(), 1)
            .await
            .unwrap();
        assert_eq!(
            (r.imported, r.written),
            (1, 0),
            "nothing echoed back to the folder"
        );
        assert_eq!(book_names(&store, &book), vec!["Alice"]);

        // A contact arriving from a peer appears as a file.
        let mut t = Txn::new(&store);
        let bob = card("Bob");
        book::create(
            &mut t,
            &book,
            &Change {
                content_type: "text/vcard",
                data: &bob,
                origin: "backup",
                now_ms: 2,
            },
        )
        .unwrap();
        store.commit(&t.into_batch()).unwrap();
        let r = sync_folder(&store, &lock, &book, dir.path(), 3)
            .await
            .unwrap();
        assert_eq!(r.written, 1);
        let files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files.len(), 3);

        // Edit and delete files: the book follows; a second pass is a no-op.
        std::fs::write(dir.path().join("alice.vcf"), card("Alice Edited")).unwrap();
        let bob_file = files
            .iter()
            .find(|f| f.ends_with(".vcf") && *f != "alice.vcf")
            .unwrap()
            .clone();
        std::fs::remove_file(dir.path().join(&bob_file)).unwrap();
        let r = sync_folder(&store, &lock, &book, dir.path(), 4)
            .await
            .unwrap();
        assert_eq!((r.updated, r.deleted), (1, 1));
        assert_eq!(book_names(&store, &book), vec!["Alice Edited"]);
        let r = sync_folder(&store, &lock, &book, dir.path(), 5)
            .await
            .unwrap();
        assert_eq!(r, VdirReport::default());

        // Deleted by a peer: the file goes.
        let (id, rec) = schema::items_page(&store, &book, "", 10)
            .unwrap()
            .into_iter()
            .find(|(_, r)| !r.deleted)
            .unwrap();
        let mut t = Txn::new(&store);
        book::delete(&mut t, &book, &id, &rec, "backup", 6).unwrap();
        store.commit(&t.into_batch()).unwrap();
        let r = sync_folder(&store, &lock, &book, dir.path(), 7)
            .await
            .unwrap();
        assert_eq!(r.removed, 1);
        assert!(!dir.path().join("alice.vcf").exists());
    }
}
