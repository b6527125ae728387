//! TEMPORARY STUB (replaced by the real module on merge).
#![allow(dead_code, unused_variables)]
use crate::store::schema::UserRecord;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Basic,
    Md5,
    Device,
    Hmac,
}
impl Scheme {
    pub fn from_cred_type(t: &str) -> Option<Scheme> {
        match t {
            "syncml:auth-basic" => Some(Scheme::Basic),
            "syncml:auth-md5" => Some(Scheme::Md5),
            _ => None,
        }
    }
    pub fn cred_type(&self) -> &'static str {
        match self {
            Scheme::Basic => "syncml:auth-basic",
            _ => "syncml:auth-md5",
        }
    }
}
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("x")]
    BadCredentials,
    #[error("x")]
    UnsupportedFormat,
    #[error("x")]
    UnknownUser,
    #[error("x")]
    MissingNonce,
    #[error("x")]
    MalformedData,
    #[error("x")]
    NoDeviceSecret,
}
pub struct Presented<'a> {
    pub scheme: Scheme,
    pub format: Option<&'a str>,
    pub data: &'a str,
    pub claimed_user: Option<&'a str>,
    pub device_id: &'a str,
    pub session_id: &'a str,
    pub msg_id: u32,
}
pub enum Verdict {
    Accepted { user: String },
    Rejected(AuthError),
}
pub fn verify(
    p: &Presented,
    user_rec: Option<&UserRecord>,
    device_key: Option<&[u8]>,
    expected_nonce: Option<&[u8]>,
) -> Verdict {
    match (p.scheme, parse_basic(p.data), user_rec) {
        (Scheme::Basic, Ok((u, pw)), Some(r)) if userpass_digest(&u, &pw) == r.md5_userpass => {
            Verdict::Accepted { user: u }
        }
        _ => Verdict::Rejected(AuthError::BadCredentials),
    }
}
pub fn parse_basic(data: &str) -> Result<(String, String), AuthError> {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| AuthError::MalformedData)?;
    let s = String::from_utf8(b).map_err(|_| AuthError::MalformedData)?;
    let (u, p) = s.split_once(':').ok_or(AuthError::MalformedData)?;
    Ok((u.into(), p.into()))
}
pub fn new_nonce(random: [u8; 16]) -> Vec<u8> {
    random.to_vec()
}
pub fn nonce_b64(n: &[u8]) -> String {
    String::new()
}
pub fn userpass_digest(user: &str, password: &str) -> String {
    format!("{user}:{password}")
}
pub fn basic_credential(u: &str, p: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
}
pub fn device_key(secret: &[u8], device_id: &str) -> Vec<u8> { let mut v = secret.to_vec(); v.extend_from_slice(device_id.as_bytes()); v }
