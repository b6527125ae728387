//! Physical lines → logical content lines.
//!
//! This is where the three versions differ most (vcard-notes.md §2):
//! * line ends may be CRLF, bare LF (XML parsers normalise CRLF inside
//!   `<Data>`) or bare CR;
//! * 3.0/4.0 unfold CRLF + one space/tab by dropping both; 2.1 folds only
//!   where whitespace already was, so unfolding drops the line end only;
//! * a QUOTED-PRINTABLE value continues after a soft break (`=` at the end
//!   of a line) with the next line taken verbatim;
//! * a 2.1 BASE64 value may run over unindented lines and ends at a blank
//!   line;
//! * a line with no `:` inside a card is text that a sloppy writer broke
//!   with a raw newline: it continues the previous value.

use std::borrow::Cow;

use super::VCardVersion;
use crate::contacts::error::VCardError;

/// One unfolded content line and the physical line it started on (1-based).
/// Borrowed from the input unless unfolding had to join lines.
#[derive(Debug)]
pub(super) struct Logical<'a> {
    pub line: usize,
    pub bytes: Cow<'a, [u8]>,
}

/// Split `data` into physical lines on CRLF, LF or CR.
fn physical(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(data.len() / 32 + 4);
    let mut start = 0;
    let mut from = 0;
    while let Some(at) = memchr::memchr2(b'\r', b'\n', &data[from..]) {
        let i = from + at;
        out.push(&data[start..i]);
        let crlf = data[i] == b'\r' && data.get(i + 1) == Some(&b'\n');
        start = i + if crlf { 2 } else { 1 };
        from = start;
    }
    if start < data.len() {
        out.push(&data[start..]);
    }
    out
}

fn starts_with_ci(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| *b == b' ' || *b == b'\t')
}

fn is_base64_text(line: &[u8]) -> bool {
    !is_blank(line)
        && line
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b' ' | b'\t'))
}

/// The part of a content line before its first `:` outside quotes.
pub(super) fn header_end(bytes: &[u8]) -> Option<usize> {
    // Headers are short: a plain loop is as fast as memchr here (measured).
    let mut quoted = false;
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b':' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// How the value of a content line is transfer-encoded, from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transfer {
    Plain,
    QuotedPrintable,
    Base64,
}

fn transfer(bytes: &[u8]) -> Transfer {
    let Some(end) = header_end(bytes) else {
        return Transfer::Plain;
    };
    // Parameter values are compared whole: `ENCODING=B`, bare `BASE64`.
    let mut t = Transfer::Plain;
    for part in bytes[..end].split(|b| *b == b';').skip(1) {
        let (name, v) = match part.iter().position(|b| *b == b'=') {
            Some(eq) => (trim(&part[..eq]), trim(&part[eq + 1..])),
            None => (&b"ENCODING"[..], trim(part)),
        };
        if !name.eq_ignore_ascii_case(b"ENCODING") {
            continue;
        }
        if v.eq_ignore_ascii_case(b"QUOTED-PRINTABLE") {
            t = Transfer::QuotedPrintable;
        } else if v.eq_ignore_ascii_case(b"BASE64") || v.eq_ignore_ascii_case(b"B") {
            t = Transfer::Base64;
        }
    }
    t
}

/// The VERSION of the card, looked up before unfolding because folding
/// rules depend on it. Unknown → 3.0.
pub(super) fn sniff_version(lines: &[&[u8]]) -> VCardVersion {
    for l in lines {
        if starts_with_ci(l, b"VERSION:") {
            let v = String::from_utf8_lossy(&l[8..]);
            return VCardVersion::from_version_value(&v);
        }
    }
    VCardVersion::V30
}

/// The content lines between BEGIN:VCARD and END:VCARD (both excluded),
/// unfolded, and the card's version.
pub(super) fn logical_lines(data: &[u8]) -> Result<(VCardVersion, Vec<Logical<'_>>), VCardError> {
    let phys = physical(data);
    let begin = phys
        .iter()
        .position(|l| starts_with_ci(trim_start(l), b"BEGIN:VCARD"))
        .ok_or(VCardError::MissingBegin)?;
    let body = &phys[begin + 1..];
    let version = sniff_version(body);
    let v21 = version == VCardVersion::V21;

    let mut out: Vec<Logical> = Vec::with_capacity(body.len());
    let mut cur: Option<Logical> = None;
    // The transfer encoding of `cur`, once its header is complete.
    let mut cur_transfer: Option<Transfer> = None;
    let mut ended = false;
    for (k, &l) in body.iter().enumerate() {
        let lineno = begin + k + 2;
        let is_end = trim(l).eq_ignore_ascii_case(b"END:VCARD");
        if let Some(c) = cur.as_mut() {
            let t = match cur_transfer {
                Some(t) => t,
                None => {
                    let t = transfer(&c.bytes);
                    if header_end(&c.bytes).is_some() {
                        cur_transfer = Some(t);
                    }
                    t
                }
            };
            // A soft line break: the value goes on verbatim on this line.
            if t == Transfer::QuotedPrintable && c.bytes.last() == Some(&b'=') && !is_end {
                let b = c.bytes.to_mut();
                b.pop();
                b.extend_from_slice(l);
                continue;
            }
            // In 2.1 a blank line ends a value (BASE64); in 3.0/4.0 a
            // folded line may hold nothing but the blank it continues with.
            if matches!(l.first(), Some(b' ' | b'\t')) && (!v21 || !is_blank(l)) {
                let rest = if v21 { l } else { &l[1..] };
                c.bytes.to_mut().extend_from_slice(rest);
                continue;
            }
            if t == Transfer::Base64 && is_base64_text(l) {
                c.bytes.to_mut().extend_from_slice(l);
                continue;
            }
            if !is_blank(l) && !is_end && !starts_property(body, k, v21) {
                let b = c.bytes.to_mut();
                b.push(b'\n');
                b.extend_from_slice(l);
                continue;
            }
        }
        if let Some(c) = cur.take() {
            out.push(c);
        }
        if is_end {
            ended = true;
            break;
        }
        if is_blank(l) {
            continue;
        }
        if starts_with_ci(l, b"BEGIN:VCARD") {
            return Err(VCardError::Nested);
        }
        cur_transfer = None;
        cur = Some(Logical {
            line: lineno,
            bytes: Cow::Borrowed(l),
        });
    }
    if !ended {
        return Err(VCardError::MissingEnd);
    }
    Ok((version, out))
}

/// Does physical line `k` start a property, i.e. have a `:` outside quotes
/// once the folded lines after it are joined?
fn starts_property(body: &[&[u8]], k: usize, v21: bool) -> bool {
    if header_end(body[k]).is_some() {
        return true;
    }
    let mut joined = body[k].to_vec();
    for l in &body[k + 1..] {
        if !matches!(l.first(), Some(b' ' | b'\t')) {
            break;
        }
        joined.extend_from_slice(if v21 { l } else { &l[1..] });
        if header_end(&joined).is_some() {
            return true;
        }
    }
    false
}

fn trim(l: &[u8]) -> &[u8] {
    let t = trim_start(l);
    let n = t
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_whitespace())
        .count();
    &t[..t.len() - n]
}

fn trim_start(l: &[u8]) -> &[u8] {
    let n = l.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &l[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(data: &str) -> Vec<String> {
        let (_, l) = logical_lines(data.as_bytes()).unwrap_or((VCardVersion::V30, vec![]));
        l.into_iter()
            .map(|l| String::from_utf8_lossy(&l.bytes).into_owned())
            .collect()
    }

    #[test]
    fn line_ends_of_every_kind() {
        let t = texts("BEGIN:VCARD\rVERSION:3.0\nFN:A\r\nN:B;C\rEND:VCARD");
        assert_eq!(t, ["VERSION:3.0", "FN:A", "N:B;C"]);
    }

    #[test]
    fn folding_depends_on_version() {
        let t = texts("BEGIN:VCARD\nVERSION:3.0\nNOTE:ab\n cd\nEND:VCARD\n");
        assert_eq!(t[1], "NOTE:abcd");
        let t = texts("BEGIN:VCARD\nVERSION:2.1\nNOTE:ab\n cd\nEND:VCARD\n");
        assert_eq!(t[1], "NOTE:ab cd");
    }

    #[test]
    fn qp_soft_breaks_and_base64_blocks() {
        let t = texts(
            "BEGIN:VCARD\r\nVERSION:2.1\r\nNOTE;ENCODING=QUOTED-PRINTABLE:a=\r\n b=\r\nc\r\n\
             PHOTO;ENCODING=BASE64;TYPE=JPEG:AAAA\r\nBBBB\r\n  CCCC\r\n\r\nTEL:1\r\nEND:VCARD\r\n",
        );
        assert_eq!(t[1], "NOTE;ENCODING=QUOTED-PRINTABLE:a bc");
        assert_eq!(t[2], "PHOTO;ENCODING=BASE64;TYPE=JPEG:AAAABBBB  CCCC");
        assert_eq!(t[3], "TEL:1");
    }

    #[test]
    fn missing_frame_is_an_error() {
        assert_eq!(
            logical_lines(b"FN:x\n").err(),
            Some(VCardError::MissingBegin)
        );
        assert_eq!(
            logical_lines(b"BEGIN:VCARD\nFN:x\n").err(),
            Some(VCardError::MissingEnd)
        );
    }
}
