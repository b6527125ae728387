//! Slow-sync matching cost against book size: 10k vs 100k contacts.
//!
//! One iteration is what a slow sync does: parse every stored vCard and
//! index it, then parse every incoming vCard (the same people written by
//! another device: other phone format, other case, other version) and find
//! its match, claiming it. Linear growth = the 100k time is ~10× the 10k
//! time (docs/performance.md records the numbers).

/// The daemon's allocator (src/main.rs), so the figures are the shipped binary's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use syncmld::contacts::{Card, MatchIndex, Region};

const GIVEN: [&str; 50] = [
    "Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hans", "Ida", "Jonas", "Klara",
    "Lukas", "Mia", "Noah", "Olga", "Paul", "Quirin", "Rosa", "Sven", "Tina", "Uwe", "Vera", "Wim",
    "Xenia", "Yusuf", "Zoe", "Ali", "Bea", "Carl", "Dana", "Emil", "Fritz", "Gabi", "Heinz",
    "Ilse", "Jan", "Kai", "Lena", "Max", "Nina", "Otto", "Pia", "Rolf", "Sara", "Tom", "Ute",
    "Vito", "Wanda", "Yara", "Zeno",
];
const SYL: [&str; 20] = [
    "ber", "mann", "schu", "lz", "mei", "er", "wag", "ner", "bek", "ker", "hof", "sch", "kla",
    "us", "rich", "ter", "wolf", "hart", "bra", "un",
];

fn family(mut i: usize) -> String {
    let mut s = String::new();
    loop {
        s.push_str(SYL[i % SYL.len()]);
        i /= SYL.len();
        if i == 0 {
            break;
        }
    }
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Contact `i` as stored (3.0) and as another device sends it (2.1).
fn pair(i: usize) -> (String, String) {
    let g = GIVEN[i % GIVEN.len()];
    let f = family(i / GIVEN.len());
    let num = 10_000_000 + (i * 7_919) % 90_000_000;
    let stored = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:{f};{g};;;\r\nFN:{g} {f}\r\n\
         TEL;TYPE=CELL:+49 151 {num}\r\nTEL;TYPE=HOME:+49 30 {num}\r\n\
         EMAIL;TYPE=INTERNET:{g}.{f}.{i}@example.com\r\nORG:Firma {i}\r\n\
         NOTE:Kunde seit {}\r\nEND:VCARD\r\n",
        1990 + i % 30
    );
    let incoming = format!(
        "BEGIN:VCARD\r\nVERSION:2.1\r\nN:{};{};;;\r\nFN:{} {}\r\n\
         TEL;CELL:0151/{num}\r\nTEL;HOME:0049 30 {num}\r\n\
         EMAIL;INTERNET:{}.{}.{i}@EXAMPLE.COM\r\nEND:VCARD\r\n",
        f.to_uppercase(),
        g,
        f,
        g.to_lowercase(),
        g,
        f
    );
    (stored, incoming)
}

fn slow_sync(stored: &[String], incoming: &[String]) -> usize {
    let mut index = MatchIndex::new(Region::new("DE"));
    for (guid, text) in stored.iter().enumerate() {
        if let Ok(card) = Card::parse(text) {
            index.insert(&guid.to_string(), &card);
        }
    }
    let mut taken = HashSet::new();
    let mut matched = 0;
    for text in incoming {
        let Ok(card) = Card::parse(text) else {
            continue;
        };
        if let Some(m) = index.find(&card, &taken) {
            taken.insert(m.guid);
            matched += 1;
        }
    }
    matched
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("slow_sync_match");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for n in [10_000usize, 100_000] {
        let (stored, incoming): (Vec<String>, Vec<String>) = (0..n).map(pair).unzip();
        assert_eq!(slow_sync(&stored, &incoming), n, "every contact must match");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(slow_sync(&stored, &incoming)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
