//! Content equality independent of how a card was written.
//!
//! Two cards have the same content when their properties are equal after
//! decoding (version, transfer encoding, charset, folding, escaping,
//! parameter case and order, property order, groups) and ignoring the
//! properties that differ between peers for reasons that are not data:
//! VERSION, PRODID, REV, UID, X-EVOLUTION-FILE-AS, and empty values.
//! Version-specific spellings of the same parameter agree: `TYPE=PREF` and
//! `PREF=1`, `TYPE=image/jpeg` and `TYPE=JPEG`; the default types
//! `EMAIL;TYPE=INTERNET` and `TEL;TYPE=VOICE` are ignored.

use super::vcard::{Card, Property, Value};

/// Properties that are not contact data.
pub fn is_volatile(name: &str) -> bool {
    matches!(
        name,
        "VERSION" | "PRODID" | "REV" | "UID" | "X-EVOLUTION-FILE-AS"
    )
}

/// A short stable digest of binary data (hex of its MD5; it ends up in
/// stored fingerprints, so it must not change between builds).
pub fn digest(b: &[u8]) -> String {
    use md5::Digest as _;
    format!("{:032x}", u128::from_be_bytes(md5::Md5::digest(b).into()))
}

fn canonical_type(prop: &str, t: &str) -> Option<String> {
    let up = t.trim().to_ascii_uppercase();
    let up = up.strip_prefix("IMAGE/").map(str::to_owned).unwrap_or(up);
    match (prop, up.as_str()) {
        ("EMAIL", "INTERNET") | ("TEL", "VOICE") | (_, "") => None,
        _ => Some(up),
    }
}

/// One property as a canonical line, or `None` if it carries no data.
pub fn line(p: &Property) -> Option<String> {
    if is_volatile(&p.name) || p.value.is_empty() {
        return None;
    }
    let mut params: Vec<String> = Vec::new();
    for prm in &p.params {
        match prm.name.as_str() {
            "TYPE" => params.extend(
                prm.values
                    .iter()
                    .filter_map(|v| canonical_type(&p.name, v))
                    .map(|v| format!("TYPE={v}")),
            ),
            "PREF" => params.push("TYPE=PREF".into()),
            "VALUE" | "MEDIATYPE" if matches!(p.value, Value::Binary(_)) => {}
            n => params.extend(
                prm.values
                    .iter()
                    .map(|v| format!("{n}={}", v.to_ascii_uppercase())),
            ),
        }
    }
    params.sort();
    params.dedup();
    let value = match &p.value {
        Value::Binary(b) => format!("bin:{}", digest(b)),
        Value::Text(_) => p.text().trim_end_matches([';', ',']).to_owned(),
    };
    Some(format!("{};{}:{}", p.name, params.join(";"), value))
}

/// The card's canonical lines, sorted.
pub fn lines(card: &Card) -> Vec<String> {
    let mut out: Vec<String> = card.props.iter().filter_map(line).collect();
    out.sort();
    out
}

/// A 128-bit fingerprint of [`lines`]: equal content ⇒ equal fingerprint.
pub fn fingerprint(card: &Card) -> u128 {
    fingerprint_lines(&lines(card))
}

/// The fingerprint of canonical (or [`raw_lines`]) lines: MD5 over the
/// length-prefixed lines. Stable across builds and platforms — the store
/// keeps it (the people index), so it must not be `DefaultHasher`, whose
/// output may change with the Rust release.
pub fn fingerprint_lines(l: &[String]) -> u128 {
    use md5::Digest as _;
    let mut h = md5::Md5::new();
    for line in l {
        h.update((line.len() as u64).to_be_bytes());
        h.update(line.as_bytes());
    }
    u128::from_be_bytes(h.finalize().into())
}

/// For text the parser refuses: unfolded lines, sorted, volatile and empty
/// properties dropped (the engine's rule before the parser existed), marked
/// so they never equal a parsed card's lines.
pub fn raw_lines(data: &str) -> Vec<String> {
    let mut unfolded: Vec<String> = Vec::new();
    for raw in data.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = line.strip_prefix([' ', '\t'])
            && let Some(last) = unfolded.last_mut()
        {
            last.push_str(rest);
            continue;
        }
        if !line.is_empty() {
            unfolded.push(line.to_owned());
        }
    }
    let mut out: Vec<String> = unfolded
        .into_iter()
        .filter(|l| {
            let name = l
                .split([':', ';'])
                .next()
                .unwrap_or("")
                .rsplit('.')
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            let value = l.split_once(':').map(|(_, v)| v).unwrap_or("");
            !is_volatile(&name) && !value.chars().all(|c| matches!(c, ';' | ',' | ' '))
        })
        .map(|l| format!("raw:{l}"))
        .collect();
    out.sort();
    out
}

/// A property with its parameters in version-independent form: TYPE lists
/// flattened, values upper-cased, `PREF=n` as `TYPE=PREF`, media types as
/// `JPEG`; group, name and value untouched.
pub fn portable(p: &Property) -> Property {
    let mut types: Vec<String> = Vec::new();
    let mut others = Vec::new();
    for prm in &p.params {
        match prm.name.as_str() {
            "TYPE" => types.extend(prm.values.iter().map(|v| {
                let up = v.trim().to_ascii_uppercase();
                up.strip_prefix("IMAGE/").map(str::to_owned).unwrap_or(up)
            })),
            "PREF" => types.push("PREF".into()),
            "VALUE" | "MEDIATYPE" if matches!(p.value, Value::Binary(_)) => {}
            _ => others.push(super::vcard::Param {
                name: prm.name.clone(),
                values: prm.values.iter().map(|v| v.to_ascii_uppercase()).collect(),
            }),
        }
    }
    types.sort();
    types.dedup();
    types.retain(|t| !t.is_empty());
    if !types.is_empty() {
        others.push(super::vcard::Param {
            name: "TYPE".into(),
            values: types,
        });
    }
    Property {
        group: p.group.clone(),
        name: p.name.clone(),
        params: others,
        value: p.value.clone(),
    }
}

/// Same properties in the same order with the same values, parameters
/// compared in [`portable`] form: what a version conversion must keep.
pub fn equivalent(a: &[Property], b: &[Property]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| portable(x) == portable(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cards in the forms devices send: 2.1 with quoted-printable and a
    /// charset, 3.0 with parameters and a photo, 4.0 with CJK text.
    const CARDS: [&str; 3] = [
        "BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=BCrgen\r\nFN:J\u{fc}rgen M\u{fc}ller\r\nTEL;CELL;PREF:+49 170 1234567\r\nTEL;WORK;VOICE:030 123456\r\nEMAIL;INTERNET:j@example.de\r\nREV:20240101T000000Z\r\nEND:VCARD\r\n",
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:abc-1\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nORG:Acme\\, Inc.;R&D\r\nTEL;TYPE=HOME,VOICE:+1 555 0100\r\nADR;TYPE=WORK:;;1 Main St;Springfield;IL;62701;USA\r\nPHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRg==\r\nNOTE:line one\\nline two\r\nEND:VCARD\r\n",
        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:\u{5c71}\u{7530}\u{592a}\u{90ce}\r\nN:\u{5c71}\u{7530};\u{592a}\u{90ce};;;\r\nEMAIL;TYPE=work:taro@example.jp\r\nTEL;VALUE=uri;TYPE=cell:tel:+81-90-1234-5678\r\nEND:VCARD\r\n",
    ];

    /// Fingerprints are stored (the people index): whatever the code that
    /// computes them becomes, these values must not change, or every
    /// stored book would stop matching until re-indexed.
    #[test]
    fn fingerprints_are_pinned() {
        let got: Vec<String> = CARDS
            .iter()
            .map(|c| format!("{:032x}", fingerprint(&Card::parse(c).unwrap())))
            .collect();
        let raw = format!(
            "{:032x}",
            fingerprint_lines(&raw_lines("BEGIN:VCARD\nFN:x\n not a line\nEND:VCARD\n"))
        );
        assert_eq!(
            got,
            [
                "a43a66b7555de142ed804bd6db6aa293",
                "9d524423753259d09bb46861eb6ed857",
                "42f2a22d9d92e92e7aedd9a9810e2526",
            ]
        );
        assert_eq!(raw, "23c9a706057a001d043c211bdd25dfbd");
    }
}
