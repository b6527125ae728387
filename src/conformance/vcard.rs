//! vCards compared by content, not by bytes.
//!
//! A server re-encodes what it stores: SyncEvolution adds `PRODID`, a
//! constant `REV` and a dozen empty properties, turns a 2.1 card into 3.0
//! (quoted-printable into `\n` escapes, bare `TEL;CELL` into `TYPE=CELL`),
//! re-folds long lines and re-escapes commas. A [`Card`] keeps only the data:
//! properties by upper-case name without group, their parameters normalised
//! and sorted, their values decoded (QP, charset, escapes, base64 whitespace),
//! so two cards are equal when they say the same thing about a person.
//! (The same normalisation as `tests/common/vcards.rs`, grown to cover 2.1
//! and 3.0 encodings of one value.)

use std::fmt;

/// Properties that differ between peers for reasons that are not data.
const IGNORED: &[&str] = &["VERSION", "PRODID", "REV", "UID", "X-EVOLUTION-FILE-AS"];
/// Properties whose value is `;`-separated components (trailing empty ones
/// are insignificant: `N:Doe;John;;;` is `N:Doe;John`).
const STRUCTURED: &[&str] = &["N", "ADR", "ORG", "GEO"];
/// Properties with binary values (base64: whitespace is not data).
const BINARY: &[&str] = &["PHOTO", "LOGO", "SOUND", "KEY"];
/// Properties holding an ISO 8601 date (`2001-02-03` is `20010203`).
const DATES: &[&str] = &[
    "BDAY",
    "ANNIVERSARY",
    "DEATHDATE",
    "X-ANNIVERSARY",
    "X-EVOLUTION-ANNIVERSARY",
];

/// One normalised property.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prop {
    pub name: String,
    /// (NAME, value), upper-case names and TYPE values, sorted, deduplicated;
    /// encoding artefacts (CHARSET=UTF-8, ENCODING) are dropped.
    pub params: Vec<(String, String)>,
    pub value: String,
}

/// A normalised vCard: its properties, sorted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Card {
    pub props: Vec<Prop>,
}

impl Card {
    /// The first vCard in `text` (an item holds one).
    pub fn parse(text: &str) -> Option<Card> {
        Card::parse_all(text).into_iter().next()
    }

    /// Every `BEGIN:VCARD … END:VCARD` in `text`.
    pub fn parse_all(text: &str) -> Vec<Card> {
        let mut cards = Vec::new();
        let mut current: Option<Vec<Prop>> = None;
        for line in unfold(text) {
            let upper = line.trim().to_ascii_uppercase();
            if upper == "BEGIN:VCARD" {
                current = Some(Vec::new());
            } else if upper == "END:VCARD" {
                if let Some(mut props) = current.take() {
                    props.sort();
                    props.dedup();
                    cards.push(Card { props });
                }
            } else if let Some(props) = current.as_mut()
                && let Some(p) = parse_prop(&line)
            {
                props.push(p);
            }
        }
        cards
    }

    /// The FN value ("" if none).
    pub fn fn_value(&self) -> &str {
        self.get("FN").unwrap_or("")
    }

    /// The value of the first property called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_str())
    }

    /// What `got` lacks of `self` and has in addition, one line each, for
    /// failure details. Only properties whose name `keep` accepts count.
    pub fn diff(&self, got: &Card, keep: &dyn Fn(&str) -> bool) -> Vec<String> {
        let mut out = self.lost(got, keep);
        out.extend(
            got.lost(self, keep)
                .into_iter()
                .map(|l| l.replacen("lost", "gained", 1)),
        );
        out
    }

    /// Properties of `self` that `got` lacks ("lost NAME:value").
    pub fn lost(&self, got: &Card, keep: &dyn Fn(&str) -> bool) -> Vec<String> {
        self.props
            .iter()
            .filter(|p| keep(&p.name) && !got.props.contains(p))
            .map(|p| format!("lost {}", short(p)))
            .collect()
    }
}

/// `NAME;K=V:value`, the value cut to 60 characters.
fn short(p: &Prop) -> String {
    let mut s = p.to_string();
    if s.chars().count() > 70 {
        s = s.chars().take(70).collect::<String>() + "…";
    }
    s.replace('\n', "\\n")
}

impl fmt::Display for Prop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (k, v) in &self.params {
            write!(f, ";{k}={v}")?;
        }
        write!(f, ":{}", self.value)
    }
}

/// Undo folding (line end + space/tab) and QP soft breaks (`=` at the end
/// of a quoted-printable line), accepting CRLF, LF and CR line ends.
fn unfold(text: &str) -> Vec<String> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut lines: Vec<String> = Vec::new();
    let mut qp_continues = false;
    for raw in text.split('\n') {
        if qp_continues && let Some(last) = lines.last_mut() {
            last.pop(); // the soft-break `=`
            last.push_str(raw);
        } else if let Some(rest) = raw.strip_prefix([' ', '\t'])
            && let Some(last) = lines.last_mut()
        {
            last.push_str(rest);
        } else {
            lines.push(raw.to_owned());
        }
        qp_continues = lines.last().is_some_and(|l| {
            let head = l.split(':').next().unwrap_or("").to_ascii_uppercase();
            head.contains("QUOTED-PRINTABLE") && l.ends_with('=')
        });
    }
    lines.retain(|l| !l.trim().is_empty());
    lines
}

/// `group.NAME;params:value` normalised; `None` for lines without data.
fn parse_prop(line: &str) -> Option<Prop> {
    let colon = find_unquoted(line, ':')?;
    let (head, raw_value) = (&line[..colon], &line[colon + 1..]);
    let mut parts = split_unquoted(head, ';').into_iter();
    let full_name = parts.next()?;
    let name = full_name
        .rsplit('.')
        .next()
        .unwrap_or(&full_name)
        .trim()
        .to_ascii_uppercase();
    if name.is_empty() || IGNORED.contains(&name.as_str()) {
        return None;
    }
    let mut params = Vec::new();
    let mut qp = false;
    let mut latin1 = false;
    for p in parts {
        let (k, v) = match p.split_once('=') {
            Some((k, v)) => (
                k.trim().to_ascii_uppercase(),
                v.trim().trim_matches('"').to_owned(),
            ),
            // vCard 2.1 bare parameter: `TEL;CELL` means TYPE=CELL.
            None => ("TYPE".to_owned(), p.trim().to_owned()),
        };
        match k.as_str() {
            "ENCODING" => qp |= v.eq_ignore_ascii_case("QUOTED-PRINTABLE"),
            "CHARSET" => latin1 = v.eq_ignore_ascii_case("ISO-8859-1"),
            "TYPE" => {
                for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    let t = t.to_ascii_uppercase();
                    // `image/jpeg` and `JPEG` name the same photo type.
                    let t = t.strip_prefix("IMAGE/").map(str::to_owned).unwrap_or(t);
                    params.push(("TYPE".to_owned(), t));
                }
            }
            // Value types are implied by the property (binary photo, text,
            // a date).
            "VALUE"
                if ["binary", "text", "date"]
                    .iter()
                    .any(|t| v.eq_ignore_ascii_case(t)) => {}
            _ => params.push((k, v)),
        }
    }
    params.sort();
    params.dedup();

    let decoded = if qp {
        decode_qp(raw_value, latin1)
    } else {
        raw_value.to_owned()
    };
    let value = if BINARY.contains(&name.as_str()) {
        decoded.chars().filter(|c| !c.is_whitespace()).collect()
    } else if STRUCTURED.contains(&name.as_str()) {
        let mut comps: Vec<String> = split_escaped(&decoded, ';')
            .iter()
            .map(|c| unescape(c).trim().to_owned())
            .collect();
        while comps.last().is_some_and(|c| c.is_empty()) {
            comps.pop();
        }
        comps.join(";")
    } else {
        unescape(&decoded)
    };
    let mut value = value.replace("\r\n", "\n").trim_end().to_owned();
    if DATES.contains(&name.as_str()) {
        value = basic_date(&value);
    }
    if value
        .chars()
        .all(|c| c == ';' || c == ',' || c.is_whitespace())
    {
        // `TITLE:`, `ADR:;;;;;;` are how some servers write "nothing".
        return None;
    }
    Some(Prop {
        name,
        params,
        value,
    })
}

/// `2001-02-03…` in ISO 8601 basic form (`20010203…`); other text as is.
fn basic_date(v: &str) -> String {
    let b = v.as_bytes();
    let extended = b.len() >= 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0, 1, 2, 3, 5, 6, 8, 9]
            .iter()
            .all(|&i| b[i].is_ascii_digit());
    if extended {
        format!("{}{}{}", &v[..4], &v[5..7], &v[8..])
    } else {
        v.to_owned()
    }
}

/// Text escapes: 3.0 `\n \N \, \; \\`; 2.1 only knows `\;` (and servers
/// converting 3.0 to 2.1 sometimes keep `\,`), so the same rules apply.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other @ (',' | ';' | '\\' | ':')) => out.push(other),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Split on `sep` not preceded by a backslash (escapes are kept).
fn split_escaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut escaped = false;
    for c in s.chars() {
        if c == sep && !escaped {
            out.push(String::new());
            continue;
        }
        escaped = c == '\\' && !escaped;
        if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}

fn decode_qp(s: &str, latin1: bool) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|&b| hex(b)),
            bytes.get(i + 2).and_then(|&b| hex(b)),
        ) {
            (b'=', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    if latin1 {
        out.iter().map(|&b| b as char).collect()
    } else {
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn find_unquoted(s: &str, ch: char) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == ch && !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn split_unquoted(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = find_unquoted(rest, sep) {
        out.push(rest[..i].to_owned());
        rest = &rest[i + sep.len_utf8()..];
    }
    out.push(rest.to_owned());
    out
}

/// Cards as a multiset: what `want` has that `have` lacks (by content).
pub fn missing<'a>(want: &'a [Card], have: &[Card]) -> Vec<&'a Card> {
    let mut pool: Vec<&Card> = have.iter().collect();
    let mut out = Vec::new();
    for c in want {
        match pool.iter().position(|h| *h == c) {
            Some(i) => {
                pool.swap_remove(i);
            }
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v21_quoted_printable_equals_v30_escapes() {
        let v21 = "BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=BCrgen\r\nFN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:J=C3=BCrgen M=C3=BCller\r\nTEL;CELL;VOICE:+49 1\r\nNOTE;ENCODING=QUOTED-PRINTABLE:first=0D=0Asecond, =\r\nthird\r\nEND:VCARD\r\n";
        let v30 = "BEGIN:VCARD\nVERSION:3.0\nPRODID:-//x\nFN:Jürgen Müller\nN:Müller;Jürgen;;;\nTEL;TYPE=VOICE,CELL:+49 1\nNOTE:first\\nsecond\\, \n third\nTITLE:\nEND:VCARD\n";
        assert_eq!(Card::parse(v21), Card::parse(v30));
    }

    #[test]
    fn photo_whitespace_and_type_spelling_do_not_matter() {
        let a = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:P\r\nPHOTO;ENCODING=b;TYPE=JPEG:QUJD\r\n REVG\r\nEND:VCARD\r\n";
        let b = "BEGIN:VCARD\r\nVERSION:2.1\r\nFN:P\r\nPHOTO;ENCODING=BASE64;TYPE=image/jpeg:\r\n QUJDREVG\r\n\r\nEND:VCARD\r\n";
        assert_eq!(Card::parse(a), Card::parse(b));
    }

    #[test]
    fn different_data_differs_and_diff_names_it() {
        let a = Card::parse("BEGIN:VCARD\nFN:A\nTEL:1\nEND:VCARD\n").unwrap_or_default();
        let b = Card::parse("BEGIN:VCARD\nFN:A\nTEL:2\nEND:VCARD\n").unwrap_or_default();
        assert_ne!(a, b);
        assert_eq!(a.diff(&b, &|_| true), vec!["lost TEL:1", "gained TEL:2"]);
        assert!(a.diff(&b, &|n| n != "TEL").is_empty());
    }

    #[test]
    fn dates_in_basic_and_extended_form_are_equal() {
        let a = Card::parse("BEGIN:VCARD\nFN:A\nBDAY:1980-04-05\nEND:VCARD\n");
        let b = Card::parse("BEGIN:VCARD\nFN:A\nBDAY;VALUE=date:19800405\nEND:VCARD\n");
        assert_eq!(a, b);
    }

    #[test]
    fn multiset_difference() {
        let a = Card::parse("BEGIN:VCARD\nFN:A\nEND:VCARD\n").unwrap_or_default();
        let b = Card::parse("BEGIN:VCARD\nFN:B\nEND:VCARD\n").unwrap_or_default();
        let want = vec![a.clone(), a.clone(), b.clone()];
        assert_eq!(missing(&want, &[a.clone(), b.clone()]), vec![&a]);
        assert!(missing(&want, &[b, a.clone(), a]).is_empty());
    }
}
