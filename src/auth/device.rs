//! Device-bound schemes: the patent's static credential and the
//! replay-proof HMAC variant built on the same stored key.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

use super::b64;

type HmacSha256 = Hmac<Sha256>;

/// `MD5(secret ++ device_id)`, 16 raw bytes: what `DeviceRecord::secret_key`
/// holds, so the shared secret itself is never stored.
pub fn device_key(secret: &[u8], device_id: &str) -> Vec<u8> {
    let mut h = Md5::new();
    h.update(secret);
    h.update(device_id.as_bytes());
    h.finalize().to_vec()
}

/// `B64(MD5(secret ++ device_id))`: the `Cred/Data` of
/// `x-syncmld:auth-device` (CN101730085A claim 3). It is a static bearer
/// token: anyone who sees it once can replay it. Prefer [`hmac_credential`].
pub fn device_credential(secret: &[u8], device_id: &str) -> String {
    b64::encode(&device_key(secret, device_id))
}

/// `B64(HMAC-SHA256(key, device_id "\n" session_id "\n" msg_id "\n" B64(nonce)))`:
/// the `Cred/Data` of `x-syncmld:auth-hmac-sha256`. `key` is [`device_key`];
/// `nonce` is the decoded NextNonce the server last issued to this device.
pub fn hmac_credential(
    key: &[u8],
    device_id: &str,
    session_id: &str,
    msg_id: u32,
    nonce: &[u8],
) -> String {
    b64::encode(
        &mac(key, device_id, session_id, msg_id, nonce)
            .finalize()
            .into_bytes(),
    )
}

/// Checks `data` (Base64, whitespace tolerated) against the expected HMAC in
/// constant time.
pub fn verify_hmac(
    key: &[u8],
    device_id: &str,
    session_id: &str,
    msg_id: u32,
    nonce: &[u8],
    data: &str,
) -> bool {
    // An undecodable tag is checked as an empty one so the MAC is still
    // computed: the time taken does not depend on the input being valid.
    let tag = b64::decode(data).unwrap_or_default();
    mac(key, device_id, session_id, msg_id, nonce)
        .verify_slice(&tag)
        .is_ok()
}

fn mac(key: &[u8], device_id: &str, session_id: &str, msg_id: u32, nonce: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (long ones are hashed first), so this
    // cannot fail; the fallback only avoids a panic path.
    let mut m =
        HmacSha256::new_from_slice(key).unwrap_or_else(|_| HmacSha256::new(&Default::default()));
    m.update(device_id.as_bytes());
    m.update(b"\n");
    m.update(session_id.as_bytes());
    m.update(b"\n");
    m.update(msg_id.to_string().as_bytes());
    m.update(b"\n");
    m.update(b64::encode(nonce).as_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_credential_is_b64_of_the_stored_key() {
        let key = device_key(b"s3cret", "IMEI:493005100592800");
        assert_eq!(key.len(), 16);
        assert_eq!(
            device_credential(b"s3cret", "IMEI:493005100592800"),
            b64::encode(&key)
        );
        // Recomputed independently: python3 -c "import hashlib,base64;
        // print(base64.b64encode(hashlib.md5(b's3cretIMEI:493005100592800').digest()))"
        assert_eq!(
            device_credential(b"s3cret", "IMEI:493005100592800"),
            "aorrvvCdH/7VSfjHJb4KWA=="
        );
    }

    #[test]
    fn hmac_vector_and_binding() {
        let key = device_key(b"s3cret", "dev1");
        let cred = hmac_credential(&key, "dev1", "42", 1, b"n0nce");
        // Recomputed independently with python3 hmac/hashlib over
        // b"dev1\n42\n1\nbjBuY2U=" with key md5(b"s3cretdev1").
        assert_eq!(cred, "CVSClWleKfQXL5WTu0r+cjcartGaU8Wm3CLCCVZyZqM=");
        assert!(verify_hmac(&key, "dev1", "42", 1, b"n0nce", &cred));
        // Every input is bound: a replay in another message, session or
        // after nonce rotation fails.
        assert!(!verify_hmac(&key, "dev1", "42", 2, b"n0nce", &cred));
        assert!(!verify_hmac(&key, "dev1", "43", 1, b"n0nce", &cred));
        assert!(!verify_hmac(&key, "dev1", "42", 1, b"other", &cred));
        assert!(!verify_hmac(&key, "dev2", "42", 1, b"n0nce", &cred));
        assert!(!verify_hmac(
            &device_key(b"x", "dev1"),
            "dev1",
            "42",
            1,
            b"n0nce",
            &cred
        ));
        assert!(!verify_hmac(&key, "dev1", "42", 1, b"n0nce", "%%%"));
    }
}
