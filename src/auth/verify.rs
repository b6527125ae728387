//! The one entry point the engine calls to check a SyncHdr `Cred`.

use subtle::ConstantTimeEq;

use super::basic::raw_userpass_digest;
use super::md5::raw_md5_credential;
use super::{AuthError, Scheme, b64, parse_basic, verify_hmac};
use crate::store::schema::UserRecord;

/// A credential as it arrived, plus the header fields it may be bound to.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    pub scheme: Scheme,
    /// `Cred/Meta/Format`; absent is taken as `b64`.
    pub format: Option<&'a str>,
    /// `Cred/Data` as text. (A WBXML codec that receives the md5 digest as
    /// 16 opaque bytes must Base64 it before building this.)
    pub data: &'a str,
    /// SyncHdr `Source/LocName`: the user for md5, device and hmac.
    pub claimed_user: Option<&'a str>,
    /// SyncHdr `Source/LocURI`.
    pub device_id: &'a str,
    pub session_id: &'a str,
    pub msg_id: u32,
}

impl Presented<'_> {
    /// The user whose record (and, with the device id, whose device key and
    /// nonce) the engine must look up before calling [`verify`]: from the
    /// credential itself for basic, from `LocName` otherwise. [`verify`]
    /// ignores `LocName` for basic (the credential is what is proven); the
    /// engine may refuse a mismatch.
    pub fn user_name(&self) -> Result<String, AuthError> {
        match self.scheme {
            Scheme::Basic => Ok(parse_basic(self.data)?.0),
            _ => match self.claimed_user {
                Some(u) if !u.is_empty() => Ok(u.to_owned()),
                _ => Err(AuthError::MissingUser),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted { user: String },
    Rejected(AuthError),
}

/// Stands in for the stored digest of a user that does not exist, so an
/// unknown user costs the same hashing and comparison as a wrong password.
const DUMMY_DIGEST: &str = "AAAAAAAAAAAAAAAAAAAAAA==";

/// Checks a presented credential.
///
/// * `user_rec`: the record of [`Presented::user_name`], `None` if no such
///   user.
/// * `device_key`: `DeviceRecord::secret_key` of (user, device id), needed
///   by the device and hmac schemes.
/// * `expected_nonce`: the decoded nonce last issued to (user, device id),
///   needed by md5 and hmac. `None` (never issued) gives `MissingNonce`, to
///   be answered with 401 + `Chal`. After an accepted md5/hmac credential
///   the engine must issue a new nonce so the credential cannot be replayed.
///
/// The caller checks first that the scheme is enabled in the configuration.
pub fn verify(
    p: &Presented,
    user_rec: Option<&UserRecord>,
    device_key: Option<&[u8]>,
    expected_nonce: Option<&[u8]>,
) -> Verdict {
    match check(p, user_rec, device_key, expected_nonce) {
        Ok(user) => Verdict::Accepted { user },
        Err(e) => Verdict::Rejected(e),
    }
}

fn check(
    p: &Presented,
    user_rec: Option<&UserRecord>,
    device_key: Option<&[u8]>,
    expected_nonce: Option<&[u8]>,
) -> Result<String, AuthError> {
    if p.format
        .is_some_and(|f| !f.trim().eq_ignore_ascii_case("b64"))
    {
        return Err(AuthError::UnsupportedFormat);
    }
    let user = p.user_name()?;
    let stored_digest = user_rec.map_or(DUMMY_DIGEST, |r| r.md5_userpass.as_str());

    let matches = match p.scheme {
        Scheme::Basic => {
            let (name, password) = parse_basic(p.data)?;
            let presented = b64::encode(&raw_userpass_digest(&name, &password));
            bool::from(presented.as_bytes().ct_eq(stored_digest.as_bytes()))
        }
        Scheme::Md5 => {
            let nonce = expected_nonce.ok_or(AuthError::MissingNonce)?;
            let presented = decode_data(p.data)?;
            let expected = raw_md5_credential(stored_digest, nonce);
            bool::from(expected.as_slice().ct_eq(&presented))
        }
        Scheme::Device => {
            let presented = decode_data(p.data)?;
            match device_key {
                Some(key) => bool::from(key.ct_eq(&presented)),
                None if user_rec.is_none() => false,
                None => return Err(AuthError::NoDeviceSecret),
            }
        }
        Scheme::Hmac => {
            let nonce = expected_nonce.ok_or(AuthError::MissingNonce)?;
            match device_key {
                Some(key) => verify_hmac(key, p.device_id, p.session_id, p.msg_id, nonce, p.data),
                None if user_rec.is_none() => false,
                None => return Err(AuthError::NoDeviceSecret),
            }
        }
    };

    match (user_rec, matches) {
        (None, _) => Err(AuthError::UnknownUser),
        (Some(_), false) => Err(AuthError::BadCredentials),
        (Some(_), true) => Ok(user),
    }
}

fn decode_data(data: &str) -> Result<Vec<u8>, AuthError> {
    b64::decode(data).ok_or(AuthError::MalformedData("credential data is not base64"))
}

#[cfg(test)]
mod tests;
