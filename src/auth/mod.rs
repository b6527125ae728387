//! Credential schemes for the SyncHdr `Cred` / `Chal`: pure functions.
//!
//! Contract: nothing in here does I/O, reads a clock or draws randomness.
//! Nonces are built from bytes the caller supplies ([`new_nonce`]), stored
//! values (the per-user digest, the per-device key) are passed in, and the
//! engine decides what status code a [`Verdict`] becomes.
//!
//! Schemes (see docs/auth.md for formulas and security properties):
//!
//! | [`Scheme`] | Cred Type | what the server keeps |
//! |---|---|---|
//! | `Basic` | `syncml:auth-basic` | B64(MD5("user:pass")) |
//! | `Md5` | `syncml:auth-md5` | the same digest + a per-device nonce |
//! | `Device` | `x-syncmld:auth-device` | MD5(secret ++ device id) |
//! | `Hmac` | `x-syncmld:auth-hmac-sha256` | the same key + a per-device nonce |

use crate::protocol::status::StatusCode;

mod b64;
mod basic;
mod device;
mod md5;
mod nonce;
mod scheme;
mod verify;

pub use basic::{basic_credential, parse_basic, userpass_digest};
pub use device::{device_credential, device_key, hmac_credential, verify_hmac};
pub use md5::md5_credential;
pub use nonce::{decode_nonce, new_nonce, nonce_b64};
pub use scheme::Scheme;
pub use verify::{Presented, Verdict, verify};

/// Why a credential was not accepted.
///
/// The engine must answer `UnknownUser` and `BadCredentials` identically
/// (401); the distinction is for the server's own log only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("unknown user")]
    UnknownUser,
    /// md5, device and hmac credentials carry no user name; it must come
    /// from the SyncHdr `Source/LocName`.
    #[error("no user name (SyncHdr Source LocName) with a non-basic credential")]
    MissingUser,
    #[error("credentials do not match")]
    BadCredentials,
    /// The scheme needs a nonce and none has been issued to this device yet:
    /// answer 401 with a `Chal` carrying a fresh NextNonce.
    #[error("no nonce has been issued to this device")]
    MissingNonce,
    /// `Cred/Meta/Format` other than `b64` (the engine answers 415).
    #[error("unsupported credential format (only b64)")]
    UnsupportedFormat,
    #[error("malformed credential data: {0}")]
    MalformedData(&'static str),
    /// A device-bound scheme was used by a device with no registered secret.
    #[error("no shared secret is registered for this device")]
    NoDeviceSecret,
}

impl AuthError {
    /// The SyncHdr status the engine answers with: 415 for a format it
    /// cannot read, otherwise 401 (with a fresh `Chal`). 406 for an unknown
    /// Type and 407 for no `Cred` are decided before [`verify`] is called.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::UnsupportedFormat => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::INVALID_CREDENTIALS,
        }
    }
}
