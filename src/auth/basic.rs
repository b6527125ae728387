//! `syncml:auth-basic` and the at-rest user digest.

use md5::{Digest, Md5};

use super::{AuthError, b64};

/// `B64("user:password")`: the `Cred/Data` of `syncml:auth-basic`.
pub fn basic_credential(user: &str, password: &str) -> String {
    b64::encode(format!("{user}:{password}").as_bytes())
}

/// Splits a basic credential into (user, password) at the first `:`, so a
/// password may contain `:` but a user name cannot.
pub fn parse_basic(data: &str) -> Result<(String, String), AuthError> {
    let raw =
        b64::decode(data).ok_or(AuthError::MalformedData("basic credential is not base64"))?;
    let text = String::from_utf8(raw)
        .map_err(|_| AuthError::MalformedData("basic credential is not UTF-8"))?;
    let (user, password) = text
        .split_once(':')
        .ok_or(AuthError::MalformedData("basic credential has no ':'"))?;
    Ok((user.to_owned(), password.to_owned()))
}

/// `B64(MD5("user:password"))`, the only password-derived value stored
/// (`UserRecord::md5_userpass`). auth-md5 is defined on top of exactly this
/// value, which is why we keep it rather than a slow password hash; it is
/// therefore password-equivalent for auth-md5 and must be guarded as such.
pub fn userpass_digest(user: &str, password: &str) -> String {
    b64::encode(&raw_userpass_digest(user, password))
}

pub(crate) fn raw_userpass_digest(user: &str, password: &str) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(user.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_vector() {
        assert_eq!(
            basic_credential("Bruce2", "OhBehave"),
            "QnJ1Y2UyOk9oQmVoYXZl"
        );
        let parsed = parse_basic("QnJ1Y2UyOk9oQmVoYXZl").unwrap();
        assert_eq!(parsed, ("Bruce2".to_owned(), "OhBehave".to_owned()));
    }

    #[test]
    fn transcript_basic() {
        // shared/peers/transcripts/10-second-client-basic-auth/01-client.xml
        assert_eq!(basic_credential("alice", "secret"), "YWxpY2U6c2VjcmV0");
    }

    #[test]
    fn splits_at_first_colon_and_tolerates_wrapping() {
        let cred = basic_credential("u", "pa:ss:word");
        let wrapped = format!("{}\r\n{}", &cred[..4], &cred[4..]);
        assert_eq!(
            parse_basic(&wrapped).unwrap(),
            ("u".to_owned(), "pa:ss:word".to_owned())
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            parse_basic("%%%"),
            Err(AuthError::MalformedData(_))
        ));
        assert!(matches!(
            parse_basic(&b64::encode(b"nocolon")),
            Err(AuthError::MalformedData(_))
        ));
        assert!(matches!(
            parse_basic(&b64::encode(&[0xff, b':'])),
            Err(AuthError::MalformedData(_))
        ));
    }
}
