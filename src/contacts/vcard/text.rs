//! Value-level codecs: quoted-printable, base64, charsets, escaping.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use std::borrow::Cow;

use super::VCardVersion;

/// Base64 as phones write it: padding optional, sloppy trailing bits.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

pub(super) fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let compact: Vec<u8> = s
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    B64.decode(compact).ok()
}

pub(super) fn base64_encode(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Decode quoted-printable. Soft breaks were joined by the line splitter;
/// a malformed `=` escape is kept literally rather than dropped.
pub(super) fn qp_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'='
            && let (Some(h), Some(l)) = (
                s.get(i + 1).and_then(|b| hex(*b)),
                s.get(i + 2).and_then(|b| hex(*b)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// Quoted-printable encode `s` (newlines become `=0D=0A`), as the tokens
/// that may not be split by a soft line break.
pub(super) fn qp_tokens(s: &str) -> Vec<String> {
    let bytes = s.replace('\n', "\r\n").into_bytes();
    let n = bytes.len();
    bytes
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            // A space at the very end would be eaten by line trimming.
            let literal = (b.is_ascii_graphic() && b != b'=') || (b == b' ' && i + 1 < n);
            if literal {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            }
        })
        .collect()
}

/// Bytes → text, per vcard-notes.md §2: a QP/BASE64 value is in its
/// CHARSET; 8-bit text that is valid UTF-8 is UTF-8 whatever CHARSET says
/// (the SyncML XML layer already decoded it), otherwise the CHARSET, and
/// Windows-1252 (a superset of Latin-1) when there is none.
pub(super) fn decode_charset<'a>(
    bytes: &'a [u8],
    charset: Option<&str>,
    encoded: bool,
) -> Cow<'a, str> {
    let label = charset.and_then(|c| encoding_rs::Encoding::for_label(c.trim().as_bytes()));
    if encoded && let Some(enc) = label {
        return enc.decode_without_bom_handling(bytes).0;
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => {
            label
                .unwrap_or(encoding_rs::WINDOWS_1252)
                .decode_without_bom_handling(bytes)
                .0
        }
    }
}

/// Is `name` a list-valued property whose items are separated by `,` even
/// in 2.1 (which has no comma escape)?
fn comma_list_in_21(name: &str) -> bool {
    matches!(name, "CATEGORIES" | "NICKNAME")
}

/// Split a decoded value into components (`;`) and items (`,`), undoing
/// escapes. 3.0/4.0 escape `\\ \; \, \n`; 2.1 only knows `\;` (we also
/// accept `\\`, `\n`, `\,`, which 2.1 writers use in practice). An unknown
/// escape keeps its backslash. CR and CRLF become LF.
pub(super) fn split_unescape(s: &str, version: VCardVersion, name: &str) -> Vec<Vec<String>> {
    let split_commas = version != VCardVersion::V21 || comma_list_in_21(name);
    // Runs of plain text are copied whole; every byte looked at below is
    // ASCII, so `start..i` always falls on character boundaries.
    let b = s.as_bytes();
    // Sized once (an escaped `;` only over-counts): no regrowth.
    let mut comps: Vec<Vec<String>> = Vec::with_capacity(memchr::memchr_iter(b';', b).count() + 1);
    let mut items: Vec<String> = Vec::with_capacity(1);
    let mut cur = String::new();
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        let (text, next) = match b[i] {
            b'\\' => match b.get(i + 1) {
                Some(&n @ (b'\\' | b';' | b',')) => (Some(n as char), i + 2),
                Some(b'n' | b'N') => (Some('\n'), i + 2),
                _ => (Some('\\'), i + 1),
            },
            b';' | b',' if b[i] == b';' || split_commas => (None, i + 1),
            b'\r' if b.get(i + 1) == Some(&b'\n') => (Some('\n'), i + 2),
            b'\r' => (Some('\n'), i + 1),
            _ => {
                i += 1;
                continue;
            }
        };
        cur.push_str(&s[start..i]);
        match text {
            Some(c) => cur.push(c),
            None => {
                items.push(std::mem::take(&mut cur));
                if b[i] == b';' {
                    comps.push(std::mem::replace(&mut items, Vec::with_capacity(1)));
                }
            }
        }
        (start, i) = (next, next);
    }
    cur.push_str(&s[start..]);
    items.push(cur);
    comps.push(items);
    comps
}

/// What [`split_unescape`] gives, joined back (components by `;`, items
/// by `,`), appended to `out` — the same text the split value's
/// [`Property::text`](super::Property::text) would give, without the
/// split. Returns whether any item holds more than whitespace (the split
/// value is not [`is_empty`](super::Value::is_empty)).
pub(super) fn unescape_joined(
    s: &str,
    version: VCardVersion,
    name: &str,
    out: &mut String,
) -> bool {
    let split_commas = version != VCardVersion::V21 || comma_list_in_21(name);
    let has_text = |run: &str| run.chars().any(|c| !c.is_whitespace());
    let mut content = false;
    // As in `split_unescape`: every byte looked at is ASCII.
    let b = s.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        // (the character it stands for, is it a separator, next index)
        let (c, separator, next) = match b[i] {
            b'\\' => match b.get(i + 1) {
                Some(&n @ (b'\\' | b';' | b',')) => (n as char, false, i + 2),
                Some(b'n' | b'N') => ('\n', false, i + 2),
                _ => ('\\', false, i + 1),
            },
            b';' => (';', true, i + 1),
            b',' if split_commas => (',', true, i + 1),
            b'\r' if b.get(i + 1) == Some(&b'\n') => ('\n', false, i + 2),
            b'\r' => ('\n', false, i + 1),
            _ => {
                i += 1;
                continue;
            }
        };
        let run = &s[start..i];
        content = content || has_text(run) || (!separator && !c.is_whitespace());
        out.push_str(run);
        out.push(c);
        (start, i) = (next, next);
    }
    let run = &s[start..];
    content = content || has_text(run);
    out.push_str(run);
    content
}

/// Escape one item for a text value. `\n` in 3.0/4.0; in 2.1 newlines stay
/// raw (the caller then uses quoted-printable).
pub(super) fn escape_item(s: &str, version: VCardVersion, name: &str, out: &mut String) {
    let commas = version != VCardVersion::V21 || comma_list_in_21(name);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' if commas => out.push_str("\\,"),
            '\r' => {}
            '\n' if version != VCardVersion::V21 => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Join components and items back into an escaped value.
pub(super) fn join_escaped(comps: &[Vec<String>], version: VCardVersion, name: &str) -> String {
    let mut out = String::new();
    join_with(comps, &mut out, |item, out| {
        escape_item(item, version, name, out)
    });
    out
}

/// Components joined by `;`, their items by `,`, each item written by
/// `item` (escaped for a writer, as is for comparison).
pub(super) fn join_with(
    comps: &[Vec<String>],
    out: &mut String,
    mut item: impl FnMut(&str, &mut String),
) {
    for (i, items) in comps.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        for (j, it) in items.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            item(it, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qp_round_trip() {
        let s = "Grüße =\nzwei ";
        let enc: String = qp_tokens(s).concat();
        assert_eq!(enc, "Gr=C3=BC=C3=9Fe =3D=0D=0Azwei=20");
        let dec = qp_decode(enc.as_bytes());
        assert_eq!(String::from_utf8_lossy(&dec), "Grüße =\r\nzwei ");
        assert_eq!(qp_decode(b"a=ZZb="), b"a=ZZb=");
    }

    #[test]
    fn charsets() {
        assert_eq!(decode_charset(b"M\xfcller", None, false), "Müller");
        assert_eq!(
            decode_charset(b"M\xfcller", Some("ISO-8859-1"), true),
            "Müller"
        );
        assert_eq!(
            decode_charset(b"\xd5\xc5\xc8\xfd", Some("GBK"), true),
            "张三"
        );
        // Already UTF-8 (decoded by the XML layer) despite the label.
        assert_eq!(
            decode_charset("Müller".as_bytes(), Some("ISO-8859-1"), false),
            "Müller"
        );
    }

    /// The unescaper as first written (char by char): the run-copying
    /// one must agree with it.
    fn reference_split(s: &str, version: VCardVersion, name: &str) -> Vec<Vec<String>> {
        let split_commas = version != VCardVersion::V21 || comma_list_in_21(name);
        let mut comps: Vec<Vec<String>> = vec![vec![String::new()]];
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            let Some(cur) = comps.last_mut().and_then(|items| items.last_mut()) else {
                break;
            };
            match c {
                '\\' => match chars.peek().copied() {
                    Some(n @ ('\\' | ';' | ',')) => {
                        cur.push(n);
                        chars.next();
                    }
                    Some('n' | 'N') => {
                        cur.push('\n');
                        chars.next();
                    }
                    _ => cur.push('\\'),
                },
                ';' => comps.push(vec![String::new()]),
                ',' if split_commas => {
                    if let Some(items) = comps.last_mut() {
                        items.push(String::new());
                    }
                }
                '\r' => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    cur.push('\n');
                }
                c => cur.push(c),
            }
        }
        comps
    }

    proptest::proptest! {
        /// The run-copying unescaper agrees with the char-by-char one, and
        /// the joined unescape (content comparison) with the split value
        /// joined back.
        #[test]
        fn unescaping_agrees_with_the_reference_split_and_joined(
            s in "[a\\\\;,\r\nnNü山 \t]{0,24}",
            v21 in proptest::bool::ANY,
            name in proptest::sample::select(vec!["NOTE", "CATEGORIES", "ADR"]),
        ) {
            let version = if v21 { VCardVersion::V21 } else { VCardVersion::V30 };
            let split = split_unescape(&s, version, name);
            proptest::prop_assert_eq!(&split, &reference_split(&s, version, name));
            let value = super::super::Value::Text(split.clone());
            let mut joined = String::from("prefix:");
            let content = unescape_joined(&s, version, name, &mut joined);
            let want: Vec<String> = split.iter().map(|items| items.join(",")).collect();
            proptest::prop_assert_eq!(joined, format!("prefix:{}", want.join(";")));
            proptest::prop_assert_eq!(content, !value.is_empty());
        }
    }

    #[test]
    fn escapes_per_version() {
        let v = split_unescape("a\\;b;c,d\\,e\\nf\\x", VCardVersion::V30, "NOTE");
        assert_eq!(
            v,
            vec![vec!["a;b".to_owned()], vec!["c".into(), "d,e\nf\\x".into()]]
        );
        let v = split_unescape("a,b;c", VCardVersion::V21, "ADR");
        assert_eq!(v, vec![vec!["a,b".to_owned()], vec!["c".to_owned()]]);
        assert_eq!(join_escaped(&v, VCardVersion::V30, "ADR"), "a\\,b;c");
        assert_eq!(join_escaped(&v, VCardVersion::V21, "ADR"), "a,b;c");
    }
}
