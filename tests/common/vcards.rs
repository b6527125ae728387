//! Address books as folders of vCard files, compared by content.
//!
//! Both ends of a sync re-encode vCards in their own way (SyncEvolution adds
//! `PRODID`, a constant `REV`, and a dozen empty properties like `TITLE:`;
//! it re-escapes commas; files are named `1`, `2`, ... or keep their original
//! names). A [`Card`] is a normalised view that keeps only the data, so two
//! books can be compared as multisets with [`assert_same_books`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Properties that differ between the two ends for reasons that are not data.
const IGNORED_PROPS: &[&str] = &["VERSION", "PRODID", "REV", "UID", "X-EVOLUTION-FILE-AS"];

/// Structured properties whose trailing empty components are insignificant
/// (`N:Doe;John;;;` is `N:Doe;John`).
const STRUCTURED_PROPS: &[&str] = &["N", "ADR", "ORG", "GEO"];

/// Properties whose value is a comma-separated list, so `\,` must stay escaped.
const LIST_PROPS: &[&str] = &["CATEGORIES", "NICKNAME"];

/// One normalised property.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prop {
    /// Upper-cased, group prefix (`item1.`) removed.
    pub name: String,
    /// (NAME, value) pairs, upper-cased names, sorted, deduplicated;
    /// `TYPE=a,b` and bare 2.1 types (`TEL;CELL`) become one `TYPE` each.
    pub params: Vec<(String, String)>,
    pub value: String,
}

/// A normalised vCard: sorted properties plus where it came from.
/// Equality looks at the properties only.
#[derive(Debug, Clone)]
pub struct Card {
    pub props: Vec<Prop>,
    /// The file it was read from (not part of equality).
    pub file: Option<PathBuf>,
}

impl PartialEq for Card {
    fn eq(&self, other: &Self) -> bool {
        self.props == other.props
    }
}
impl Eq for Card {}

impl Card {
    /// Parse every `BEGIN:VCARD … END:VCARD` in `text`.
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
                    cards.push(Card { props, file: None });
                }
            } else if let Some(props) = current.as_mut()
                && let Some(p) = parse_prop(&line)
            {
                props.push(p);
            }
        }
        cards
    }

    /// Parse exactly one card; panics otherwise.
    pub fn parse(text: &str) -> Card {
        let mut cards = Card::parse_all(text);
        assert_eq!(cards.len(), 1, "expected one vCard in:\n{text}");
        cards.remove(0)
    }

    /// The FN value ("" if none).
    pub fn fn_value(&self) -> &str {
        self.get("FN").unwrap_or("")
    }

    /// Value of the first property called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_uppercase();
        self.props
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
    }

    /// Values of all properties called `name`, sorted.
    pub fn all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_uppercase();
        self.props
            .iter()
            .filter(|p| p.name == name)
            .map(|p| p.value.as_str())
            .collect()
    }

    fn label(&self) -> String {
        match &self.file {
            Some(f) => format!("FN={:?} ({})", self.fn_value(), f.display()),
            None => format!("FN={:?}", self.fn_value()),
        }
    }
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

impl fmt::Display for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.props {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// Undo line folding (CRLF or LF followed by a space or tab) and vCard 2.1
/// quoted-printable soft line breaks (`=` at the end of the line).
fn unfold(text: &str) -> Vec<String> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut lines: Vec<String> = Vec::new();
    let mut qp_continues = false;
    for raw in text.split('\n') {
        if let Some(rest) = raw.strip_prefix([' ', '\t'])
            && let Some(last) = lines.last_mut()
        {
            last.push_str(rest);
        } else if qp_continues && let Some(last) = lines.last_mut() {
            last.pop(); // the soft-break `=`
            last.push_str(raw);
        } else {
            lines.push(raw.to_owned());
        }
        qp_continues = lines
            .last()
            .is_some_and(|l| is_quoted_printable(l) && l.ends_with('='));
    }
    lines.retain(|l| !l.trim().is_empty());
    lines
}

fn is_quoted_printable(line: &str) -> bool {
    let head = line.split(':').next().unwrap_or("").to_ascii_uppercase();
    head.contains("QUOTED-PRINTABLE")
}

/// Split `group.NAME;params:value` and normalise it. `None` for lines that
/// carry no data (ignored props, empty values).
fn parse_prop(line: &str) -> Option<Prop> {
    let colon = find_unquoted(line, ':')?;
    let (head, value) = (&line[..colon], &line[colon + 1..]);
    let mut parts = split_unquoted(head, ';').into_iter();
    let full_name = parts.next()?;
    let name = full_name
        .rsplit('.')
        .next()
        .unwrap_or(&full_name)
        .trim()
        .to_ascii_uppercase();
    if IGNORED_PROPS.contains(&name.as_str()) {
        return None;
    }

    let mut params = Vec::new();
    let mut quoted_printable = false;
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
            "ENCODING" if v.eq_ignore_ascii_case("QUOTED-PRINTABLE") => quoted_printable = true,
            // Encoding artefacts of vCard 2.1, not data.
            "ENCODING" if v.eq_ignore_ascii_case("8BIT") => {}
            "CHARSET" if v.eq_ignore_ascii_case("UTF-8") => {}
            "TYPE" => {
                for t in v.split(',').filter(|t| !t.is_empty()) {
                    params.push(("TYPE".to_owned(), t.to_ascii_uppercase()));
                }
            }
            _ => params.push((k, v)),
        }
    }
    params.sort();
    params.dedup();

    let mut value = if quoted_printable {
        decode_qp(value)
    } else {
        value.to_owned()
    };
    value = value.replace("\\N", "\\n");
    if !LIST_PROPS.contains(&name.as_str()) {
        // `a, b` and `a\, b` are the same text; ends disagree on escaping it.
        value = value.replace("\\,", ",");
    }
    if STRUCTURED_PROPS.contains(&name.as_str()) {
        while value.ends_with(';') && !value.ends_with("\\;") {
            value.pop();
        }
    }
    // `TITLE:`, `ADR:;;;;;;`, `GEO:;` are how SyncEvolution writes "nothing".
    if value
        .chars()
        .all(|c| c == ';' || c == ',' || c.is_whitespace())
    {
        return None;
    }
    Some(Prop {
        name,
        params,
        value,
    })
}

fn decode_qp(s: &str) -> String {
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
    String::from_utf8_lossy(&out).into_owned()
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

// ---------------------------------------------------------------------------
// Books

/// Read every vCard in every regular, non-hidden file of `dir` (the file
/// backend writes `1`, `2`, ... without suffix and keeps names like
/// `Alice.vcf`). Panics on a file holding no vCard: that is a harness bug.
pub fn read_book(dir: &Path) -> Vec<Card> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read address book {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(".")
                .starts_with('.')
        })
        .collect();
    files.sort();
    let mut book = Vec::new();
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        let cards = Card::parse_all(&text);
        assert!(!cards.is_empty(), "{} holds no vCard:\n{text}", f.display());
        book.extend(cards.into_iter().map(|mut c| {
            c.file = Some(f.clone());
            c
        }));
    }
    book
}

/// The one card whose FN is `fn_value`; `None` if there is none. Panics if
/// there are several (a duplicate is always worth a failure).
pub fn card_by_fn<'a>(book: &'a [Card], fn_value: &str) -> Option<&'a Card> {
    let hits: Vec<&Card> = book.iter().filter(|c| c.fn_value() == fn_value).collect();
    assert!(
        hits.len() <= 1,
        "{} cards with FN {fn_value:?}:\n{}",
        hits.len(),
        hits.iter()
            .map(|c| format!("{}\n{c}", c.label()))
            .collect::<String>()
    );
    hits.first().copied()
}

/// FN values of a book, sorted: handy for short assertions.
pub fn fns(book: &[Card]) -> Vec<String> {
    let mut v: Vec<String> = book.iter().map(|c| c.fn_value().to_owned()).collect();
    v.sort();
    v
}

/// Assert that two books hold the same cards, as multisets, by content.
#[track_caller]
pub fn assert_same_books(a: &[Card], b: &[Card]) {
    assert_same_books_named(a, "left", b, "right");
}

/// [`assert_same_books`] with names for the two sides in the failure message.
#[track_caller]
pub fn assert_same_books_named(a: &[Card], a_name: &str, b: &[Card], b_name: &str) {
    if let Some(diff) = book_diff(a, a_name, b, b_name) {
        panic!("address books differ:\n{diff}");
    }
}

/// `None` when equal, else a readable description of the difference.
pub fn book_diff(a: &[Card], a_name: &str, b: &[Card], b_name: &str) -> Option<String> {
    // Multiset difference keyed by content.
    let mut counts: BTreeMap<&Vec<Prop>, (Vec<&Card>, Vec<&Card>)> = BTreeMap::new();
    for c in a {
        counts.entry(&c.props).or_default().0.push(c);
    }
    for c in b {
        counts.entry(&c.props).or_default().1.push(c);
    }
    let mut only_a: Vec<&Card> = Vec::new();
    let mut only_b: Vec<&Card> = Vec::new();
    for (left, right) in counts.values() {
        let n = left.len().min(right.len());
        only_a.extend(&left[n..]);
        only_b.extend(&right[n..]);
    }
    if only_a.is_empty() && only_b.is_empty() {
        return None;
    }

    let mut out = format!("{a_name}: {} cards, {b_name}: {} cards\n", a.len(), b.len());
    let mut unmatched_b: Vec<&Card> = only_b.clone();
    for ca in &only_a {
        // Same FN on the other side: show a property-level diff.
        if let Some(pos) = unmatched_b
            .iter()
            .position(|cb| cb.fn_value() == ca.fn_value())
        {
            let cb = unmatched_b.remove(pos);
            out.push_str(&format!("differs: {} vs {}\n", ca.label(), cb.label()));
            for p in &ca.props {
                if !cb.props.contains(p) {
                    out.push_str(&format!("  - {p}   (only {a_name})\n"));
                }
            }
            for p in &cb.props {
                if !ca.props.contains(p) {
                    out.push_str(&format!("  + {p}   (only {b_name})\n"));
                }
            }
        } else {
            out.push_str(&format!("only in {a_name}: {}\n{ca}", ca.label()));
        }
    }
    for cb in unmatched_b {
        out.push_str(&format!("only in {b_name}: {}\n{cb}", cb.label()));
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Local edits on a client folder

/// A vCard 3.0 text with `FN`, an `N` derived from it ("Alice Anders" →
/// `N:Anders;Alice;;;`) and `extra` lines, CRLF line ends.
pub fn vcard(fn_value: &str, extra: &[&str]) -> String {
    let (given, family) = fn_value.rsplit_once(' ').unwrap_or(("", fn_value));
    let mut s = format!("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{fn_value}\r\nN:{family};{given};;;\r\n");
    for l in extra {
        s.push_str(l);
        s.push_str("\r\n");
    }
    s.push_str("END:VCARD\r\n");
    s
}

/// Write `text` as `dir/file_name` (creating `dir`); returns the path.
pub fn write_card(dir: &Path, file_name: &str, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(file_name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The file in `dir` holding the card with FN `fn_value`; panics unless exactly one.
pub fn file_of(dir: &Path, fn_value: &str) -> PathBuf {
    let book = read_book(dir);
    let card = card_by_fn(&book, fn_value).unwrap_or_else(|| {
        panic!(
            "no card with FN {fn_value:?} in {}; have {:?}",
            dir.display(),
            fns(&book)
        )
    });
    card.file.clone().unwrap()
}

/// Rewrite the card with FN `fn_value` through `edit` (which gets and
/// returns the raw file text). Makes sure the file's mtime changes: the
/// SyncEvolution file backend detects changes by mtime alone.
pub fn edit_card(dir: &Path, fn_value: &str, edit: impl FnOnce(&str) -> String) -> PathBuf {
    let path = file_of(dir, fn_value);
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(&text)).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    if file.metadata().unwrap().modified().unwrap() <= before {
        // Coarse filesystem timestamps can leave mtime unchanged; push it on.
        file.set_modified(before + Duration::from_secs(1)).unwrap();
    }
    path
}

/// Remove the file holding the card with FN `fn_value`; returns its path.
pub fn delete_card(dir: &Path, fn_value: &str) -> PathBuf {
    let path = file_of(dir, fn_value);
    std::fs::remove_file(&path).unwrap();
    path
}
