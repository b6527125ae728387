//! The decoder must return an error, never panic, on any input.

use proptest::prelude::*;

use crate::wire::xml::decode;

const TRANSCRIPTS: &[&[u8]] = &[
    include_bytes!("../../../../tests/data/codec/01-first-slow-sync/01-client.xml"),
    include_bytes!("../../../../tests/data/codec/01-first-slow-sync/02-server.xml"),
    include_bytes!("../../../../tests/data/codec/01-first-slow-sync/03-client.xml"),
    include_bytes!("../../../../tests/data/codec/13-multi-message-large-object/04-server.xml"),
    include_bytes!("../../../../tests/data/codec/11-auth-failure/02-server.xml"),
];

/// A byte-level edit of a valid message.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let markup = prop_oneof![
        Just(b"<".to_vec()),
        Just(b"</Item>".to_vec()),
        Just(b"<Data>".to_vec()),
        Just(b"&amp;".to_vec()),
        Just(b"&bogus;".to_vec()),
        Just(b"&#0;".to_vec()),
        Just(b"<![CDATA[".to_vec()),
        Just(b"]]>".to_vec()),
        Just(b"<CmdID>x</CmdID>".to_vec()),
        Just(b"<x:Y xmlns:x='u'/>".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..8),
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), markup).prop_map(|(i, m)| Mutation::Insert(i, m)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn apply(input: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut v = input.to_vec();
    for m in mutations {
        let len = v.len().max(1);
        match m {
            Mutation::Truncate(i) => v.truncate(i % len),
            Mutation::Flip(i, b) => {
                if !v.is_empty() {
                    let i = i % v.len();
                    v[i] ^= b;
                }
            }
            Mutation::Insert(i, bytes) => {
                let i = i % (v.len() + 1);
                v.splice(i..i, bytes.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let i = i % len;
                let end = (i + n).min(v.len());
                if i < end {
                    v.drain(i..end);
                }
            }
            Mutation::Duplicate(i, n) => {
                let i = i % len;
                let end = (i + n).min(v.len());
                if i < end {
                    let copy = v[i..end].to_vec();
                    v.splice(end..end, copy);
                }
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_do_not_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn xmlish_input_does_not_panic(
        body in "(<[/]?[A-Za-z:]{1,9}/?>|&[a-z#0-9]{0,5};?|<!\\[CDATA\\[|\\]\\]>|<!--|-->|<\\?x|[0-9a-z <>&]){0,80}"
    ) {
        let _ = decode(format!("<SyncML>{body}").as_bytes());
        let _ = decode(body.as_bytes());
    }

    #[test]
    fn mutated_transcripts_do_not_panic(
        which in 0..TRANSCRIPTS.len(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let _ = decode(&apply(TRANSCRIPTS[which], &mutations));
    }
}

#[test]
fn deep_nesting_does_not_overflow() {
    let depth = 200_000;
    let mut s = String::from("<SyncML><SyncBody>");
    s.push_str(&"<Atomic>".repeat(depth));
    s.push_str(&"</Atomic>".repeat(depth));
    s.push_str("</SyncBody></SyncML>");
    assert!(decode(s.as_bytes()).is_err()); // no SyncHdr, but no stack overflow either
    let mut s = String::from("<SyncML><SyncHdr><Meta>");
    s.push_str(&"<MetInf>".repeat(depth));
    s.push_str(&"</MetInf>".repeat(depth));
    s.push_str("</Meta></SyncHdr></SyncML>");
    assert!(decode(s.as_bytes()).is_err());
}
