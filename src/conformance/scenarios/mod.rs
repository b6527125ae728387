//! The scenarios, by area. Each is `async fn(&Ctx) -> Outcome`: `Ok(Pass)`
//! with what it observed, `Ok(Skip)` with the reason, or `Err(Fail)` with
//! what was wrong. A scenario that changes the server's book ends with
//! `cx.restore_from(device)`; if it fails before, the runner cleans up.

pub mod alerts;
pub mod anchors;
pub mod auth;
pub mod bad;
pub mod bulk;
pub mod changes;
pub mod conflicts;
pub mod devinf;
pub mod fidelity;
pub mod maps;
pub mod scripted;
pub mod size;

use crate::engine::EngineError;
use crate::protocol::alert;
use crate::store::StoreError;
use crate::sync_client::TransportError;
use crate::wire::DecodeError;

use super::ctx::Ctx;
use super::device::Session;
use super::vcard::Card;

/// A scenario that did not fail.
#[derive(Debug)]
pub enum Pass {
    /// Passed; what was observed.
    Ok(String),
    /// Not applicable to this server, and why.
    Skip(String),
}

/// Why a scenario failed.
#[derive(Debug, thiserror::Error)]
pub enum Fail {
    /// A check did not hold.
    #[error("{0}")]
    Check(String),
    /// A virtual device's session did not complete.
    #[error("{0}")]
    Sync(String),
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    #[error("the server's reply is not SyncML: {0}")]
    Decode(#[from] DecodeError),
    #[error("local store: {0}")]
    Store(#[from] StoreError),
    #[error("local store: {0}")]
    Engine(#[from] EngineError),
}

pub type Outcome = Result<Pass, Fail>;

/// `ensure!(condition, "format", args…)`: fail the scenario unless it holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::conformance::scenarios::Fail::Check(format!($($fmt)+)));
        }
    };
}
pub(crate) use ensure;

pub fn mode_name(code: u16) -> &'static str {
    match code {
        alert::TWO_WAY => "two-way",
        alert::SLOW_SYNC => "slow",
        alert::ONE_WAY_FROM_CLIENT => "one-way-from-client",
        alert::REFRESH_FROM_CLIENT => "refresh-from-client",
        alert::ONE_WAY_FROM_SERVER => "one-way-from-server",
        alert::REFRESH_FROM_SERVER => "refresh-from-server",
        _ => "other",
    }
}

/// A plain vCard 3.0 of this run: FN `CT<tag> <label> <i>`, N, TEL, EMAIL.
pub fn contact(cx: &Ctx, label: &str, i: usize) -> String {
    let family = format!("{label} {i}");
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:CT{tag} {family}\r\nN:{family};CT{tag};;;\r\n\
         TEL;TYPE=CELL:+1 555 {i:04}\r\nEMAIL;TYPE=INTERNET:ct{tag}.{slug}.{i}@example.org\r\nEND:VCARD\r\n",
        tag = cx.tag,
        slug = label.replace(' ', "-"),
    )
}

/// `text` with one more property line before END:VCARD.
pub fn with_line(text: &str, line: &str) -> String {
    let body = text.trim_end().trim_end_matches("END:VCARD").trim_end();
    format!("{body}\r\n{line}\r\nEND:VCARD\r\n")
}

pub fn card(text: &str) -> Card {
    Card::parse(text).unwrap_or_default()
}

/// The session ran in `mode`: the engine reports the effective mode.
pub fn expect_mode(s: &Session, mode: u16) -> Result<(), Fail> {
    let got: Vec<u16> = s.report.modes.iter().map(|(_, m)| *m).collect();
    ensure!(
        got == [mode],
        "the session ran as {} ({:?}), expected {} ({mode}); server Alert codes {:?}, Status for our Alert {}",
        got.first().map_or("nothing", |m| mode_name(*m)),
        got,
        mode_name(mode),
        s.seen.server_alert_codes(),
        s.seen
            .alert_status()
            .map_or("none".into(), |st| st.data.0.to_string())
    );
    Ok(())
}

/// How many of `cards` equal `want`.
pub fn count(cards: &[(String, Card)], want: &Card) -> usize {
    cards.iter().filter(|(_, c)| c == want).count()
}
