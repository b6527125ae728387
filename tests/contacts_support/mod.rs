//! Shared by the contacts tests: the contacts-1k corpus.

use std::path::PathBuf;

/// `shared/data/contacts-1k` from `SYNCMLD_SHARED`, else next to the repo.
fn corpus_dir() -> PathBuf {
    let shared = std::env::var_os("SYNCMLD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    shared.join("data/contacts-1k")
}

/// Every `.vcf` file of the corpus, sorted by name: (file name, bytes).
/// `None` (test skipped) when the corpus is absent, except under CI.
pub fn corpus() -> Option<Vec<(String, Vec<u8>)>> {
    let dir = corpus_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("contacts corpus {} missing under CI: {e}", dir.display());
            }
            eprintln!("SKIPPED: contacts corpus {} not found ({e})", dir.display());
            return None;
        }
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "vcf"))
        .filter_map(|e| {
            let bytes = std::fs::read(e.path()).ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), bytes))
        })
        .collect();
    files.sort();
    Some(files)
}
