//! Logging: `tracing` to the systemd journal when stderr is connected to it
//! (`JOURNAL_STREAM` names stderr's device and inode), to stderr otherwise.
//!
//! The filter comes from `log.level`, unless `RUST_LOG` is set (a debugging
//! aid that wins). It can be changed at run time ([`LogHandle::reload`],
//! on SIGHUP), as can `log.contents`, the switch that allows contact data
//! and credentials in log lines ([`contents_allowed`]).

use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

use crate::config::Log;

static CONTENTS: AtomicBool = AtomicBool::new(false);

/// May log lines carry contact data and credentials (`log.contents`)?
/// Code that logs such data checks this first, e.g. through [`redact`].
pub fn contents_allowed() -> bool {
    CONTENTS.load(Ordering::Relaxed)
}

/// `value` when `log.contents` is on, else a placeholder with its length.
pub fn redact(value: &str) -> String {
    if contents_allowed() {
        value.to_owned()
    } else {
        format!("<{} bytes redacted>", value.len())
    }
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Journal,
    Stderr,
}

/// Changes the filter of the installed subscriber.
pub struct LogHandle {
    filter: Option<reload::Handle<EnvFilter, Registry>>,
    pub sink: Sink,
}

impl LogHandle {
    /// Apply a (re)loaded `[log]` section. `RUST_LOG`, when set, keeps
    /// winning over `log.level`.
    pub fn reload(&self, log: &Log) {
        CONTENTS.store(log.contents, Ordering::Relaxed);
        if rust_log().is_some() {
            tracing::info!("RUST_LOG is set: it wins over log.level");
            return;
        }
        let Some(handle) = &self.filter else { return };
        match EnvFilter::builder().parse(&log.level) {
            Ok(f) => match handle.reload(f) {
                Ok(()) => tracing::info!(level = %log.level, "log level changed"),
                Err(e) => tracing::warn!(error = %e, "could not change the log level"),
            },
            Err(e) => tracing::warn!(error = %e, level = %log.level, "invalid log.level ignored"),
        }
    }
}

/// Install the global subscriber. A second call (tests) changes nothing and
/// returns a handle that cannot reload.
pub fn init(log: &Log) -> LogHandle {
    CONTENTS.store(log.contents, Ordering::Relaxed);
    let filter = rust_log()
        .and_then(|v| EnvFilter::builder().parse(v).ok())
        .unwrap_or_else(|| {
            EnvFilter::builder()
                .parse(&log.level)
                .unwrap_or_else(|_| EnvFilter::new("info"))
        });
    let (filter, handle) = reload::Layer::new(filter);
    let journald = if stderr_is_journal() {
        // Fails when there is no journald socket (containers): fall back.
        tracing_journald::layer()
            .ok()
            .map(|l| l.with_syslog_identifier("syncmld".to_owned()))
    } else {
        None
    };
    let sink = if journald.is_some() {
        Sink::Journal
    } else {
        Sink::Stderr
    };
    let fmt = journald.is_none().then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
    });
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(journald)
        .with(fmt)
        .try_init()
        .is_ok();
    LogHandle {
        filter: installed.then_some(handle),
        sink,
    }
}

/// `RUST_LOG`, when set to something.
fn rust_log() -> Option<String> {
    std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// systemd sets `JOURNAL_STREAM=dev:inode` for the stream it connects to
/// stdout/stderr; it only counts when stderr is still that stream.
fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(parse_journal_stream) else {
        return false;
    };
    stderr_dev_ino().is_some_and(|(d, i)| d == dev && i == ino)
}

fn parse_journal_stream(value: &str) -> Option<(u64, u64)> {
    let (dev, ino) = value.split_once(':')?;
    Some((dev.trim().parse().ok()?, ino.trim().parse().ok()?))
}

fn stderr_dev_ino() -> Option<(u64, u64)> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_journal_stream() {
        assert_eq!(parse_journal_stream("8:12345"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("x:1"), None);
        assert_eq!(parse_journal_stream("81234"), None);
    }
}
