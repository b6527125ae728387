//! The credential schemes and their wire names.

use crate::protocol::auth_type;

/// A credential scheme, as named by `Cred/Meta/Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    Basic,
    Md5,
    Device,
    Hmac,
}

impl Scheme {
    pub const ALL: [Scheme; 4] = [Scheme::Basic, Scheme::Md5, Scheme::Device, Scheme::Hmac];

    /// Maps a `Cred/Meta/Type` to a scheme, case-insensitively. An absent
    /// Type means basic (SyncML XSD); pass `""` for that. `None` means an
    /// unknown type, which the engine answers with 406.
    pub fn from_cred_type(cred_type: &str) -> Option<Scheme> {
        let t = cred_type.trim();
        if t.is_empty() {
            return Some(Scheme::Basic);
        }
        Scheme::ALL
            .into_iter()
            .find(|s| s.cred_type().eq_ignore_ascii_case(t))
    }

    /// The `Type` to put in `Cred/Meta` or `Chal/Meta`.
    pub fn cred_type(&self) -> &'static str {
        match self {
            Scheme::Basic => auth_type::BASIC,
            Scheme::Md5 => auth_type::MD5,
            Scheme::Device => auth_type::DEVICE,
            Scheme::Hmac => auth_type::HMAC,
        }
    }

    /// The short name used in the configuration file (`[auth] schemes`).
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::Basic => "basic",
            Scheme::Md5 => "md5",
            Scheme::Device => "device",
            Scheme::Hmac => "hmac",
        }
    }

    /// Inverse of [`Scheme::name`], case-insensitive.
    pub fn from_name(name: &str) -> Option<Scheme> {
        Scheme::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether the credential is bound to a server-issued nonce, i.e.
    /// whether a `Chal` for it carries a `NextNonce`.
    pub fn uses_nonce(&self) -> bool {
        matches!(self, Scheme::Md5 | Scheme::Hmac)
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cred_types_round_trip_case_insensitively() {
        for s in Scheme::ALL {
            assert_eq!(Scheme::from_cred_type(s.cred_type()), Some(s));
            assert_eq!(
                Scheme::from_cred_type(&s.cred_type().to_uppercase()),
                Some(s)
            );
            assert_eq!(Scheme::from_name(s.name()), Some(s));
        }
        assert_eq!(Scheme::from_cred_type(""), Some(Scheme::Basic));
        assert_eq!(
            Scheme::from_cred_type(" syncml:auth-md5 "),
            Some(Scheme::Md5)
        );
        assert_eq!(Scheme::from_cred_type("syncml:auth-X509"), None);
        assert_eq!(Scheme::from_name("sha1"), None);
    }
}
