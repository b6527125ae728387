//! Errors of the contacts library.

/// Why a vCard could not be read.
///
/// The parser is lenient about everything real phones get wrong (line ends,
/// folding, unknown parameters, bad charsets); these are the cases where
/// there is no card to speak of.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VCardError {
    #[error("no BEGIN:VCARD line")]
    MissingBegin,
    #[error("no END:VCARD line")]
    MissingEnd,
    #[error("line {line}: no property name before ':'")]
    MissingName { line: usize },
    #[error("line {line}: invalid property name {name:?}")]
    InvalidName { line: usize, name: String },
    #[error("line {line}: bad BASE64 data")]
    BadBase64 { line: usize },
    #[error("nested vCards (inline AGENT) are not supported")]
    Nested,
}
