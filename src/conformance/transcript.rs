//! Writing a failed scenario's exchange to disk, in the layout of the
//! recorded SyncEvolution sessions (`shared/peers/transcripts`):
//! `DIR/<scenario id>/NN-client.xml`, `NN-server.xml` (the exact bytes),
//! and `NN-server.error.txt` when no SyncML came back, plus `urls.txt`.

use std::io;
use std::path::{Path, PathBuf};

use super::wire::Exchange;

/// Write `exchanges` below `dir/<id>/`; returns that folder.
pub fn save(dir: &Path, id: &str, exchanges: &[Exchange]) -> io::Result<PathBuf> {
    let folder = dir.join(id);
    std::fs::create_dir_all(&folder)?;
    let mut urls = String::new();
    for (i, x) in exchanges.iter().enumerate() {
        let n = 2 * i + 1;
        std::fs::write(folder.join(format!("{n:02}-client.xml")), &x.request)?;
        match &x.reply {
            Ok(body) => std::fs::write(folder.join(format!("{:02}-server.xml", n + 1)), body)?,
            Err(e) => std::fs::write(
                folder.join(format!("{:02}-server.error.txt", n + 1)),
                format!("{e}\n"),
            )?,
        }
        urls.push_str(&format!(
            "{n:02} POST {} ({:.3} s)\n",
            x.url,
            x.elapsed.as_secs_f64()
        ));
    }
    std::fs::write(folder.join("urls.txt"), urls)?;
    Ok(folder)
}

/// A new folder for transcripts when the user named none:
/// `$TMPDIR/syncmld-conformance-<pid>-<n>`.
pub fn temp_dir() -> io::Result<PathBuf> {
    let base = std::env::temp_dir();
    for n in 0..1000 {
        let p = base.join(format!("syncmld-conformance-{}-{n}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free temporary folder name"))
}
