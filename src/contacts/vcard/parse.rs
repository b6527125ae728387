//! Content lines → [`Card`] (or, for content comparison, → [`Line`]s
//! whose values are decoded but not yet split into components).

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

/// One content line as [`parse`] reads it, before its value is split: the
/// same checks, the same parameters, the same decoded value.
pub(super) struct Line<'a> {
    pub group: Option<String>,
    pub name: String,
    pub params: Vec<Param>,
    pub value: RawValue<'a>,
}

impl Line<'_> {
    fn into_property(self, version: VCardVersion) -> Property {
        let value = match self.value {
            RawValue::Binary(b) => Value::Binary(b),
            RawValue::Escaped(s) => Value::Text(split_unescape(&s, version, &self.name)),
        };
        Property {
            group: self.group,
            name: self.name,
            params: self.params,
            value,
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

fn unquote(s: &str) -> String {
    let t = s.trim();
    t.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(t)
        .to_owned()
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What the transfer parameters say.
#[derive(Default)]
struct Transfer {
    qp: bool,
    base64: bool,
    charset: Option<String>,
    /// The ENCODING parameter as written, kept if the value turns out not
    /// to be what it claims (so nothing is lost).
    encoding_param: Option<Param>,
}

fn line(bytes: &[u8], line: usize, version: VCardVersion) -> Result<Option<Line<'_>>, VCardError> {
    // The splitter only yields lines with a ':' (others continue a value).
    let Some(colon) = header_end(bytes) else {
        return Err(VCardError::MissingName { line });
    };
    let header = String::from_utf8_lossy(&bytes[..colon]);
    let raw_value = &bytes[colon + 1..];
    let mut parts = split_unquoted(&header, b';');
    let full_name = parts.next().unwrap_or("").trim();
    let dot = full_name.bytes().rposition(|b| b == b'.');
    let (group, name) = match dot.and_then(|d| Some((full_name.get(..d)?, full_name.get(d + 1..)?)))
    {
        Some((g, n)) => (Some(g.to_owned()), n),
        None => (None, full_name),
    };
    if name.is_empty() {
        return Err(VCardError::MissingName { line });
    }
    let group_ok = group
        .as_deref()
        .is_none_or(|g| g.split('.').all(valid_name));
    if !valid_name(name) || !group_ok {
        return Err(VCardError::InvalidName {
            line,
            name: full_name.to_owned(),
        });
    }
    let name = name.to_ascii_uppercase();
    if matches!(name.as_str(), "VERSION" | "BEGIN" | "END") {
        return Ok(None);
    }

    let mut t = Transfer::default();
    let mut params: Vec<Param> = Vec::new();
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (pname, values) = match part.split_once('=') {
            Some((n, v)) => (
                param_name(n),
                split_unquoted(v, b',').map(unquote).collect(),
            ),
            None => bare_param(part),
        };
        if pname.is_empty() {
            // `;=x`, `;"":x`: no name to keep it under.
            continue;
        }
        match pname.as_str() {
            "ENCODING" => {
                let is = |w: &str| values.first().is_some_and(|v| v.eq_ignore_ascii_case(w));
                if is("QUOTED-PRINTABLE") {
                    t.qp = true;
                } else if is("BASE64") || is("B") {
                    t.base64 = true;
                } else if !is("8BIT") && !is("7BIT") {
                    // Unknown encoding: keep it as a parameter.
                    params.push(Param {
                        name: pname,
                        values,
                    });
                    continue;
                }
                t.encoding_param = Some(Param {
                    name: pname,
                    values,
                });
            }
            "CHARSET" => t.charset = values.into_iter().next(),
            _ => params.push(Param {
                name: pname,
                values,
            }),
        }
    }

    let value = decode_value(raw_value, &name, version, &t, &mut params);
    Ok(Some(Line {
        group,
        name,
        params,
        value,
    }))
}

/// A parameter name as we keep it: upper case, token characters only
/// (anything else could not be written back unambiguously).
fn param_name(n: &str) -> String {
    n.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A parameter without `=`: 2.1 type words (`CELL`), encodings and charsets
/// written bare by sloppy writers.
fn bare_param(word: &str) -> (String, Vec<String>) {
    let encoding = ["QUOTED-PRINTABLE", "BASE64", "8BIT", "7BIT"]
        .iter()
        .any(|e| word.eq_ignore_ascii_case(e));
    if encoding {
        ("ENCODING".into(), vec![word.to_ascii_uppercase()])
    } else {
        ("TYPE".into(), vec![unquote(word)])
    }
}

fn decode_value<'a>(
    raw: &'a [u8],
    name: &str,
    version: VCardVersion,
    t: &Transfer,
    params: &mut Vec<Param>,
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
                params.extend(t.encoding_param.clone());
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
fn data_uri(raw: &[u8], params: &mut Vec<Param>) -> Option<Vec<u8>> {
    let s = std::str::from_utf8(raw).ok()?.trim();
    let rest = s.get(..5)?.eq_ignore_ascii_case("data:").then(|| &s[5..])?;
    let (meta, payload) = rest.split_once(',')?;
    let media = meta.strip_suffix(";base64")?;
    let bytes = base64_decode(payload.as_bytes())?;
    let sub = media.rsplit('/').next().unwrap_or("").to_ascii_uppercase();
    if !sub.is_empty() && !params.iter().any(|p| p.name == "TYPE") {
        params.push(Param {
            name: "TYPE".into(),
            values: vec![sub],
        });
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
