//! The matching corpus: a slow sync of perturbed copies of the contacts-1k
//! people (phone formats, case, spacing, name order, 2.1 vs 3.0, fields
//! missing on one side) plus different people who share a name with one
//! of them, against the originals. Done when: 0 duplicates, 0 false merges.

mod contacts_support;

use std::collections::HashSet;

use syncmld::contacts::{Card, MatchIndex, Property, Region, VCardVersion, Value};

use contacts_support::corpus;

/// splitmix64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The same number written another way (the subscriber digits stay).
fn reformat_phone(raw: &str, rng: &mut Rng) -> String {
    let (main, ext) = match raw.find(['x', 'X']) {
        Some(i) => (&raw[..i], &raw[i..]),
        None => (raw, ""),
    };
    let plus = main.trim_start().starts_with('+');
    let digits: String = main.chars().filter(char::is_ascii_digit).collect();
    let grouped = |sep: &str, n: usize| {
        digits
            .as_bytes()
            .chunks(n)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(sep)
    };
    let national = phonenumber::parse(None, main)
        .ok()
        .map(|n| n.format().mode(phonenumber::Mode::National).to_string());
    let out = match rng.below(5) {
        // +4930123 → 004930123 (international prefix instead of '+')
        0 if plus => format!("00{digits}"),
        // national form of an international number ("030 1234567")
        1 if national.is_some() => national.unwrap_or_default(),
        2 => format!("{}{}", if plus { "+" } else { "" }, grouped(" ", 3)),
        3 => format!("{}{}", if plus { "+" } else { "" }, grouped("-", 4)),
        _ => format!("{}{digits}", if plus { "+" } else { "" }),
    };
    format!("{out}{ext}")
}

fn fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
            c => c,
        })
        .collect()
}

fn name_variant(card: &Card, rng: &mut Rng) -> Option<String> {
    let n = card.first("N")?;
    let (family, given) = (n.component(0), n.component(1));
    let cjk = family
        .chars()
        .chain(given.chars())
        .any(|c| c as u32 >= 0x3000);
    Some(match rng.below(5) {
        0 if cjk => format!("{family} {given}"),
        0 => format!("{family}, {given}"),
        1 => format!("  {}   {} ", given.to_uppercase(), family.to_lowercase()),
        2 if !cjk => fullwidth(&format!("{given} {family}")),
        3 => format!(
            "{}{}",
            given.to_lowercase(),
            if cjk { family } else { format!(" {family}") }
        ),
        _ => card.first("FN").map(Property::text).unwrap_or_default(),
    })
}

fn is_contact(p: &Property) -> bool {
    p.name == "TEL" || p.name == "EMAIL"
}

/// A copy of the same person as another device would send it.
fn perturb(orig: &Card, rng: &mut Rng) -> Card {
    let mut c = orig.clone();
    // Some copies differ only in version: identical content.
    if rng.chance(15) {
        return resend(orig, &c);
    }
    // Phones in another format, emails in another case.
    for p in &mut c.props {
        match p.name.as_str() {
            "TEL" => p.value = Value::text(&reformat_phone(&p.text(), rng)),
            "EMAIL" if rng.chance(50) => {
                p.value = Value::text(&format!(" {} ", p.text().to_uppercase()))
            }
            _ => {}
        }
    }
    // Names: other order, case, spacing, width.
    if let Some(fnv) = name_variant(orig, rng) {
        for p in &mut c.props {
            if p.name == "FN" {
                p.value = Value::text(&fnv);
            }
        }
    }
    // Fields missing on one side.
    let contacts = c.props.iter().filter(|p| is_contact(p)).count();
    let mut dropped_contacts = 0;
    let drop_name = rng.below(10);
    c.props.retain(|p| match p.name.as_str() {
        "ORG" | "TITLE" | "NOTE" | "ADR" | "BDAY" | "PHOTO" | "URL" | "UID" => !rng.chance(30),
        "FN" => drop_name != 0,
        "N" => drop_name != 1,
        "TEL" | "EMAIL" => {
            // Keep at least one unless this copy loses them all.
            let drop = contacts - dropped_contacts > 1 && rng.chance(30);
            dropped_contacts += usize::from(drop);
            !drop
        }
        _ => true,
    });
    if rng.chance(5) {
        c.props.retain(|p| !is_contact(p)); // no phones/emails at all
    } else if rng.chance(5) {
        c.props.retain(|p| p.name != "N" && p.name != "FN"); // nameless
    }
    resend(orig, &c)
}

/// `c` sent as the other version than `orig`, read back as the server
/// reads it.
fn resend(orig: &Card, c: &Card) -> Card {
    let v = if orig.version == VCardVersion::V21 {
        VCardVersion::V30
    } else {
        VCardVersion::V21
    };
    let mut sent = c.clone();
    if !sent.props.iter().any(|p| p.name == "N" || p.name == "FN") {
        // The writer would derive a name from ORG; a nameless copy stays
        // nameless as its sender meant.
        sent.props.retain(|p| p.name != "ORG");
    }
    match Card::parse(&sent.to_string_as(v)) {
        Ok(mut back) => {
            if !c.props.iter().any(|p| p.name == "N" || p.name == "FN") {
                back.props.retain(|p| p.name != "N" && p.name != "FN");
            }
            back
        }
        Err(e) => panic!("perturbed copy unreadable: {e}"),
    }
}

/// Someone else with the same name: other phones, other email.
fn namesake(orig: &Card, i: usize, rng: &mut Rng) -> Card {
    let mut c = Card::new(VCardVersion::V30);
    for p in orig.all("N").chain(orig.all("FN")) {
        c.props.push(p.clone());
    }
    let prefix = orig
        .first("TEL")
        .map(|t| t.text())
        .filter(|t| t.starts_with('+'))
        .map(|t| t.chars().take(3).collect::<String>())
        .unwrap_or_else(|| "+49".into());
    for _ in 0..1 + rng.below(2) {
        let number: String = (0..9)
            .map(|_| char::from(b'0' + rng.below(10) as u8))
            .collect();
        c.props.push(
            Property::new("TEL", Value::text(&format!("{prefix} {number}")))
                .with_param("TYPE", &["CELL"]),
        );
    }
    if rng.chance(60) {
        c.props.push(Property::new(
            "EMAIL",
            Value::text(&format!("namesake.{i}@example.invalid")),
        ));
    }
    c
}

#[derive(Debug)]
enum Expect {
    Same(String),
    Other,
}

#[test]
fn slow_sync_of_perturbed_copies_has_no_duplicates_and_no_false_merges() {
    let Some(files) = corpus() else { return };
    let mut rng = Rng(0x5EED_C0DE);
    let originals: Vec<(String, Card)> = files
        .iter()
        .map(|(name, b)| match Card::parse_bytes(b) {
            Ok(c) => (name.clone(), c),
            Err(e) => panic!("{name}: {e}"),
        })
        .collect();

    let mut index = MatchIndex::new(Region::new("DE"));
    for (guid, c) in &originals {
        index.insert(guid, c);
    }

    let mut incoming: Vec<(Expect, Card)> = Vec::new();
    for (guid, c) in &originals {
        incoming.push((Expect::Same(guid.clone()), perturb(c, &mut rng)));
    }
    for (i, (_, c)) in originals.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        incoming.push((Expect::Other, namesake(c, i, &mut rng)));
    }
    // Interleave: namesakes must not steal their namesake's slot either.
    for i in (1..incoming.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        incoming.swap(i, j);
    }

    let mut taken: HashSet<String> = HashSet::new();
    let (mut duplicates, mut false_merges, mut exact, mut merged) = (0, 0, 0, 0);
    for (expect, card) in &incoming {
        let found = index.find(card, &taken);
        if let Some(m) = &found {
            taken.insert(m.guid.clone());
        }
        match (expect, found) {
            (Expect::Same(g), Some(m)) if &m.guid == g => {
                if m.exact {
                    exact += 1;
                } else {
                    merged += 1;
                }
            }
            (Expect::Same(g), Some(m)) => {
                false_merges += 1;
                duplicates += 1;
                eprintln!(
                    "copy of {g} matched {}:\n{}",
                    m.guid,
                    card.to_string_as(VCardVersion::V30)
                );
            }
            (Expect::Same(g), None) => {
                duplicates += 1;
                eprintln!(
                    "copy of {g} not matched:\n{}",
                    card.to_string_as(VCardVersion::V30)
                );
            }
            (Expect::Other, Some(m)) => {
                false_merges += 1;
                eprintln!(
                    "namesake matched {}:\n{}",
                    m.guid,
                    card.to_string_as(VCardVersion::V30)
                );
            }
            (Expect::Other, None) => {}
        }
    }
    let copies = originals.len();
    let namesakes = incoming.len() - copies;
    println!(
        "matching corpus: {copies} perturbed copies ({exact} identical, {merged} same person), \
         {namesakes} namesakes → duplicates: {duplicates}, false merges: {false_merges}"
    );
    assert_eq!(duplicates, 0, "duplicates");
    assert_eq!(false_merges, 0, "false merges");
}

/// The same corpus through real slow syncs: platform A puts the originals
/// on a syncmld server (in process: the service, the engine, the client
/// engine and driver), platform B slow-syncs the perturbed copies and the
/// namesakes. Its LUIDs must map to the originals' GUIDs (else a
/// duplicate) and the namesakes to new GUIDs (else a false merge).
#[tokio::test]
async fn slow_sync_through_the_server_has_no_duplicates_and_no_false_merges() {
    corpus_through_the_server(false).await;
}

/// The same, but platform B synced once while the server book was still
/// empty, then enters the copies and namesakes: they reach the server as
/// Adds in a two-way sync, matched through the server's persistent people
/// index instead of a slow sync's in-memory one.
#[tokio::test]
async fn adds_in_a_two_way_sync_have_no_duplicates_and_no_false_merges() {
    corpus_through_the_server(true).await;
}

async fn corpus_through_the_server(b_adds_in_two_way: bool) {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::time::Duration;
    use syncmld::engine::ConflictPolicy;
    use syncmld::engine::book::{self, Change};
    use syncmld::engine::client::{ClientConfig, DbMapping, Secret};
    use syncmld::engine::server::{ServerConfig, ServerEngine};
    use syncmld::protocol::alert;
    use syncmld::service::{ServiceLimits, SyncService};
    use syncmld::store::schema::{self, BookId, PeerId};
    use syncmld::store::{MemoryStore, Store, Txn};
    use syncmld::sync_client::{DriverOptions, LocalTransport, sync_once};

    let Some(files) = corpus() else { return };
    let mut rng = Rng(0x5EED_C0DE);
    let originals: Vec<Card> = files
        .iter()
        .map(|(_, b)| Card::parse_bytes(b).unwrap())
        .collect();

    let server_store = Arc::new(MemoryStore::new());
    syncmld::admin::add_user(server_store.as_ref(), "alice", "secret", false, false, 0).unwrap();
    let engine = ServerEngine::new(ServerConfig {
        max_msg_size: 150_000,
        max_obj_size: 4_000_000,
        schemes: vec![syncmld::auth::Scheme::Basic],
        require_registered_devices: false,
        store_name: "contacts".into(),
        contact_uris: vec!["addressbook".into()],
        conflict_policy: ConflictPolicy::Merge,
        region: Region::new("DE"),
    });
    let limits = ServiceLimits {
        session_timeout: Duration::from_secs(60),
        max_sessions: 10,
        max_finished_sessions: 100,
        fallback_url: "http://srv/sync".into(),
    };
    let dyn_store: Arc<dyn Store> = server_store.clone();
    let service = Arc::new(SyncService::new(engine, dyn_store, limits));
    let transport = LocalTransport {
        service,
        timeout: Duration::from_secs(60),
    };

    let platform = |device: &str| -> (Arc<MemoryStore>, ClientConfig) {
        let cfg = ClientConfig {
            peer: "backup".into(),
            local_user: "local".into(),
            url: "http://srv/sync".into(),
            device_id: device.into(),
            user: "alice".into(),
            secret: Secret::Password("secret".into()),
            scheme: syncmld::auth::Scheme::Basic,
            max_msg_size: 150_000,
            max_obj_size: 4_000_000,
            dbs: vec![DbMapping {
                local: "contacts".into(),
                local_uri: "./contacts".into(),
                remote_uri: "addressbook".into(),
            }],
            max_auth_retries: 2,
            conflict_preference: None,
        };
        (Arc::new(MemoryStore::new()), cfg)
    };
    let local_book = BookId {
        user: "local".into(),
        store: "contacts".into(),
    };
    let add_all = |store: &MemoryStore, cards: &[String]| -> Vec<String> {
        let mut t = Txn::new(store);
        let ids = cards
            .iter()
            .map(|text| {
                book::create(
                    &mut t,
                    &local_book,
                    &Change {
                        content_type: "text/vcard",
                        data: text,
                        origin: "",
                        now_ms: 1,
                    },
                )
                .unwrap()
            })
            .collect();
        store.commit(&t.into_batch()).unwrap();
        ids
    };

    let (b_store, b_cfg) = platform("platform-b");
    let b_dyn: Arc<dyn Store> = b_store.clone();
    if b_adds_in_two_way {
        sync_once(
            &b_cfg,
            alert::SLOW_SYNC,
            &b_dyn,
            &transport,
            &DriverOptions::default(),
            &Default::default(),
        )
        .await
        .unwrap();
    }

    // Platform A: the originals.
    let (a_store, a_cfg) = platform("platform-a");
    let a_ids = add_all(
        &a_store,
        &originals
            .iter()
            .map(|c| c.to_string_as(VCardVersion::V30))
            .collect::<Vec<_>>(),
    );
    let a_dyn: Arc<dyn Store> = a_store.clone();
    sync_once(
        &a_cfg,
        alert::SLOW_SYNC,
        &a_dyn,
        &transport,
        &DriverOptions::default(),
        &Default::default(),
    )
    .await
    .unwrap();
    let peer = |device: &str| PeerId {
        user: "alice".into(),
        device: device.into(),
        store: "contacts".into(),
    };
    let guid_of_original: Vec<String> = a_ids
        .iter()
        .map(|luid| {
            schema::guid_for_luid(&Txn::new(server_store.as_ref()), &peer("platform-a"), luid)
                .unwrap()
                .unwrap()
        })
        .collect();

    // Platform B: perturbed copies and namesakes, shuffled.
    let mut incoming: Vec<(Option<usize>, String)> = Vec::new();
    for (i, c) in originals.iter().enumerate() {
        incoming.push((
            Some(i),
            perturb(c, &mut rng).to_string_as(if i % 2 == 0 {
                VCardVersion::V30
            } else {
                VCardVersion::V21
            }),
        ));
    }
    for (i, c) in originals.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        incoming.push((
            None,
            namesake(c, i, &mut rng).to_string_as(VCardVersion::V30),
        ));
    }
    for i in (1..incoming.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        incoming.swap(i, j);
    }
    let b_ids = add_all(
        &b_store,
        &incoming.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>(),
    );
    let b_mode = if b_adds_in_two_way {
        alert::TWO_WAY
    } else {
        alert::SLOW_SYNC
    };
    let report = sync_once(
        &b_cfg,
        b_mode,
        &b_dyn,
        &transport,
        &DriverOptions::default(),
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        report.modes,
        vec![("contacts".to_string(), b_mode)],
        "{report:?}"
    );
    if b_adds_in_two_way {
        assert_eq!(report.sent.adds as usize, incoming.len(), "{report:?}");
    }

    let originals_guids: HashMap<&str, usize> = guid_of_original
        .iter()
        .enumerate()
        .map(|(i, g)| (g.as_str(), i))
        .collect();
    let (mut duplicates, mut false_merges) = (0, 0);
    for ((expect, _), luid) in incoming.iter().zip(&b_ids) {
        let guid =
            schema::guid_for_luid(&Txn::new(server_store.as_ref()), &peer("platform-b"), luid)
                .unwrap()
                .unwrap();
        match (expect, originals_guids.get(guid.as_str())) {
            (Some(i), Some(j)) if i == j => {}
            (Some(_), Some(_)) => {
                false_merges += 1;
                duplicates += 1;
            }
            (Some(_), None) => duplicates += 1,
            (None, Some(_)) => false_merges += 1,
            (None, None) => {}
        }
    }
    let server_items = schema::items_page(
        server_store.as_ref(),
        &BookId {
            user: "alice".into(),
            store: "contacts".into(),
        },
        "",
        usize::MAX,
    )
    .unwrap()
    .into_iter()
    .filter(|(_, r)| !r.deleted)
    .count();
    let namesakes = incoming.len() - originals.len();
    println!(
        "{} through the server: {} copies + {namesakes} namesakes onto {} originals → {server_items} contacts; duplicates: {duplicates}, false merges: {false_merges}",
        if b_adds_in_two_way {
            "adds in a two-way sync"
        } else {
            "slow sync"
        },
        originals.len(),
        originals.len()
    );
    assert_eq!(duplicates, 0, "duplicates");
    assert_eq!(false_merges, 0, "false merges");
    assert_eq!(server_items, originals.len() + namesakes);
}
