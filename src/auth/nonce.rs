//! Nonces for `Chal/Meta/NextNonce`.
//!
//! The server keeps one nonce per (user, device), issues a fresh one with
//! every challenge and after every successful md5/hmac authentication, and
//! the client uses the last one it received in its next `Cred`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{AuthError, b64};

/// Builds a nonce from 16 caller-supplied random bytes (the caller owns the
/// randomness, e.g. `getrandom`, so this module stays deterministic).
///
/// The nonce is the 22 printable characters of the bytes' URL-safe Base64,
/// not the raw bytes: peers store and hash the decoded NextNonce, and some
/// (C code, `.ini` state files) treat it as a string, where a NUL or a
/// non-UTF-8 byte would be truncated or mangled. 128 bits of entropy stay.
pub fn new_nonce(random: [u8; 16]) -> Vec<u8> {
    URL_SAFE_NO_PAD.encode(random).into_bytes()
}

/// The wire form of a nonce: the `NextNonce` element's text.
pub fn nonce_b64(nonce: &[u8]) -> String {
    b64::encode(nonce)
}

/// Decodes a `NextNonce` element's text to the nonce bytes that go into the
/// md5 and hmac credentials (client side and tests).
pub fn decode_nonce(text: &str) -> Result<Vec<u8>, AuthError> {
    b64::decode(text).ok_or(AuthError::MalformedData("NextNonce is not base64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_is_printable_and_round_trips() {
        let n = new_nonce([0, 0xff, 0, 0x80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(n.len(), 22);
        assert!(n.iter().all(|b| b.is_ascii_graphic()));
        assert_eq!(decode_nonce(&nonce_b64(&n)).unwrap(), n);
        assert_ne!(new_nonce([1; 16]), new_nonce([2; 16]));
    }

    #[test]
    fn decodes_peer_nonce() {
        // shared/peers/transcripts/01-first-slow-sync/02-server.xml
        assert_eq!(decode_nonce("LVo+JUIjISE=").unwrap(), b"-Z>%B#!!");
    }
}
