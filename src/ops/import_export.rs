//! Import and export of address books as vCard files: a vdir (one `.vcf`
//! per contact) or one multi-vCard file.
//!
//! Imported contacts are ordinary store changes: each takes the book's next
//! change sequence number with origin "" (a local change), so every device
//! receives it on its next sync. Importing the same data twice adds nothing:
//! a card equal to one already in the book ([`same_contact`]) is skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::contacts;
use crate::engine::book::{self, Change};
use crate::protocol::mime;
use crate::store::schema::{self, BookId};
use crate::store::{Store, StoreError, Txn};

#[derive(Debug, thiserror::Error)]
pub enum VcfError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not UTF-8 text", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{}: no vCard (BEGIN:VCARD … END:VCARD) found", path.display())]
    NoCards { path: PathBuf },
    #[error("{} exists and is not a directory", path.display())]
    NotADirectory { path: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VcfError + '_ {
    move |source| VcfError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Is `candidate` the same contact as `existing`? The one place that
/// decides it for import. For now: identical content (property order,
/// folding and volatile properties such as REV and PRODID aside); the
/// contacts library will bring real matching behind this function.
pub fn same_contact(existing: &str, candidate: &str) -> bool {
    contacts::same_content(existing, candidate)
}

/// The key of the index [`same_contact`] is checked through: cards with
/// different keys are never the same contact.
fn match_key(card: &str) -> u64 {
    contacts::identity_key(card)
}

/// The cards of one multi-vCard text, each with its original line endings
/// and a final line break. Text outside BEGIN/END is ignored; nested vCards
/// (vCard 2.1 AGENT) stay inside their card.
pub fn split_cards(text: &str) -> Vec<String> {
    let mut cards = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\r', '\n']).trim();
        let is_begin = bare.eq_ignore_ascii_case("BEGIN:VCARD");
        let is_end = bare.eq_ignore_ascii_case("END:VCARD");
        if depth == 0 && !is_begin {
            continue;
        }
        if is_begin {
            depth += 1;
        }
        current.push_str(line);
        if is_end {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                if !current.ends_with('\n') {
                    current.push_str("\r\n");
                }
                cards.push(std::mem::take(&mut current));
            }
        }
    }
    cards
}

/// Read the cards at `path`: every `*.vcf` file of a directory (in name
/// order; a file may hold several cards), or one file.
pub fn read_cards(path: &Path) -> Result<Vec<String>, VcfError> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    let files: Vec<PathBuf> = if meta.is_dir() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(io(path))? {
            let p = entry.map_err(io(path))?.path();
            let is_vcf = p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("vcf"));
            if is_vcf && p.is_file() {
                files.push(p);
            }
        }
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let mut cards = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).map_err(io(f))?;
        let text = String::from_utf8(bytes).map_err(|_| VcfError::NotUtf8 { path: f.clone() })?;
        cards.extend(split_cards(&text));
    }
    if cards.is_empty() {
        return Err(VcfError::NoCards {
            path: path.to_owned(),
        });
    }
    Ok(cards)
}

/// Where an export goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportTarget {
    /// One `<guid>.vcf` per contact in this directory (created if missing).
    Vdir(PathBuf),
    /// All contacts in one file.
    File(PathBuf),
}

impl ExportTarget {
    /// A path ending in `.vcf` is a file, anything else a directory.
    pub fn from_path(path: &Path) -> ExportTarget {
        let is_vcf = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("vcf"));
        if is_vcf && !path.is_dir() {
            ExportTarget::File(path.to_owned())
        } else {
            ExportTarget::Vdir(path.to_owned())
        }
    }
}

/// Writes exported cards as they come.
pub struct ExportWriter {
    target: ExportTarget,
    file: Option<std::io::BufWriter<std::fs::File>>,
    pub written: u64,
}

impl ExportWriter {
    pub fn create(target: ExportTarget) -> Result<ExportWriter, VcfError> {
        let file = match &target {
            ExportTarget::Vdir(dir) => {
                if dir.exists() && !dir.is_dir() {
                    return Err(VcfError::NotADirectory { path: dir.clone() });
                }
                std::fs::create_dir_all(dir).map_err(io(dir))?;
                None
            }
            ExportTarget::File(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                Some(std::io::BufWriter::new(
                    std::fs::File::create(path).map_err(io(path))?,
                ))
            }
        };
        Ok(ExportWriter {
            target,
            file,
            written: 0,
        })
    }

    pub fn write(&mut self, guid: &str, card: &str) -> Result<(), VcfError> {
        use std::io::Write;
        let mut text = card.to_owned();
        if !text.ends_with('\n') {
            text.push_str("\r\n");
        }
        match (&self.target, &mut self.file) {
            (ExportTarget::File(path), Some(f)) => {
                f.write_all(text.as_bytes()).map_err(io(path))?;
            }
            (ExportTarget::Vdir(dir), _) | (ExportTarget::File(dir), None) => {
                let path = dir.join(format!("{}.vcf", file_stem(guid)));
                std::fs::write(&path, text).map_err(io(&path))?;
            }
        }
        self.written += 1;
        Ok(())
    }

    pub fn finish(mut self) -> Result<u64, VcfError> {
        use std::io::Write;
        if let (ExportTarget::File(path), Some(f)) = (&self.target, &mut self.file) {
            f.flush().map_err(io(path))?;
            f.get_ref().sync_all().map_err(io(path))?;
        }
        Ok(self.written)
    }
}

/// GUIDs are ours (decimal) but keep a file name safe whatever they are.
fn file_stem(guid: &str) -> String {
    guid.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// What one import batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportCounts {
    pub added: u64,
    /// Already in the book (or earlier in the same import).
    pub unchanged: u64,
    /// Not a vCard, or larger than `max_item_bytes`.
    pub invalid: u64,
}

impl ImportCounts {
    pub fn add(&mut self, o: ImportCounts) {
        self.added += o.added;
        self.unchanged += o.unchanged;
        self.invalid += o.invalid;
    }
}

/// Store a batch of cards in `book` as local changes, in one commit.
/// The caller holds the user's lock when a daemon runs.
pub fn import_cards(
    store: &dyn Store,
    book: &BookId,
    cards: &[String],
    max_item_bytes: u64,
    now_ms: u64,
) -> Result<ImportCounts, StoreError> {
    let mut counts = ImportCounts::default();
    let mut index = book_index(store, book)?;
    let mut t = Txn::new(store);
    for card in cards {
        if !contacts::is_vcard(card) || card.len() as u64 > max_item_bytes {
            counts.invalid += 1;
            continue;
        }
        let key = match_key(card);
        let known = index
            .get(&key)
            .is_some_and(|existing| existing.iter().any(|e| same_contact(e, card)));
        if known {
            counts.unchanged += 1;
            continue;
        }
        let item = Change {
            content_type: content_type_of(card),
            data: card,
            origin: "",
            now_ms,
        };
        book::create(&mut t, book, &item)?;
        index.entry(key).or_default().push(card.clone());
        counts.added += 1;
    }
    if counts.added > 0 {
        store.commit(&t.into_batch())?;
    }
    Ok(counts)
}

/// The live cards of a book by match key.
fn book_index(store: &dyn Store, book: &BookId) -> Result<HashMap<u64, Vec<String>>, StoreError> {
    let mut index: HashMap<u64, Vec<String>> = HashMap::new();
    let mut after = String::new();
    loop {
        let page = schema::items_page(store, book, &after, 1000)?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        for (_, rec) in page {
            if !rec.deleted {
                index
                    .entry(match_key(&rec.data))
                    .or_default()
                    .push(rec.data);
            }
        }
    }
    Ok(index)
}

/// `text/x-vcard` for vCard 2.1, `text/vcard` otherwise.
fn content_type_of(card: &str) -> &'static str {
    let v21 = card.lines().any(|l| {
        l.trim()
            .strip_prefix("VERSION:")
            .or_else(|| l.trim().strip_prefix("version:"))
            .is_some_and(|v| v.trim() == "2.1")
    });
    if v21 { mime::VCARD21 } else { mime::VCARD30 }
}

/// A page of (guid, vCard) and where the next one starts.
pub type ExportPage = (Vec<(String, String)>, Option<String>);

/// One page of a book's live cards: (guid, vCard) after `after` ("" = from
/// the start), and the GUID to continue after (None at the end).
pub fn export_page(
    store: &dyn Store,
    book: &BookId,
    after: &str,
    limit: usize,
) -> Result<ExportPage, StoreError> {
    let page = schema::items_page(store, book, after, limit.max(1))?;
    let next = (page.len() >= limit.max(1))
        .then(|| page.last().map(|(g, _)| g.clone()))
        .flatten();
    let cards = page
        .into_iter()
        .filter(|(_, rec)| !rec.deleted)
        .map(|(g, rec)| (g, rec.data))
        .collect();
    Ok((cards, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn card(name: &str) -> String {
        format!("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nN:{name};;;;\r\nEND:VCARD\r\n")
    }

    #[test]
    fn splits_multi_vcard_text() {
        let text = format!(
            "junk\n{}{}BEGIN:VCARD\nVERSION:2.1\nAGENT:\nBEGIN:VCARD\nFN:Inner\nEND:VCARD\nFN:Outer\nEND:VCARD",
            card("A"),
            card("B")
        );
        let cards = split_cards(&text);
        assert_eq!(cards.len(), 3);
        assert_eq!(cards[0], card("A"));
        assert!(cards[2].contains("FN:Inner") && cards[2].ends_with("END:VCARD\r\n"));
    }

    #[test]
    fn importing_twice_adds_nothing_and_changes_are_local() {
        let s = MemoryStore::new();
        let book = BookId {
            user: "alice".into(),
            store: "contacts".into(),
        };
        let cards = vec![card("A"), card("B"), card("A"), "nonsense".into()];
        let first = import_cards(&s, &book, &cards, 1 << 20, 5).unwrap();
        assert_eq!(
            first,
            ImportCounts {
                added: 2,
                unchanged: 1,
                invalid: 1
            }
        );
        let reordered = card("B").replace("FN:B\r\nN:B;;;;", "N:B;;;;\r\nFN:B");
        let second = import_cards(&s, &book, &[reordered, card("A")], 1 << 20, 6).unwrap();
        assert_eq!(second.added, 0);
        assert_eq!(second.unchanged, 2);
        let items = schema::items_page(&s, &book, "", 10).unwrap();
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|(_, r)| r.origin.is_empty() && r.seq > 0));
        assert_eq!(schema::changes_after(&s, &book, 0, 10).unwrap().len(), 2);
        let (page, next) = export_page(&s, &book, "", 1).unwrap();
        assert_eq!(page.len(), 1);
        let (rest, end) = export_page(&s, &book, &next.unwrap(), 10).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(end, None);
    }

    #[test]
    fn export_target_by_extension() {
        assert_eq!(
            ExportTarget::from_path(Path::new("/x/all.VCF")),
            ExportTarget::File("/x/all.VCF".into())
        );
        assert_eq!(
            ExportTarget::from_path(Path::new("/x/dir")),
            ExportTarget::Vdir("/x/dir".into())
        );
    }
}
