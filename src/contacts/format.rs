//! Which vCard version a peer gets, and rendering it.

use super::vcard::{Card, VCardVersion, write};

/// The version to send a peer: its DevInf Rx-Pref (CTType, VerCT) when it
/// sent one we know, else the type of what it sent us, else 3.0 (the
/// SyncML and SyncEvolution default).
pub fn preferred_output(rx_pref: Option<(&str, &str)>, sent_type: Option<&str>) -> VCardVersion {
    if let Some((ct, ver)) = rx_pref {
        let ct = base_type(ct);
        let by_version = match ver.trim() {
            "2.1" => Some(VCardVersion::V21),
            "3.0" => Some(VCardVersion::V30),
            "4.0" => Some(VCardVersion::V40),
            _ => None,
        };
        match (ct.as_str(), by_version) {
            ("text/x-vcard", _) => return VCardVersion::V21,
            ("text/vcard" | "text/directory", Some(v)) => return v,
            ("text/vcard" | "text/directory", None) => return VCardVersion::V30,
            _ => {}
        }
    }
    match sent_type.map(base_type).as_deref() {
        Some("text/x-vcard") => VCardVersion::V21,
        _ => VCardVersion::V30,
    }
}

fn base_type(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The card as `version`: (content type for Meta/Type, vCard text).
pub fn render(card: &Card, version: VCardVersion) -> (&'static str, String) {
    (version.content_type(), write(card, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rx_pref_then_sent_type_then_30() {
        let p = |rx, sent| preferred_output(rx, sent);
        assert_eq!(
            p(Some(("text/x-vcard", "2.1")), Some("text/vcard")),
            VCardVersion::V21
        );
        assert_eq!(
            p(Some(("text/vcard", "3.0")), Some("text/x-vcard")),
            VCardVersion::V30
        );
        assert_eq!(p(Some(("TEXT/VCARD", "4.0")), None), VCardVersion::V40);
        assert_eq!(
            p(Some(("text/plain", "1.0")), Some("text/x-vcard")),
            VCardVersion::V21
        );
        assert_eq!(
            p(None, Some("text/x-vcard; charset=utf-8")),
            VCardVersion::V21
        );
        assert_eq!(p(None, None), VCardVersion::V30);
    }
}
