//! `syncml:auth-md5` as defined since SyncML 1.1.

use md5::{Digest, Md5};

use super::b64;

/// `B64(MD5(userpass_digest_b64 ":" nonce))`, where `userpass_digest_b64` is
/// [`super::userpass_digest`] (the Base64 *text* is hashed, per the spec)
/// and `nonce` is the **decoded** NextNonce: hashing its Base64 text
/// instead is the classic interop bug.
pub fn md5_credential(userpass_digest_b64: &str, nonce: &[u8]) -> String {
    b64::encode(&raw_md5_credential(userpass_digest_b64, nonce))
}

pub(crate) fn raw_md5_credential(userpass_digest_b64: &str, nonce: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(userpass_digest_b64.as_bytes());
    h.update(b":");
    h.update(nonce);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::super::userpass_digest;
    use super::*;

    #[test]
    fn spec_vector() {
        let d = userpass_digest("Bruce2", "OhBehave");
        assert_eq!(md5_credential(&d, b"Nonce"), "Zz6EivR3yeaaENcRN6lpAQ==");
    }

    #[test]
    fn transcript_first_contact_empty_nonce() {
        // shared/peers/transcripts/01-first-slow-sync/01-client.xml: SyncEvolution,
        // alice / secret (run-scenarios.sh), no nonce known yet.
        let d = userpass_digest("alice", "secret");
        assert_eq!(md5_credential(&d, b""), "lOnT4YjHnGPOubN9TXInoQ==");
    }

    #[test]
    fn transcript_nonce_from_previous_session() {
        // NextNonce from shared/peers/transcripts/01-first-slow-sync/02-server.xml,
        // used by the Cred in shared/peers/transcripts/02-two-way-changes/01-client.xml.
        let nonce = b64::decode("LVo+JUIjISE=").unwrap();
        let d = userpass_digest("alice", "secret");
        assert_eq!(md5_credential(&d, &nonce), "QF8nhzJwcAwzL7XJURJE4w==");
        // Hashing the Base64 text of the nonce gives something else.
        assert_ne!(
            md5_credential(&d, b"LVo+JUIjISE="),
            "QF8nhzJwcAwzL7XJURJE4w=="
        );
    }

    #[test]
    fn transcript_wrong_password() {
        // shared/peers/transcripts/11-auth-failure/03-client.xml: password WRONG,
        // NextNonce from 02-server.xml of the same scenario.
        let nonce = b64::decode("M0AkRFghISE=").unwrap();
        let wrong = userpass_digest("alice", "WRONG");
        let right = userpass_digest("alice", "secret");
        assert_eq!(md5_credential(&wrong, &nonce), "x3u4IYlCitdZ4c4PhBCUwQ==");
        assert_ne!(md5_credential(&right, &nonce), "x3u4IYlCitdZ4c4PhBCUwQ==");
    }
}
