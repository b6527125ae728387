//! Content lines → [`Card`] (or, for content comparison, → [`Line`]s
//! whose values are decoded but not yet split into components).
//!
//! A [`Line`] borrows its group, name, parameters and value from the card's
//! text wherever no decoding changed them: comparing a card by content
//! (every card of a slow sync) then allocates little more than its
//! decoded values. [`parse`] turns each line into an owned [`Property`].

use std::borrow::Cow;

use super::lines::{header_end, logical_lines};
use super::text::{base64_decode, decode_charset, qp_decode, split_unescape};
use super::{Card, Param, Property, VCardVersion, Value};
use crate::contacts::error::VCardError;

/// Properties whose inline BASE64/b values are binary data.
pub(super) fn is_binary_prop(name: &str) -> bool {
    matches!(name, "PHOTO" | "LOGO" | "SOUND" | "KEY")
}

pub(super) fn parse(data: &[u8]) -> Result<Card, VCardError> {
    let (version, lines) = logical_lines(data)?;
    let mut card = Card::new(version);
    card.props.reserve(lines.len());
    for l in lines {
        if let Some(p) = line(&l.bytes, l.line, version)? {
            card.props.push(p.into_property(version));
        }
    }
    Ok(card)
}

/// A property's value with its transfer encoding and charset undone, but
/// its text not yet split into components (still escaped).
pub(super) enum RawValue<'a> {
    Binary(Vec<u8>),
    Escaped(Cow<'a, str>),
}

/// A parameter as [`line`] reads it: the name upper-cased (token
/// characters only), the values read from the header on demand.
#[derive(Clone)]
pub(super) struct RawParam<'a> {
    pub name: Cow<'a, str>,
    values: RawValues<'a>,
}

#[derive(Clone)]
enum RawValues<'a> {
    /// The text after `=`: values separated by `,` outside quotes, each
    /// trimmed and unquoted as it is read.
    List(Cow<'a, str>),
    /// A single value (a 2.1 bare word, a data URI's media type).
    One(Cow<'a, str>),
}

impl<'a> RawParam<'a> {
    fn one(name: &'static str, value: Cow<'a, str>) -> RawParam<'a> {
        RawParam {
            name: Cow::Borrowed(name),
            values: RawValues::One(value),
        }
    }

    /// The values in order; there is always at least one (`X=` has `""`).
    pub fn values(&self) -> impl Iterator<Item = &str> + '_ {
        let (list, one) = match &self.values {
            RawValues::List(v) => (Some(split_unquoted(v, b',').map(unquote)), None),
            RawValues::One(v) => (None, Some(v.as_ref())),
        };
        list.into_iter().flatten().chain(one)
    }

    fn first_value(self) -> Option<Cow<'a, str>> {
        match self.values {
            RawValues::List(Cow::Borrowed(v)) => split_unquoted(v, b',')
                .map(unquote)
                .next()
                .map(Cow::Borrowed),
            RawValues::List(Cow::Owned(v)) => split_unquoted(&v, b',')
                .map(unquote)
                .next()
                .map(|s| Cow::Owned(s.to_owned())),
            RawValues::One(v) => Some(v),
        }
    }

    fn into_param(self) -> Param {
        Param {
            values: self.values().map(str::to_owned).collect(),
            name: self.name.into_owned(),
        }
    }

    fn into_owned(self) -> RawParam<'static> {
        RawParam {
            name: Cow::Owned(self.name.into_owned()),
            values: match self.values {
                RawValues::List(v) => RawValues::List(Cow::Owned(v.into_owned())),
                RawValues::One(v) => RawValues::One(Cow::Owned(v.into_owned())),
            },
        }
    }
}

/// One content line as [`parse`] reads it, before its value is split: the
/// same checks, the same parameters, the same decoded value.
pub(super) struct Line<'a> {
    pub group: Option<Cow<'a, str>>,
    pub name: Cow<'a, str>,
    pub params: Vec<RawParam<'a>>,
    pub value: RawValue<'a>,
}

impl Line<'_> {
    fn into_property(self, version: VCardVersion) -> Property {
        let value = match self.value {
            RawValue::Binary(b) => Value::Binary(b),
            RawValue::Escaped(s) => Value::Text(split_unescape(&s, version, &self.name)),
        };
        Property {
            group: self.group.map(Cow::into_owned),
            name: self.name.into_owned(),
            params: self.params.into_iter().map(RawParam::into_param).collect(),
            value,
        }
    }

    fn into_owned(self) -> Line<'static> {
        Line {
            group: self.group.map(|g| Cow::Owned(g.into_owned())),
            name: Cow::Owned(self.name.into_owned()),
            params: self.params.into_iter().map(RawParam::into_owned).collect(),
            value: match self.value {
                RawValue::Binary(b) => RawValue::Binary(b),
                RawValue::Escaped(s) => RawValue::Escaped(Cow::Owned(s.into_owned())),
            },
        }
    }
}

/// Every property line of a card, in order, as [`parse`] would read it
/// (it fails where `parse` fails); the card's version.
pub(super) fn for_each_line(
    data: &[u8],
    f: &mut dyn FnMut(Line<'_>, VCardVersion),
) -> Result<VCardVersion, VCardError> {
    let (version, lines) = logical_lines(data)?;
    for l in &lines {
        if let Some(p) = line(&l.bytes, l.line, version)? {
            f(p, version);
        }
    }
    Ok(version)
}

/// Split on `sep` (ASCII) outside double quotes.
fn split_unquoted(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let s = rest?;
        let mut quoted = false;
        // `"` and `sep` are ASCII: their byte positions are char boundaries.
        for (i, &b) in s.as_bytes().iter().enumerate() {
            if b == b'"' {
                quoted = !quoted;
            } else if b == sep && !quoted {
                rest = s.get(i + 1..);
                return s.get(..i);
            }
        }
        rest = None;
        Some(s)
    })
}

fn unquote(s: &str) -> &str {
    let t = s.trim();
    t.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(t)
}

/// `s` in ASCII upper case, borrowed when it already is.
fn upper(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(s.to_ascii_uppercase())
    } else {
        Cow::Borrowed(s)
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What the transfer parameters say.
#[derive(Default)]
struct Transfer<'a> {
    qp: bool,
    base64: bool,
    charset: Option<Cow<'a, str>>,
    /// The ENCODING parameter as written, kept if the value turns out not
    /// to be what it claims (so nothing is lost).
    encoding_param: Option<RawParam<'a>>,
}

fn line(bytes: &[u8], line: usize, version: VCardVersion) -> Result<Option<Line<'_>>, VCardError> {
    // The splitter only yields lines with a ':' (others continue a value).
    let Some(colon) = header_end(bytes) else {
        return Err(VCardError::MissingName { line });
    };
    let raw_value = &bytes[colon + 1..];
    match std::str::from_utf8(&bytes[..colon]) {
        Ok(header) => read_line(header, raw_value, line, version),
        // Rare: a header that is not UTF-8 is read repaired, and the line
        // then owns what it took from the repaired copy.
        Err(_) => {
            let header = String::from_utf8_lossy(&bytes[..colon]).into_owned();
            Ok(read_line(&header, raw_value, line, version)?.map(Line::into_owned))
        }
    }
}

fn read_line<'a>(
    header: &'a str,
    raw_value: &'a [u8],
    line: usize,
    version: VCardVersion,
) -> Result<Option<Line<'a>>, VCardError> {
    let mut parts = split_unquoted(header, b';');
    let full_name = parts.next().unwrap_or("").trim();
    let dot = full_name.bytes().rposition(|b| b == b'.');
    let (group, name) = match dot.and_then(|d| Some((full_name.get(..d)?, full_name.get(d + 1..)?)))
    {
        Some((g, n)) => (Some(g), n),
        None => (None, full_name),
    };
    if name.is_empty() {
        return Err(VCardError::MissingName { line });
    }
    let group_ok = group.is_none_or(|g| g.split('.').all(valid_name));
    if !valid_name(name) || !group_ok {
        return Err(VCardError::InvalidName {
            line,
            name: full_name.to_owned(),
        });
    }
    let name = upper(name);
    if matches!(&*name, "VERSION" | "BEGIN" | "END") {
        return Ok(None);
    }

    let mut t = Transfer::default();
    let mut params: Vec<RawParam> = Vec::new();
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let p = match part.split_once('=') {
            Some((n, v)) => RawParam {
                name: param_name(n),
                values: RawValues::List(Cow::Borrowed(v)),
            },
            None => bare_param(part),
        };
        if p.name.is_empty() {
            // `;=x`, `;"":x`: no name to keep it under.
            continue;
        }
        match &*p.name {
            "ENCODING" => {
                let (qp, base64, known) = {
                    let first = p.values().next();
                    let is = |w: &str| first.is_some_and(|v| v.eq_ignore_ascii_case(w));
                    (
                        is("QUOTED-PRINTABLE"),
                        is("BASE64") || is("B"),
                        is("8BIT") || is("7BIT"),
                    )
                };
                if qp {
                    t.qp = true;
                } else if base64 {
                    t.base64 = true;
                } else if !known {
                    // Unknown encoding: keep it as a parameter.
                    params.push(p);
                    continue;
                }
                t.encoding_param = Some(p);
            }
            "CHARSET" => t.charset = p.first_value(),
            _ => params.push(p),
        }
    }

    let value = decode_value(raw_value, &name, version, t, &mut params);
    Ok(Some(Line {
        group: group.map(Cow::Borrowed),
        name,
        params,
        value,
    }))
}

/// A parameter name as we keep it: upper case, token characters only
/// (anything else could not be written back unambiguously).
fn param_name(n: &str) -> Cow<'_, str> {
    let token = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_');
    if n.chars().all(|c| token(c) && !c.is_ascii_lowercase()) {
        return Cow::Borrowed(n);
    }
    Cow::Owned(
        n.chars()
            .filter(|c| token(*c))
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    )
}

/// A parameter without `=`: 2.1 type words (`CELL`), encodings and charsets
/// written bare by sloppy writers.
fn bare_param(word: &str) -> RawParam<'_> {
    let encoding = ["QUOTED-PRINTABLE", "BASE64", "8BIT", "7BIT"]
        .iter()
        .any(|e| word.eq_ignore_ascii_case(e));
    if encoding {
        RawParam::one("ENCODING", upper(word))
    } else {
        RawParam::one("TYPE", Cow::Borrowed(unquote(word)))
    }
}

fn decode_value<'a>(
    raw: &'a [u8],
    name: &str,
    version: VCardVersion,
    mut t: Transfer<'a>,
    params: &mut Vec<RawParam<'a>>,
) -> RawValue<'a> {
    if t.base64 {
        match base64_decode(raw) {
            Some(bytes) if is_binary_prop(name) => return RawValue::Binary(bytes),
            Some(bytes) => {
                // Base64 over a text property: text in its charset.
                let s = decode_charset(&bytes, t.charset.as_deref(), true);
                return RawValue::Escaped(Cow::Owned(s.into_owned()));
            }
            None => {
                // Not base64 after all: keep the text and the claim.
                params.extend(t.encoding_param.take());
            }
        }
    }
    if version == VCardVersion::V40
        && is_binary_prop(name)
        && let Some(v) = data_uri(raw, params)
    {
        return RawValue::Binary(v);
    }
    if t.qp {
        let qp = qp_decode(raw);
        let s = decode_charset(&qp, t.charset.as_deref(), true).into_owned();
        return RawValue::Escaped(Cow::Owned(s));
    }
    RawValue::Escaped(decode_charset(raw, t.charset.as_deref(), false))
}

/// `data:image/jpeg;base64,…` (4.0 inline binary) → bytes, and the media
/// type as a 3.0-style `TYPE=JPEG` so every version can write it.
fn data_uri(raw: &[u8], params: &mut Vec<RawParam<'_>>) -> Option<Vec<u8>> {
    let s = std::str::from_utf8(raw).ok()?.trim();
    let rest = s.get(..5)?.eq_ignore_ascii_case("data:").then(|| &s[5..])?;
    let (meta, payload) = rest.split_once(',')?;
    let media = meta.strip_suffix(";base64")?;
    let bytes = base64_decode(payload.as_bytes())?;
    let sub = media.rsplit('/').next().unwrap_or("").to_ascii_uppercase();
    if !sub.is_empty() && !params.iter().any(|p| p.name == "TYPE") {
        params.push(RawParam::one("TYPE", Cow::Owned(sub)));
    }
    // MEDIATYPE duplicates what the data URI says.
    params.retain(|p| p.name != "MEDIATYPE");
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(s: &str) -> Card {
        match parse(s.as_bytes()) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn v21_bare_types_qp_and_charsets() {
        let c = card(
            "BEGIN:VCARD\r\nVERSION:2.1\r\n\
             N;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:M=FCller;J=F6rg\r\n\
             FN;CHARSET=GBK;QUOTED-PRINTABLE:=D5=C5=C8=FD\r\n\
             TEL;CELL;HOME:+49 30 1234567\r\n\
             NOTE;ENCODING=QUOTED-PRINTABLE:one=0D=0Atwo=\r\n three\r\n\
             item1.X-ABLabel;X-FOO=bar:Custom\r\nEND:VCARD\r\n",
        );
        assert_eq!(c.version, VCardVersion::V21);
        assert_eq!(c.props[0].value, Value::components(&["Müller", "Jörg"]));
        assert_eq!(c.props[1].text(), "张三");
        assert_eq!(c.props[2].params.len(), 2);
        assert!(c.props[2].has_type("cell") && c.props[2].has_type("HOME"));
        assert_eq!(c.props[3].text(), "one\ntwo three");
        assert_eq!(c.props[4].group.as_deref(), Some("item1"));
        assert_eq!(c.props[4].name, "X-ABLABEL");
        assert_eq!(c.props[4].params, vec![Param::new("X-FOO", &["bar"])]);
    }

    #[test]
    fn photos_in_every_version() {
        let c = card(
            "BEGIN:VCARD\nVERSION:2.1\nPHOTO;ENCODING=BASE64;TYPE=JPEG:/9j/\n 4AA=\n\nTEL:1\nEND:VCARD\n",
        );
        assert_eq!(
            c.props[0].value,
            Value::Binary(vec![0xff, 0xd8, 0xff, 0xe0, 0])
        );
        assert_eq!(c.props[1].text(), "1");
        let c = card("BEGIN:VCARD\nVERSION:4.0\nPHOTO:data:image/png;base64,/9j/4AA=\nEND:VCARD\n");
        assert!(matches!(c.props[0].value, Value::Binary(_)));
        assert!(c.props[0].has_type("PNG"));
    }

    #[test]
    fn broken_base64_is_kept_as_text() {
        let c = card("BEGIN:VCARD\nVERSION:3.0\nPHOTO;ENCODING=b:@@@\nEND:VCARD\n");
        assert_eq!(c.props[0].text(), "@@@");
        assert_eq!(c.props[0].params[0].name, "ENCODING");
    }

    /// A header that is not UTF-8 is read repaired (the line then owns
    /// its parts): regression test for the borrowed line reader.
    #[test]
    fn non_utf8_header_is_repaired_and_owned() {
        let c = match parse(
            b"BEGIN:VCARD\nVERSION:2.1\nitem1.x-note;X-P=caf\xe9;home:Stra\xdfe\nEND:VCARD\n",
        ) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let p = &c.props[0];
        assert_eq!(p.group.as_deref(), Some("item1"));
        assert_eq!(p.name, "X-NOTE");
        assert_eq!(p.params[0], Param::new("X-P", &["caf\u{fffd}"]));
        assert_eq!(p.params[1], Param::new("TYPE", &["home"]));
        // The value falls back to Windows-1252, as any 8-bit 2.1 value.
        assert_eq!(p.text(), "Straße");
    }

    #[test]
    fn bad_names_are_errors() {
        assert!(matches!(
            parse(b"BEGIN:VCARD\n:x\nEND:VCARD\n"),
            Err(VCardError::MissingName { line: 2 })
        ));
        assert!(matches!(
            parse(b"BEGIN:VCARD\nT L:x\nEND:VCARD\n"),
            Err(VCardError::InvalidName { .. })
        ));
    }
}
