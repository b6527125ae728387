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

use super::error::VCardError;
use super::vcard::{Card, LineView, Property, Value, ValueView, for_each_line};

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

/// A TYPE value in canonical form, appended to `out` as `TYPE=VALUE`:
/// upper case, `image/` dropped, the default types (and empty values)
/// left out. `false` when nothing was written.
fn push_canonical_type(prop: &str, t: &str, out: &mut String) -> bool {
    let t = t.trim();
    let t = match t.get(..6) {
        Some(p) if p.eq_ignore_ascii_case("image/") => &t[6..],
        _ => t,
    };
    let default = match prop {
        "EMAIL" => t.eq_ignore_ascii_case("INTERNET"),
        "TEL" => t.eq_ignore_ascii_case("VOICE"),
        _ => false,
    };
    if default || t.is_empty() {
        return false;
    }
    out.push_str("TYPE=");
    push_upper(t, out);
    true
}

fn push_upper(s: &str, out: &mut String) {
    out.extend(s.chars().map(|c| c.to_ascii_uppercase()));
}

/// Reused buffers for writing canonical lines (one card's worth).
#[derive(Default)]
struct Scratch {
    /// The parameters of the current property, each a range of `params`.
    params: String,
    ranges: Vec<std::ops::Range<usize>>,
}

/// Append property `p`'s canonical line to `out`: `NAME;PARAMS:VALUE`,
/// the parameters sorted and de-duplicated and joined by `;`. `false`
/// (and `out` unchanged) if it carries no data.
fn push_line(p: &LineView<'_>, scratch: &mut Scratch, out: &mut String) -> bool {
    if is_volatile(p.name) {
        return false;
    }
    let binary = matches!(p.value, ValueView::Binary(_));
    let Scratch { params, ranges } = scratch;
    params.clear();
    ranges.clear();
    let mut add = |params: &mut String, write: &dyn Fn(&mut String) -> bool| {
        let start = params.len();
        if write(params) {
            ranges.push(start..params.len());
        }
    };
    p.params.for_each(|name, values| match name {
        "TYPE" => {
            for v in values {
                add(params, &|o| push_canonical_type(p.name, v, o));
            }
        }
        "PREF" => add(params, &|o| {
            o.push_str("TYPE=PREF");
            true
        }),
        "VALUE" | "MEDIATYPE" if binary => {}
        n => {
            for v in values {
                add(params, &|o| {
                    o.push_str(n);
                    o.push('=');
                    push_upper(v, o);
                    true
                });
            }
        }
    });
    let text: &str = params;
    ranges.sort_by(|a, b| text[a.clone()].cmp(&text[b.clone()]));
    ranges.dedup_by(|a, b| text[a.clone()] == text[b.clone()]);
    let line_start = out.len();
    out.push_str(p.name);
    out.push(';');
    for (i, r) in ranges.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(&text[r.clone()]);
    }
    out.push(':');
    let value_start = out.len();
    if !p.value.push_text(p.name, out) {
        out.truncate(line_start);
        return false;
    }
    if let ValueView::Binary(b) = p.value {
        out.push_str("bin:");
        out.push_str(&digest(b));
    } else {
        let kept = out[value_start..].trim_end_matches([';', ',']).len();
        out.truncate(value_start + kept);
    }
    true
}

/// One property as a canonical line, or `None` if it carries no data.
pub fn line(p: &Property) -> Option<String> {
    let mut out = String::new();
    push_line(&p.view(), &mut Scratch::default(), &mut out).then_some(out)
}

/// The card's canonical lines, sorted.
pub fn lines(card: &Card) -> Vec<String> {
    let mut out: Vec<String> = card.props.iter().filter_map(line).collect();
    out.sort();
    out
}

/// A 128-bit fingerprint of [`lines`]: equal content ⇒ equal fingerprint.
/// The lines are written into one buffer and sorted as ranges of it (the
/// slow-sync hot path: no allocation per line).
pub fn fingerprint(card: &Card) -> u128 {
    let mut lines = Lines::default();
    for p in &card.props {
        lines.push(&p.view());
    }
    lines.fingerprint()
}

/// [`fingerprint`] of a card's text without building the card (the
/// values are never split into components): what a slow sync computes for
/// every incoming card. Fails where [`Card::parse`] fails.
pub fn fingerprint_text(data: &str) -> Result<u128, VCardError> {
    thread_local! {
        /// One card's buffers, kept between the cards of a slow sync.
        static LINES: std::cell::RefCell<Lines> = std::cell::RefCell::default();
    }
    let run = |lines: &mut Lines| {
        lines.clear();
        for_each_line(data, &mut |p| lines.push(&p))?;
        Ok(lines.fingerprint())
    };
    LINES.with(|cell| match cell.try_borrow_mut() {
        Ok(mut lines) => {
            let r = run(&mut lines);
            lines.trim();
            r
        }
        // Not reachable (nothing here calls back in), but never a panic.
        Err(_) => run(&mut Lines::default()),
    })
}

/// A card's canonical lines written into one buffer, each a range of it.
#[derive(Default)]
struct Lines {
    buf: String,
    lines: Vec<std::ops::Range<usize>>,
    scratch: Scratch,
}

impl Lines {
    fn push(&mut self, p: &LineView<'_>) {
        let start = self.buf.len();
        if push_line(p, &mut self.scratch, &mut self.buf) {
            self.lines.push(start..self.buf.len());
        }
    }

    /// Sorted as strings, then hashed as [`fingerprint_lines`] does.
    fn fingerprint(&mut self) -> u128 {
        let buf = &self.buf;
        self.lines
            .sort_by(|a, b| buf[a.clone()].cmp(&buf[b.clone()]));
        hash_lines(self.lines.iter().map(|r| &buf[r.clone()]))
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.lines.clear();
    }

    /// Kept buffers stay small: a card with a large photo digest or a long
    /// note does not pin its memory to the thread.
    fn trim(&mut self) {
        const KEEP: usize = 16 << 10;
        if self.buf.capacity() > KEEP || self.scratch.params.capacity() > KEEP {
            *self = Lines::default();
        }
    }
}

/// The fingerprint of canonical (or [`raw_lines`]) lines: MD5 over the
/// length-prefixed lines. Stable across builds and platforms — the store
/// keeps it (the people index), so it must not be `DefaultHasher`, whose
/// output may change with the Rust release.
pub fn fingerprint_lines(l: &[String]) -> u128 {
    hash_lines(l.iter().map(String::as_str))
}

fn hash_lines<'a>(l: impl Iterator<Item = &'a str>) -> u128 {
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

    /// The canonical line as first written (one `String` per parameter,
    /// `format!` and `join`): the buffer writer must agree with it.
    fn reference_line(p: &Property) -> Option<String> {
        fn canonical_type(prop: &str, t: &str) -> Option<String> {
            let up = t.trim().to_ascii_uppercase();
            let up = up.strip_prefix("IMAGE/").map(str::to_owned).unwrap_or(up);
            match (prop, up.as_str()) {
                ("EMAIL", "INTERNET") | ("TEL", "VOICE") | (_, "") => None,
                _ => Some(up),
            }
        }
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
            Value::Text(c) => c
                .iter()
                .map(|items| items.join(","))
                .collect::<Vec<_>>()
                .join(";")
                .trim_end_matches([';', ','])
                .to_owned(),
        };
        Some(format!("{};{}:{}", p.name, params.join(";"), value))
    }

    fn reference_fingerprint(card: &Card) -> u128 {
        let mut l: Vec<String> = card.props.iter().filter_map(reference_line).collect();
        l.sort();
        fingerprint_lines(&l)
    }

    mod agree {
        use super::*;
        use crate::contacts::vcard::Param;
        use proptest::prelude::*;

        fn word() -> impl Strategy<Value = String> {
            prop::sample::select(vec![
                "",
                " ",
                "home",
                "WORK",
                "cell",
                "Voice",
                "internet",
                "INTERNET ",
                "pref",
                "image/jpeg",
                "IMAGE/",
                "x-Custom",
                "uri",
                "ä",
                "a,b",
                "1",
            ])
            .prop_map(str::to_owned)
        }

        fn param() -> impl Strategy<Value = Param> {
            let name = prop::sample::select(vec![
                "TYPE",
                "PREF",
                "VALUE",
                "MEDIATYPE",
                "X-FOO",
                "LANGUAGE",
            ]);
            (name, prop::collection::vec(word(), 0..3)).prop_map(|(n, values)| Param {
                name: n.to_owned(),
                values,
            })
        }

        fn value() -> impl Strategy<Value = Value> {
            let item =
                prop::sample::select(vec!["", " ", "a", "B c", "Müller", "x;y", ",", "山田"])
                    .prop_map(str::to_owned);
            prop_oneof![
                prop::collection::vec(prop::collection::vec(item, 1..3), 1..4)
                    .prop_map(Value::Text),
                prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::Binary),
            ]
        }

        fn property() -> impl Strategy<Value = Property> {
            let name = prop::sample::select(vec![
                "TEL", "EMAIL", "FN", "N", "PHOTO", "NOTE", "REV", "X-A", "ADR",
            ]);
            (name, prop::collection::vec(param(), 0..4), value()).prop_map(|(n, params, value)| {
                Property {
                    group: None,
                    name: n.to_owned(),
                    params,
                    value,
                }
            })
        }

        proptest! {
            #[test]
            fn the_buffer_writer_agrees_with_the_reference(
                props in prop::collection::vec(property(), 0..8)
            ) {
                for p in &props {
                    prop_assert_eq!(line(p), reference_line(p));
                }
                let card = Card { version: crate::contacts::VCardVersion::V30, props };
                prop_assert_eq!(fingerprint(&card), reference_fingerprint(&card));
            }
        }

        #[test]
        fn generated_books_agree_in_every_version() {
            for i in 0..300 {
                let text = crate::bench::vcards::generated(7, i);
                let as21 = crate::bench::vcards::as_vcard21(&text).unwrap();
                for t in [&text, &as21] {
                    let card = Card::parse(t).unwrap();
                    assert_eq!(fingerprint(&card), reference_fingerprint(&card), "{t}");
                }
            }
        }
    }

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
