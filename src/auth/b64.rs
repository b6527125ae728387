//! Base64 as SyncML peers send it.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Strict standard alphabet with padding, for everything we emit.
pub(crate) fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decoding accepts missing padding: some phones drop it.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes Base64 that may contain MIME-style line breaks or other ASCII
/// whitespace (peers wrap long `Cred/Data`), and may lack padding.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    LENIENT.decode(compact).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_tolerates_line_breaks_and_missing_padding() {
        assert_eq!(
            decode("QnJ1Y2Uy\r\n Ok9oQmVo\tYXZl").as_deref(),
            Some(&b"Bruce2:OhBehave"[..])
        );
        assert_eq!(decode("Tm9uY2U").as_deref(), Some(&b"Nonce"[..]));
        assert_eq!(decode("Tm9uY2U=").as_deref(), Some(&b"Nonce"[..]));
        assert_eq!(decode("not base64!"), None);
        assert_eq!(decode("").as_deref(), Some(&b""[..]));
    }
}
