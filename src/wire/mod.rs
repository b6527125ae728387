//! Wire codecs: the only code that turns bytes into the [`crate::protocol`]
//! model and back. The engine never sees XML.

pub mod san;
pub mod xml;

use crate::protocol::{Command, SyncHdr};

/// Why a received message could not be decoded. Every variant names what was
/// wrong so the HTTP layer can log it and answer 400 without guessing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is not UTF-8 (SyncML XML is UTF-8 in practice; other
    /// charsets are not supported).
    #[error("input is not valid UTF-8 (first bad byte at {position})")]
    NotUtf8 { position: usize },
    /// The XML itself is not well-formed.
    #[error("malformed XML at byte {position}: {message}")]
    Malformed { position: u64, message: String },
    /// An entity reference other than the five predefined ones or a
    /// character reference (DTD-defined entities are never expanded).
    #[error("unknown entity reference &{entity}; at byte {position}")]
    UnknownEntity { entity: String, position: u64 },
    /// The document element is not `SyncML`.
    #[error("root element is <{found}>, expected <SyncML>")]
    WrongRoot { found: String },
    /// Non-whitespace text before the root element.
    #[error("text before the root element at byte {position}")]
    TextBeforeRoot { position: u64 },
    /// Anything but whitespace, comments or processing instructions after
    /// the root element.
    #[error("content after the root element at byte {position}")]
    TrailingContent { position: u64 },
    /// The input ended inside an element (or before any root element).
    #[error("unexpected end of input inside <{inside}>")]
    UnexpectedEof { inside: String },
    /// A required child element is absent.
    #[error("<{parent}> lacks required <{element}>")]
    Missing {
        element: &'static str,
        parent: &'static str,
    },
    /// An element that must hold a number holds something else.
    #[error("<{element}> must be a number, got {value:?}")]
    BadNumber {
        element: &'static str,
        value: String,
    },
}

/// Exact encoded sizes, so the engine can split packages under the peer's
/// MaxMsgSize without encoding itself.
///
/// Invariant: `encode(msg).len() <= envelope_len(&msg.header) +
/// Σ command_len(c)`; the XML implementation is exact except that it counts
/// `<Final/>` even when the message has none (8 bytes over).
pub trait Sizer {
    /// Bytes the command adds to the SyncBody (nested commands included).
    fn command_len(&self, cmd: &Command) -> usize;
    /// Bytes of a message with this header and an empty body, including
    /// `<Final/>` and the closing tags.
    fn envelope_len(&self, hdr: &SyncHdr) -> usize;
}
