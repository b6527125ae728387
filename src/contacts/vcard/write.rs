//! [`Card`] → vCard text in a chosen version (vcard-notes.md §3).
//!
//! * 2.1: bare type words (`TEL;CELL;HOME`), `CHARSET=UTF-8;ENCODING=
//!   QUOTED-PRINTABLE` for non-ASCII or multi-line text, lines < 76 chars
//!   (QP soft breaks, or folding before existing whitespace),
//!   `ENCODING=BASE64` photos on their own lines ending with a blank line.
//! * 3.0: folded at 75 octets (never inside a UTF-8 sequence), `ENCODING=b`,
//!   `\\ \, \; \n` escaped, `TYPE=` lists.
//! * 4.0: like 3.0, binary as `data:` URIs, `PREF=1` instead of `TYPE=PREF`.
//!
//! N and FN are always written (derived when missing) since 3.0 requires
//! both and many phones need N.

use super::text::{base64_encode, join_escaped, qp_tokens};
use super::{Card, Property, VCardVersion, Value};

/// Longest line we write, in octets, without the CRLF.
const MAX_LINE: usize = 75;

/// Write `card` as a vCard of `version`, CRLF line ends.
pub fn write(card: &Card, version: VCardVersion) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("BEGIN:VCARD\r\nVERSION:");
    out.push_str(version.as_str());
    out.push_str("\r\n");
    for p in derived_names(card) {
        property(&p, version, &mut out);
    }
    for p in &card.props {
        if !matches!(p.name.as_str(), "VERSION" | "BEGIN" | "END") {
            property(p, version, &mut out);
        }
    }
    out.push_str("END:VCARD\r\n");
    out
}

/// The N and FN the card lacks, derived from what it has.
fn derived_names(card: &Card) -> Vec<Property> {
    let mut out = Vec::new();
    let n = card.first("N");
    let fn_ = card.first("FN");
    if fn_.is_none() {
        let name = n
            .map(display_name_from_n)
            .filter(|s| !s.is_empty())
            .or_else(|| card.first("ORG").map(|o| o.component(0)))
            .unwrap_or_default();
        out.push(Property::new("FN", Value::text(&name)));
    }
    if n.is_none() {
        let value = match fn_ {
            Some(f) if card.first("ORG").is_none_or(|o| o.component(0) != f.text()) => {
                n_from_display_name(&f.text())
            }
            _ => Value::components(&["", "", "", "", ""]),
        };
        out.push(Property::new("N", value));
    }
    out
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(crate::contacts::normalize::is_cjk)
}

/// "Prefix Given Additional Family Suffix"; CJK names family first, no spaces.
pub(crate) fn display_name_from_n(n: &Property) -> String {
    let c = |i| n.component(i).trim().to_owned();
    let (family, given, additional, prefix, suffix) = (c(0), c(1), c(2), c(3), c(4));
    if has_cjk(&family) || has_cjk(&given) {
        return format!("{family}{given}");
    }
    [prefix, given, additional, family, suffix]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// "Given Family" → N; a name without spaces (or CJK) is all family name.
fn n_from_display_name(name: &str) -> Value {
    let name = name.trim();
    match name.rsplit_once(char::is_whitespace) {
        Some((given, family)) if !has_cjk(name) => {
            Value::components(&[family.trim(), given.trim(), "", "", ""])
        }
        _ => Value::components(&[name, "", "", "", ""]),
    }
}

fn property(p: &Property, version: VCardVersion, out: &mut String) {
    let mut head = String::new();
    if let Some(g) = &p.group {
        head.push_str(g);
        head.push('.');
    }
    head.push_str(&p.name);
    match &p.value {
        Value::Binary(bytes) => binary(p, bytes, version, head, out),
        Value::Text(comps) => {
            let value = join_escaped(comps, version, &p.name);
            match version {
                VCardVersion::V21 => text21(p, &value, head, out),
                _ => {
                    params(p, version, None, &mut head);
                    head.push(':');
                    head.push_str(&value);
                    fold(&head, out);
                }
            }
        }
    }
}

/// Parameters in model order, translated for `version`. `skip_type`: a TYPE
/// value written elsewhere (the media type of a 4.0 data URI).
fn params(p: &Property, version: VCardVersion, skip_type: Option<&str>, head: &mut String) {
    for prm in &p.params {
        match (prm.name.as_str(), version) {
            ("TYPE", _) => {
                let mut vals: Vec<&str> = prm
                    .values
                    .iter()
                    .map(String::as_str)
                    .filter(|v| skip_type.is_none_or(|s| !v.eq_ignore_ascii_case(s)))
                    .collect();
                if version == VCardVersion::V40
                    && vals.iter().any(|v| v.eq_ignore_ascii_case("PREF"))
                {
                    vals.retain(|v| !v.eq_ignore_ascii_case("PREF"));
                    head.push_str(";PREF=1");
                }
                if vals.is_empty() {
                    continue;
                }
                // Media types stay `TYPE=JPEG`, as 2.1 phones write them.
                let bare = version == VCardVersion::V21 && matches!(p.value, Value::Text(_));
                if bare {
                    for v in vals {
                        if is_token(v) && !is_encoding_word(v) {
                            head.push(';');
                            head.push_str(&v.to_ascii_uppercase());
                        } else {
                            push_param(head, "TYPE", &[v]);
                        }
                    }
                } else {
                    push_param(head, "TYPE", &vals);
                }
            }
            // 4.0's PREF=n is TYPE=PREF before 4.0.
            ("PREF", VCardVersion::V21) => head.push_str(";PREF"),
            ("PREF", VCardVersion::V30) => head.push_str(";TYPE=PREF"),
            // A data URI carries the media type and means binary.
            ("MEDIATYPE" | "VALUE", VCardVersion::V40) if skip_type.is_some() => {}
            _ => {
                let vals: Vec<&str> = prm.values.iter().map(String::as_str).collect();
                push_param(head, &prm.name, &vals);
            }
        }
    }
}

/// Bare words a 2.1 reader takes for ENCODING, not TYPE.
fn is_encoding_word(v: &str) -> bool {
    ["QUOTED-PRINTABLE", "BASE64", "8BIT", "7BIT"]
        .iter()
        .any(|w| v.eq_ignore_ascii_case(w))
}

fn is_token(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn push_param(head: &mut String, name: &str, values: &[&str]) {
    head.push(';');
    head.push_str(name);
    head.push('=');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            head.push(',');
        }
        // A double quote cannot be written inside a parameter value in 2.1
        // or 3.0; a line break cannot be written at all.
        let clean: String = v
            .chars()
            .map(|c| match c {
                '"' => '\'',
                '\r' | '\n' => ' ',
                c => c,
            })
            .collect();
        if clean.contains([';', ':', ',']) {
            head.push('"');
            head.push_str(&clean);
            head.push('"');
        } else {
            head.push_str(&clean);
        }
    }
}

fn binary(p: &Property, bytes: &[u8], version: VCardVersion, mut head: String, out: &mut String) {
    let b64 = base64_encode(bytes);
    match version {
        VCardVersion::V21 => {
            head.push_str(";ENCODING=BASE64");
            params(p, version, None, &mut head);
            head.push(':');
            fold(&head, out);
            // Data on following lines, indented, ending with a blank line:
            // what 2.1 phones (Nokia) want.
            for chunk in b64.as_bytes().chunks(72) {
                out.push(' ');
                out.push_str(&String::from_utf8_lossy(chunk));
                out.push_str("\r\n");
            }
            out.push_str("\r\n");
        }
        VCardVersion::V30 => {
            head.push_str(";ENCODING=b");
            params(p, version, None, &mut head);
            head.push(':');
            head.push_str(&b64);
            fold(&head, out);
        }
        VCardVersion::V40 => {
            let media = media_type(p);
            params(p, version, media.as_ref().map(|m| m.1.as_str()), &mut head);
            head.push_str(":data:");
            head.push_str(
                media
                    .as_ref()
                    .map(|m| m.0.as_str())
                    .unwrap_or("application/octet-stream"),
            );
            head.push_str(";base64,");
            head.push_str(&b64);
            fold(&head, out);
        }
    }
}

/// The media type of a binary property from its TYPE (`JPEG`, `image/png`)
/// and the TYPE value it came from.
fn media_type(p: &Property) -> Option<(String, String)> {
    if let Some(m) = p.param_values("MEDIATYPE").next() {
        return Some((m.to_owned(), String::new()));
    }
    let kind = match p.name.as_str() {
        "SOUND" => "audio",
        "KEY" => "application",
        _ => "image",
    };
    p.param_values("TYPE")
        .find(|v| is_token(v) || v.contains('/'))
        .map(|v| {
            let mt = if v.contains('/') {
                v.to_ascii_lowercase()
            } else {
                format!("{kind}/{}", v.to_ascii_lowercase())
            };
            (mt, v.to_owned())
        })
}

/// 2.1 text: plain when it fits, else folded before whitespace, else QP.
fn text21(p: &Property, value: &str, mut head: String, out: &mut String) {
    params(p, VCardVersion::V21, None, &mut head);
    // Folding keeps lines < 76 only at single spaces; runs of blanks
    // could leave a blank continuation line, which ends a 2.1 value.
    let needs_qp = !value.is_ascii()
        || value.contains('\n')
        || value.contains("  ")
        || value.contains('\t')
        || value.ends_with([' ', '\t'])
        || value.starts_with([' ', '\t'])
        || !fold21_possible(head.len() + 1, value);
    if !needs_qp {
        let line = format!("{head}:{value}");
        fold21(&line, out);
        return;
    }
    if !value.is_ascii() {
        head.push_str(";CHARSET=UTF-8");
    }
    head.push_str(";ENCODING=QUOTED-PRINTABLE:");
    // Soft breaks keep every line < 76 including the trailing '='.
    let mut line = head;
    for tok in qp_tokens(value) {
        if line.len() + tok.len() + 1 > MAX_LINE && !line.is_empty() {
            out.push_str(&line);
            out.push_str("=\r\n");
            line.clear();
        }
        // A continuation line must never read as END:VCARD.
        if line.is_empty() && tok == "E" {
            line.push_str("=45");
        } else {
            line.push_str(&tok);
        }
    }
    out.push_str(&line);
    out.push_str("\r\n");
}

/// Can `value`, after a header of `start` octets, be folded before
/// whitespace into lines of at most [`MAX_LINE`]?
fn fold21_possible(start: usize, value: &str) -> bool {
    let mut len = start;
    for (i, word) in value.split(' ').enumerate() {
        let w = word.len() + usize::from(i > 0);
        if len + w > MAX_LINE {
            if i == 0 || w > MAX_LINE {
                return false;
            }
            len = w;
        } else {
            len += w;
        }
    }
    true
}

/// 2.1 folding: a line break inserted before an existing space (which
/// stays, as the continuation's first character).
fn fold21(line: &str, out: &mut String) {
    let mut cur = 0;
    let mut start = 0;
    for (i, word) in line.split(' ').enumerate() {
        let w = word.len() + usize::from(i > 0);
        if i > 0 && cur + w > MAX_LINE {
            out.push_str(&line[start..start + cur]);
            out.push_str("\r\n");
            start += cur;
            cur = 0;
        }
        cur += w;
    }
    out.push_str(&line[start..]);
    out.push_str("\r\n");
}

/// 3.0/4.0 folding at [`MAX_LINE`] octets, at character boundaries.
fn fold(line: &str, out: &mut String) {
    let mut len = 0;
    for c in line.chars() {
        let w = c.len_utf8();
        if len + w > MAX_LINE {
            out.push_str("\r\n ");
            len = 1;
        }
        out.push(c);
        len += w;
    }
    out.push_str("\r\n");
}

// Unused outside tests, but the params of a written card must read back.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts::vcard::{Card, Param};

    fn reparse(s: &str) -> Card {
        match Card::parse(s) {
            Ok(c) => c,
            Err(e) => panic!("{e}: {s}"),
        }
    }

    #[test]
    fn writes_21_like_a_phone_wants_it() {
        let mut c = Card::new(VCardVersion::V30);
        c.props.push(Property::new(
            "N",
            Value::components(&["Müller", "Jörg", "", "", ""]),
        ));
        c.props.push(
            Property::new("TEL", Value::text("+49 30 1")).with_param("TYPE", &["cell", "home"]),
        );
        c.props.push(Property::new(
            "NOTE",
            Value::text(&"long words ".repeat(20)),
        ));
        c.props.push(
            Property::new("PHOTO", Value::Binary(vec![1; 100])).with_param("TYPE", &["JPEG"]),
        );
        let s = write(&c, VCardVersion::V21);
        assert!(
            s.contains("N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=B6rg;;;\r\n"),
            "{s}"
        );
        assert!(s.contains("TEL;CELL;HOME:+49 30 1\r\n"), "{s}");
        assert!(
            s.contains("PHOTO;ENCODING=BASE64;TYPE=JPEG:\r\n AQEB"),
            "{s}"
        );
        assert!(s.contains("\r\n\r\nEND:VCARD"), "{s}");
        assert!(
            s.contains("FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:J=C3=B6rg M=C3=BCller"),
            "{s}"
        );
        assert!(s.lines().all(|l| l.len() < 76), "{s}");
        let back = reparse(&s);
        assert!(
            crate::contacts::canonical::equivalent(&back.props[1..], &c.props),
            "{s}"
        );
    }

    #[test]
    fn writes_30_and_40() {
        let mut c = Card::new(VCardVersion::V21);
        c.props.push(Property::new("FN", Value::text("A, B; C\nD")));
        c.props
            .push(Property::new("TEL", Value::text("1")).with_param("TYPE", &["PREF", "WORK"]));
        c.props
            .push(Property::new("PHOTO", Value::Binary(vec![7; 80])).with_param("TYPE", &["JPEG"]));
        let s3 = write(&c, VCardVersion::V30);
        assert!(s3.contains("FN:A\\, B\\; C\\nD\r\n"), "{s3}");
        assert!(
            s3.contains("N:A\\, B\\; C\\nD;;;;\r\n") || s3.contains("\r\nN:"),
            "{s3}"
        );
        assert!(s3.contains("PHOTO;ENCODING=b;TYPE=JPEG:BwcH"), "{s3}");
        assert!(s3.lines().all(|l| l.len() <= 75), "{s3}");
        let s4 = write(&c, VCardVersion::V40);
        assert!(s4.contains("TEL;PREF=1;TYPE=WORK:1\r\n"), "{s4}");
        assert!(s4.contains("PHOTO:data:image/jpeg;base64,BwcH"), "{s4}");
        let back = reparse(&s4);
        assert_eq!(back.first("PHOTO"), c.first("PHOTO"));
    }

    #[test]
    fn folds_at_utf8_boundaries() {
        let mut c = Card::new(VCardVersion::V30);
        c.props
            .push(Property::new("NOTE", Value::text(&"汉字".repeat(40))));
        let s = write(&c, VCardVersion::V30);
        assert!(s.split("\r\n").all(|l| l.len() <= 75));
        assert_eq!(reparse(&s).first("NOTE"), c.first("NOTE"));
    }

    #[test]
    fn params_survive() {
        let mut c = Card::new(VCardVersion::V30);
        c.props.push(
            Property::new("X-FOO", Value::text("v"))
                .with_param("X-P", &["a:b", "c"])
                .with_param("LANGUAGE", &["de"]),
        );
        for v in [VCardVersion::V21, VCardVersion::V30, VCardVersion::V40] {
            let back = reparse(&write(&c, v));
            assert_eq!(back.first("X-FOO"), c.first("X-FOO"));
        }
        let _ = Param::new("x", &[]);
    }
}
