//! vCard codec: parse → write → parse is lossless (for the contacts-1k
//! corpus and for generated cards), conversion between 2.1, 3.0 and 4.0
//! keeps every property's value, and no input makes the parser panic.

mod contacts_support;

use proptest::prelude::*;
use syncmld::contacts::canonical::{equivalent, portable};
use syncmld::contacts::{Card, Param, Property, VCardVersion, Value};

use contacts_support::corpus;

const VERSIONS: [VCardVersion; 3] = [VCardVersion::V21, VCardVersion::V30, VCardVersion::V40];

fn parse(text: &str) -> Card {
    match Card::parse(text) {
        Ok(c) => c,
        Err(e) => panic!("{e}\n{text}"),
    }
}

/// Every property, with its value, after conversion. Lists inside a value
/// may be rejoined by 2.1 (which has no comma escape), so values are
/// compared as text.
fn same_values(a: &Card, b: &Card) -> Result<(), String> {
    if a.props.len() != b.props.len() {
        return Err(format!("{} vs {} properties", a.props.len(), b.props.len()));
    }
    for (x, y) in a.props.iter().zip(&b.props) {
        let (px, py) = (portable(x), portable(y));
        let same = px.group == py.group
            && px.name == py.name
            && px.params == py.params
            && match (&x.value, &y.value) {
                (Value::Binary(p), Value::Binary(q)) => p == q,
                (Value::Text(_), Value::Text(_)) => x.text() == y.text(),
                _ => false,
            };
        if !same {
            return Err(format!(
                "{:?}\n  became\n{:?}\n{:?} {:?}",
                x.text(),
                y.text(),
                px.params,
                py.params
            ));
        }
    }
    Ok(())
}

/// Round trips of one card: each version reads back exactly what the
/// source version holds; chains of conversions keep every value; writing
/// is stable.
fn check_card(name: &str, c: &Card) {
    let own = c.to_string_as(c.version);
    let back = parse(&own);
    assert_eq!(back.props, c.props, "{name}: own-version round trip\n{own}");
    for v in VERSIONS {
        let text = c.to_string_as(v);
        for line in text.split("\r\n") {
            // 2.1 can fold only before whitespace, so a long header stays
            // long; every other line must fit.
            let header_len = line.find(':').unwrap_or(0);
            let fits = line.len() <= 75 || (v == VCardVersion::V21 && header_len >= 60);
            assert!(fits, "{name}: long line as {v:?}: {line}");
        }
        let conv = parse(&text);
        assert_eq!(conv.version, v);
        if let Err(e) = same_values(c, &conv) {
            panic!("{name}: as {v:?}: {e}\n{text}");
        }
        assert!(
            equivalent(&conv.props, &parse(&conv.to_string_as(v)).props),
            "{name}: unstable as {v:?}"
        );
        assert_eq!(
            conv.to_string_as(v),
            text,
            "{name}: writing {v:?} is not stable"
        );
        for w in VERSIONS {
            let hop = parse(&conv.to_string_as(w));
            if let Err(e) = same_values(c, &hop) {
                panic!("{name}: {:?} → {v:?} → {w:?}: {e}", c.version);
            }
        }
    }
}

/// The number of content lines of a raw file, minus BEGIN/VERSION/END: a
/// parser-independent count of its properties.
fn raw_property_count(raw: &str) -> usize {
    raw.split(['\n', '\r'])
        .filter(|l| {
            let head = l.split(':').next().unwrap_or("");
            l.contains(':')
                && !l.starts_with([' ', '\t'])
                && !head.is_empty()
                && head.split(';').next().is_some_and(|n| {
                    n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                })
        })
        .count()
        - 3
}

#[test]
fn every_corpus_card_round_trips_and_converts() {
    let Some(files) = corpus() else { return };
    let mut by_version = [0usize; 3];
    for (name, bytes) in &files {
        let c = match Card::parse_bytes(bytes) {
            Ok(c) => c,
            Err(e) => panic!("{name}: {e}"),
        };
        let raw = String::from_utf8_lossy(bytes);
        assert_eq!(
            c.props.len(),
            raw_property_count(&raw),
            "{name}: lost a property"
        );
        for p in &c.props {
            assert!(
                !p.params
                    .iter()
                    .any(|x| x.name == "ENCODING" || x.name == "CHARSET")
            );
        }
        by_version[c.version as usize] += 1;
        check_card(name, &c);
    }
    println!(
        "contacts-1k: {} cards ({} × 2.1, {} × 3.0, {} × 4.0) lossless in every version",
        files.len(),
        by_version[0],
        by_version[1],
        by_version[2]
    );
    assert_eq!(files.len(), 1000);
}

#[test]
fn corpus_values_are_decoded() {
    let Some(files) = corpus() else { return };
    let get = |n: &str| {
        files
            .iter()
            .find(|(f, _)| f == n)
            .map(|(_, b)| Card::parse_bytes(b))
    };
    // c00001: 2.1 with QUOTED-PRINTABLE UTF-8 Cyrillic.
    if let Some(Ok(c)) = get("c00001.vcf") {
        assert_eq!(
            c.first("FN").map(Property::text).as_deref(),
            Some("Фотий Беспалова")
        );
        assert_eq!(
            c.first("N").map(|n| n.component(1)).as_deref(),
            Some("Фотий")
        );
    }
    // c00003: a QP NOTE with an encoded line break.
    if let Some(Ok(c)) = get("c00003.vcf") {
        assert!(
            c.first("NOTE")
                .is_some_and(|n| n.text().contains("ませ。\n") || n.text().contains('\n'))
        );
    }
}

#[test]
fn real_world_21_quirks() {
    // ISO-8859-1 and GBK in 8-bit and QP form, bare CR line ends, 2.1
    // folding that keeps the space, a BASE64 photo ending at a blank line,
    // Apple-style groups with unknown properties and parameters.
    let mut raw: Vec<u8> = Vec::new();
    raw.extend_from_slice(b"BEGIN:VCARD\rVERSION:2.1\rN;CHARSET=ISO-8859-1:M\xfcller;J\xf6rg\r");
    raw.extend_from_slice(b"FN;CHARSET=GBK:\xd5\xc5\xc8\xfd\r");
    raw.extend_from_slice(b"ORG;CHARSET=GBK;ENCODING=QUOTED-PRINTABLE:=D5=C5\r");
    raw.extend_from_slice(b"NOTE:a long note\r folded at a space\r");
    raw.extend_from_slice(b"PHOTO;ENCODING=BASE64;TYPE=GIF:R0lG\rODlh\r\r");
    raw.extend_from_slice(b"item1.X-ABLabel;X-Kind=odd:_$!<Other>!$_\r");
    raw.extend_from_slice(b"TEL;PREF;CELL;X-SLOT=2:+49 171 555\rEND:VCARD\r");
    let c = match Card::parse_bytes(&raw) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let t = |n: &str| c.first(n).map(Property::text).unwrap_or_default();
    assert_eq!(t("N"), "Müller;Jörg");
    assert_eq!(t("FN"), "张三");
    assert_eq!(t("ORG"), "张");
    assert_eq!(t("NOTE"), "a long note folded at a space");
    assert_eq!(
        c.first("PHOTO").map(|p| p.value.clone()),
        Some(Value::Binary(b"GIF89a".to_vec()))
    );
    let label = c.first("X-ABLABEL");
    assert_eq!(
        label.and_then(|p| p.group.clone()).as_deref(),
        Some("item1")
    );
    assert_eq!(
        label.map(|p| p.params.clone()),
        Some(vec![Param::new("X-KIND", &["odd"])])
    );
    let tel = c.first("TEL").map(|p| p.params.clone()).unwrap_or_default();
    assert_eq!(
        tel,
        vec![
            Param::new("TYPE", &["PREF"]),
            Param::new("TYPE", &["CELL"]),
            Param::new("X-SLOT", &["2"])
        ]
    );
    check_card("quirks", &c);
}

// ---- generated cards ---------------------------------------------------------

fn item() -> impl Strategy<Value = String> {
    // Any text but CR (read as a line break, i.e. LF) — including LF,
    // backslashes, separators, non-ASCII and blanks at the edges.
    let any = "[^\r]{0,40}";
    let tricky = prop::sample::select(vec![
        "",
        " ",
        "a;b",
        "a,b",
        "\\",
        "\\n",
        "x\n y",
        "=",
        "=3D",
        "END:VCARD",
        "  two  spaces ",
        "汉字 テスト",
        "Grüße",
        "tab\there",
        "ends with =",
    ])
    .prop_map(str::to_owned);
    prop_oneof![3 => any.prop_map(|s| s), 1 => tricky]
}

fn text_value(version: VCardVersion, name: String) -> impl Strategy<Value = Value> {
    // 2.1 has no list syntax except in CATEGORIES: one item per component.
    let lists = version != VCardVersion::V21 || name == "CATEGORIES";
    let comp = if lists {
        prop::collection::vec(item(), 1..3).boxed()
    } else {
        item().prop_map(|i| vec![i]).boxed()
    };
    prop::collection::vec(comp, 1..4).prop_map(Value::Text)
}

fn params() -> impl Strategy<Value = Vec<Param>> {
    let type_word = prop::sample::select(vec!["HOME", "WORK", "CELL", "PREF", "VOICE", "X-OWN"]);
    let p = prop_oneof![
        prop::collection::vec(type_word, 1..3).prop_map(|v| Param::new("TYPE", &v)),
        ("X-[A-Z]{1,6}", "[a-z0-9]{1,8}").prop_map(|(n, v)| Param::new(&n, &[v.as_str()])),
        Just(Param::new("LANGUAGE", &["de"])),
    ];
    prop::collection::vec(p, 0..3)
}

fn property(version: VCardVersion) -> impl Strategy<Value = Property> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "FN",
            "N",
            "TEL",
            "EMAIL",
            "ADR",
            "NOTE",
            "ORG",
            "TITLE",
            "URL",
            "CATEGORIES",
            "X-MANAGER",
        ])
        .prop_map(str::to_owned),
        "X-[A-Z]{1,8}",
    ];
    let group = prop::option::weighted(0.2, "item[0-9]");
    let text = (name, group, params()).prop_flat_map(move |(name, group, params)| {
        text_value(version, name.clone()).prop_map(move |value| Property {
            group: group.clone(),
            name: name.clone(),
            params: params.clone(),
            value,
        })
    });
    let binary = prop::collection::vec(any::<u8>(), 0..300)
        .prop_map(|b| Property::new("PHOTO", Value::Binary(b)).with_param("TYPE", &["JPEG"]));
    prop_oneof![8 => text, 1 => binary]
}

fn card() -> impl Strategy<Value = Card> {
    prop::sample::select(VERSIONS.to_vec()).prop_flat_map(|v| {
        prop::collection::vec(property(v), 0..12).prop_map(move |mut props| {
            // The writer adds N and FN when missing; give every card both
            // so what is read back is what was generated.
            if !props.iter().any(|p| p.name == "FN") {
                props.insert(0, Property::new("FN", Value::text("Gen Erated")));
            }
            if !props.iter().any(|p| p.name == "N") {
                props.insert(0, Property::new("N", Value::components(&["Erated", "Gen"])));
            }
            // 2.1 writes TYPE words bare and upper-case.
            if v == VCardVersion::V21 {
                for p in &mut props {
                    for prm in &mut p.params {
                        if prm.name == "TYPE" {
                            prm.values =
                                prm.values.iter().map(|x| x.to_ascii_uppercase()).collect();
                        }
                    }
                    let types: Vec<Param> = p
                        .params
                        .iter()
                        .flat_map(|prm| {
                            if prm.name == "TYPE" {
                                prm.values
                                    .iter()
                                    .map(|x| Param::new("TYPE", &[x]))
                                    .collect()
                            } else {
                                vec![prm.clone()]
                            }
                        })
                        .collect();
                    p.params = types;
                }
            }
            // 4.0 says PREF=1 where older versions say TYPE=PREF.
            if v == VCardVersion::V40 {
                for p in &mut props {
                    let mut out = Vec::new();
                    for prm in &p.params {
                        if prm.name == "TYPE" && prm.values.iter().any(|x| x == "PREF") {
                            out.push(Param::new("PREF", &["1"]));
                            let rest: Vec<&str> = prm
                                .values
                                .iter()
                                .map(String::as_str)
                                .filter(|x| *x != "PREF")
                                .collect();
                            if !rest.is_empty() {
                                out.push(Param::new("TYPE", &rest));
                            }
                        } else {
                            out.push(prm.clone());
                        }
                    }
                    p.params = out;
                }
            }
            Card { version: v, props }
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn generated_cards_round_trip(c in card()) {
        check_card("generated", &c);
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = Card::parse_bytes(&body);
        let mut framed = b"BEGIN:VCARD\r\nVERSION:2.1\r\n".to_vec();
        framed.extend_from_slice(&body);
        framed.extend_from_slice(b"\r\nEND:VCARD\r\n");
        if let Ok(c) = Card::parse_bytes(&framed) {
            for v in VERSIONS {
                // Whatever we read, we can write and read again, stably.
                let once = c.to_string_as(v);
                let again = parse(&once);
                prop_assert_eq!(again.to_string_as(v), once);
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(body in "(\\PC|[\r\n;:=,\\\\\"]){0,300}", ver in 0usize..3) {
        let head = ["2.1", "3.0", "4.0"][ver];
        let framed = format!("BEGIN:VCARD\nVERSION:{head}\n{body}\nEND:VCARD\n");
        if let Ok(c) = Card::parse(&framed) {
            for v in VERSIONS {
                let once = c.to_string_as(v);
                let again = parse(&once);
                prop_assert_eq!(again.to_string_as(v), once);
            }
        }
    }
}

/// `fingerprint_text` reads a card's text without building it; it must
/// give what the parsed card's `fingerprint` gives (stored fingerprints are
/// compared across both), and fail exactly where parsing fails.
fn fingerprints_agree(text: &str) -> Result<(), TestCaseError> {
    use syncmld::contacts::canonical::{fingerprint, fingerprint_text};
    match (Card::parse(text), fingerprint_text(text)) {
        (Ok(card), Ok(fp)) => prop_assert_eq!(fp, fingerprint(&card), "{}", text),
        (Err(a), Err(b)) => prop_assert_eq!(a, b),
        (a, b) => prop_assert!(
            false,
            "parse {:?} vs fingerprint {:?}\n{}",
            a.err(),
            b.err(),
            text
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn text_fingerprints_agree_with_parsed_cards(c in card()) {
        for v in VERSIONS {
            fingerprints_agree(&c.to_string_as(v))?;
        }
    }

    #[test]
    fn text_fingerprints_agree_on_arbitrary_text(
        body in "(\\PC|[\r\n;:=,\\\\\" ]|ENCODING=QUOTED-PRINTABLE:|ENCODING=b:|CHARSET=latin1){0,300}",
        ver in 0usize..3,
    ) {
        let head = ["2.1", "3.0", "4.0"][ver];
        fingerprints_agree(&format!("BEGIN:VCARD\nVERSION:{head}\n{body}\nEND:VCARD\n"))?;
        fingerprints_agree(&body)?;
    }
}

#[test]
fn text_fingerprints_agree_on_the_corpus_in_every_version() {
    let Some(files) = corpus() else { return };
    for (name, bytes) in files {
        let text = String::from_utf8_lossy(&bytes);
        let check = |t: &str| fingerprints_agree(t).map_err(|e| format!("{name}: {e}"));
        if let Err(e) = check(&text) {
            panic!("{e}");
        }
        if let Ok(card) = Card::parse(&text) {
            for v in VERSIONS {
                if let Err(e) = check(&card.to_string_as(v)) {
                    panic!("{e}");
                }
            }
        }
    }
}
