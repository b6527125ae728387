//! The binary encoding of a Server Alerted Notification (OMA DS 1.2 §12,
//! media type `application/vnd.syncml.ds.notification`):
//!
//! ```text
//! digest 128 | version 10 | ui-mode 2 | initiator 1 | future 27 | session-id 16
//! | server-id-length 8 | server-id … | num-syncs 4 | future 4
//! | per sync: sync-type 4 | future 4 | content-type 24 | uri-length 8 | uri …
//! | vendor-specific …
//! ```
//! The digest covers everything after it (the "notification").

use base64::Engine as _;
use md5::{Digest as _, Md5};

use crate::protocol::san::{San, SanSync, UiMode};

pub const MEDIA_TYPE: &str = "application/vnd.syncml.ds.notification";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SanError {
    #[error("notification truncated at byte {0}")]
    Truncated(usize),
    #[error("{0} is too long for a notification")]
    TooLong(&'static str),
    #[error("server-alerted sync type {0} is not 206-210")]
    BadSyncType(u16),
}

fn b64_md5(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(data))
}

/// H(B64(H(server-id:password)):nonce:B64(H(notification))), from the
/// already hashed `B64(H(server-id:password))` (what syncmld stores).
pub fn digest(b64_h_id_pwd: &str, nonce: &str, notification: &[u8]) -> [u8; 16] {
    let text = format!("{b64_h_id_pwd}:{nonce}:{}", b64_md5(notification));
    Md5::digest(text.as_bytes()).into()
}

/// The notification part of a SAN (everything after the digest).
pub fn notification_bytes(san: &San) -> Result<Vec<u8>, SanError> {
    let id = san.server_id.as_bytes();
    if id.len() > 255 {
        return Err(SanError::TooLong("the server identifier"));
    }
    if san.syncs.len() > 15 {
        return Err(SanError::TooLong("the list of datastores"));
    }
    let mut out = Vec::with_capacity(8 + id.len() + 6 * san.syncs.len());
    // version(10) ui(2) initiator(1) future(27) = 40 bits
    let head: u64 = (u64::from(san.version & 0x3ff) << 30)
        | ((san.ui_mode as u64) << 28)
        | (u64::from(san.server_initiated) << 27);
    out.extend_from_slice(&head.to_be_bytes()[3..8]);
    out.extend_from_slice(&san.session_id.to_be_bytes());
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    out.push((san.syncs.len() as u8) << 4);
    for s in &san.syncs {
        if !(206..=210).contains(&s.sync_type) {
            return Err(SanError::BadSyncType(s.sync_type));
        }
        let uri = s.server_uri.as_bytes();
        if uri.len() > 255 {
            return Err(SanError::TooLong("a server URI"));
        }
        out.push(((s.sync_type - 200) as u8) << 4);
        out.extend_from_slice(&(s.content_type & 0xff_ffff).to_be_bytes()[1..4]);
        out.push(uri.len() as u8);
        out.extend_from_slice(uri);
    }
    Ok(out)
}

/// Encode with the digest computed from `B64(H(server-id:password))`.
pub fn encode(san: &San, b64_h_id_pwd: &str, nonce: &str) -> Result<Vec<u8>, SanError> {
    let body = notification_bytes(san)?;
    let mut out = digest(b64_h_id_pwd, nonce, &body).to_vec();
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decode; the digest is returned as sent (check it with [`verify`]).
pub fn decode(bytes: &[u8]) -> Result<San, SanError> {
    let need = |n: usize| {
        if bytes.len() < n {
            Err(SanError::Truncated(bytes.len()))
        } else {
            Ok(())
        }
    };
    need(16 + 5 + 2 + 1)?;
    let mut digest = [0u8; 16];
    digest.copy_from_slice(&bytes[..16]);
    let mut head = [0u8; 8];
    head[3..8].copy_from_slice(&bytes[16..21]);
    let head = u64::from_be_bytes(head);
    let version = ((head >> 30) & 0x3ff) as u16;
    let ui_mode = match (head >> 28) & 3 {
        1 => UiMode::Background,
        2 => UiMode::Informative,
        3 => UiMode::UserInteraction,
        _ => UiMode::NotSpecified,
    };
    let server_initiated = (head >> 27) & 1 == 1;
    let session_id = u16::from_be_bytes([bytes[21], bytes[22]]);
    let id_len = bytes[23] as usize;
    let mut pos = 24;
    need(pos + id_len + 1)?;
    let server_id = String::from_utf8_lossy(&bytes[pos..pos + id_len]).into_owned();
    pos += id_len;
    let n = (bytes[pos] >> 4) as usize;
    pos += 1;
    let mut syncs = Vec::with_capacity(n);
    for _ in 0..n {
        need(pos + 5)?;
        let sync_type = u16::from(bytes[pos] >> 4) + 200;
        let content_type = u32::from_be_bytes([0, bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]]);
        let uri_len = bytes[pos + 4] as usize;
        pos += 5;
        need(pos + uri_len)?;
        let server_uri = String::from_utf8_lossy(&bytes[pos..pos + uri_len]).into_owned();
        pos += uri_len;
        syncs.push(SanSync {
            sync_type,
            content_type,
            server_uri,
        });
    }
    Ok(San {
        digest,
        version,
        ui_mode,
        server_initiated,
        session_id,
        server_id,
        syncs,
    })
}

/// Is the digest right for these credentials? (`bytes` = the whole SAN.)
pub fn verify(bytes: &[u8], b64_h_id_pwd: &str, nonce: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    if bytes.len() < 16 {
        return false;
    }
    let expected = digest(b64_h_id_pwd, nonce, &bytes[16..]);
    bool::from(expected.ct_eq(&bytes[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> San {
        San {
            digest: [0; 16],
            version: 12,
            ui_mode: UiMode::Background,
            server_initiated: true,
            session_id: 0x1234,
            server_id: "http://srv/sync".into(),
            syncs: vec![SanSync {
                sync_type: 206,
                content_type: 0x07,
                server_uri: "addressbook".into(),
            }],
        }
    }

    #[test]
    fn round_trips_and_checks_the_digest() {
        let key = crate::auth::userpass_digest("alice", "secret");
        let bytes = encode(&sample(), &key, "").unwrap();
        let back = decode(&bytes).unwrap();
        assert_eq!(
            San {
                digest: [0; 16],
                ..back.clone()
            },
            sample()
        );
        assert!(verify(&bytes, &key, ""));
        assert!(!verify(
            &bytes,
            &crate::auth::userpass_digest("alice", "wrong"),
            ""
        ));
        let mut tampered = bytes.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(!verify(&tampered, &key, ""));
    }

    #[test]
    fn header_bits_are_where_the_spec_puts_them() {
        let bytes = encode(&sample(), "k", "").unwrap();
        // version 12 = 0b0000001100 in the first 10 bits after the digest,
        // then ui-mode 01, initiator 1.
        assert_eq!(bytes[16], 0b0000_0011);
        assert_eq!(bytes[17], 0b0001_1000);
        assert_eq!(&bytes[21..23], &[0x12, 0x34]);
        assert_eq!(bytes[23] as usize, "http://srv/sync".len());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for n in 0..40 {
            let _ = decode(&vec![0xffu8; n]);
        }
        assert!(matches!(decode(&[0u8; 10]), Err(SanError::Truncated(_))));
    }
}
