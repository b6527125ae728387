use super::*;
use crate::auth::{
    basic_credential, device_credential, device_key, hmac_credential, md5_credential,
    userpass_digest,
};

fn rec(user: &str, password: &str) -> UserRecord {
    UserRecord {
        md5_userpass: userpass_digest(user, password),
        restrict_devices: false,
        created_ms: 0,
    }
}

fn presented<'a>(scheme: Scheme, data: &'a str, user: Option<&'a str>) -> Presented<'a> {
    Presented {
        scheme,
        format: Some("b64"),
        data,
        claimed_user: user,
        device_id: "syncevo-client",
        session_id: "5",
        msg_id: 1,
    }
}

fn accepted(user: &str) -> Verdict {
    Verdict::Accepted {
        user: user.to_owned(),
    }
}

fn rejected(e: AuthError) -> Verdict {
    Verdict::Rejected(e)
}

#[test]
fn basic_accepts_right_password_only() {
    let alice = rec("alice", "secret");
    // shared/peers/transcripts/10-second-client-basic-auth/01-client.xml
    let p = presented(Scheme::Basic, "YWxpY2U6c2VjcmV0", Some("alice"));
    assert_eq!(p.user_name().unwrap(), "alice");
    assert_eq!(verify(&p, Some(&alice), None, None), accepted("alice"));

    let wrong = basic_credential("alice", "WRONG");
    let p = presented(Scheme::Basic, &wrong, Some("alice"));
    assert_eq!(
        verify(&p, Some(&alice), None, None),
        rejected(AuthError::BadCredentials)
    );
    assert_eq!(
        verify(&p, None, None, None),
        rejected(AuthError::UnknownUser)
    );
}

#[test]
fn basic_without_format_is_b64() {
    let alice = rec("alice", "secret");
    let p = Presented {
        format: None,
        ..presented(Scheme::Basic, "YWxpY2U6c2VjcmV0", None)
    };
    assert_eq!(verify(&p, Some(&alice), None, None), accepted("alice"));
}

#[test]
fn non_b64_format_is_unsupported() {
    let alice = rec("alice", "secret");
    let p = Presented {
        format: Some("clear"),
        ..presented(Scheme::Basic, "alice:secret", None)
    };
    assert_eq!(
        verify(&p, Some(&alice), None, None),
        rejected(AuthError::UnsupportedFormat)
    );
}

#[test]
fn md5_transcripts() {
    let alice = rec("alice", "secret");
    // shared/peers/transcripts/01-first-slow-sync/01-client.xml (empty nonce)
    let p = presented(Scheme::Md5, "lOnT4YjHnGPOubN9TXInoQ==", Some("alice"));
    assert_eq!(verify(&p, Some(&alice), None, Some(b"")), accepted("alice"));
    // shared/peers/transcripts/02-two-way-changes/01-client.xml, with the
    // NextNonce LVo+JUIjISE= of 01-first-slow-sync/02-server.xml.
    let p = presented(Scheme::Md5, "QF8nhzJwcAwzL7XJURJE4w==", Some("alice"));
    assert_eq!(
        verify(&p, Some(&alice), None, Some(b"-Z>%B#!!")),
        accepted("alice")
    );
    // The same credential once the nonce has rotated: a replay.
    assert_eq!(
        verify(&p, Some(&alice), None, Some(b"next")),
        rejected(AuthError::BadCredentials)
    );
    // shared/peers/transcripts/11-auth-failure/03-client.xml (password WRONG).
    let p = presented(Scheme::Md5, "x3u4IYlCitdZ4c4PhBCUwQ==", Some("alice"));
    assert_eq!(
        verify(&p, Some(&alice), None, Some(b"3@$DX!!!")),
        rejected(AuthError::BadCredentials)
    );
}

#[test]
fn md5_needs_user_and_nonce() {
    let alice = rec("alice", "secret");
    let cred = md5_credential(&alice.md5_userpass, b"n");
    let p = presented(Scheme::Md5, &cred, None);
    assert_eq!(
        verify(&p, Some(&alice), None, Some(b"n")),
        rejected(AuthError::MissingUser)
    );
    let p = presented(Scheme::Md5, &cred, Some(""));
    assert_eq!(
        verify(&p, Some(&alice), None, Some(b"n")),
        rejected(AuthError::MissingUser)
    );
    let p = presented(Scheme::Md5, &cred, Some("alice"));
    assert_eq!(
        verify(&p, Some(&alice), None, None),
        rejected(AuthError::MissingNonce)
    );
    assert_eq!(
        verify(&p, None, None, Some(b"n")),
        rejected(AuthError::UnknownUser)
    );
    let p = presented(Scheme::Md5, "***", Some("alice"));
    assert!(matches!(
        verify(&p, Some(&alice), None, Some(b"n")),
        Verdict::Rejected(AuthError::MalformedData(_))
    ));
}

#[test]
fn device_scheme_compares_with_stored_key() {
    let alice = rec("alice", "secret");
    let key = device_key(b"shared", "syncevo-client");
    let cred = device_credential(b"shared", "syncevo-client");
    let p = presented(Scheme::Device, &cred, Some("alice"));
    assert_eq!(
        verify(&p, Some(&alice), Some(&key), None),
        accepted("alice")
    );
    let other = device_key(b"shared", "another-device");
    assert_eq!(
        verify(&p, Some(&alice), Some(&other), None),
        rejected(AuthError::BadCredentials)
    );
    assert_eq!(
        verify(&p, Some(&alice), None, None),
        rejected(AuthError::NoDeviceSecret)
    );
    assert_eq!(
        verify(&p, None, None, None),
        rejected(AuthError::UnknownUser)
    );
}

#[test]
fn hmac_scheme_is_bound_to_message_and_nonce() {
    let alice = rec("alice", "secret");
    let key = device_key(b"shared", "syncevo-client");
    let cred = hmac_credential(&key, "syncevo-client", "5", 1, b"nonce-1");
    let p = presented(Scheme::Hmac, &cred, Some("alice"));
    assert_eq!(
        verify(&p, Some(&alice), Some(&key), Some(b"nonce-1")),
        accepted("alice")
    );
    // Replayed after the server rotated the nonce, or in another message.
    assert_eq!(
        verify(&p, Some(&alice), Some(&key), Some(b"nonce-2")),
        rejected(AuthError::BadCredentials)
    );
    let later = Presented { msg_id: 2, ..p };
    assert_eq!(
        verify(&later, Some(&alice), Some(&key), Some(b"nonce-1")),
        rejected(AuthError::BadCredentials)
    );
    assert_eq!(
        verify(&p, Some(&alice), Some(&key), None),
        rejected(AuthError::MissingNonce)
    );
    assert_eq!(
        verify(&p, Some(&alice), None, Some(b"nonce-1")),
        rejected(AuthError::NoDeviceSecret)
    );
    assert_eq!(
        verify(&p, None, None, Some(b"nonce-1")),
        rejected(AuthError::UnknownUser)
    );
}
