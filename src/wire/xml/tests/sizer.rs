use proptest::prelude::*;

use super::strategies;
use crate::protocol::*;
use crate::wire::Sizer;
use crate::wire::xml::{XmlSizer, encode};

/// `<Final/>` is always counted by `envelope_len`.
const FINAL_LEN: usize = "<Final/>".len();

fn predicted(msg: &SyncMl) -> usize {
    XmlSizer.envelope_len(&msg.header)
        + msg
            .body
            .commands
            .iter()
            .map(|c| XmlSizer.command_len(c))
            .sum::<usize>()
}

#[test]
fn exact_for_final_message() {
    let msg = super::sample();
    assert!(msg.body.final_);
    assert_eq!(encode(&msg).len(), predicted(&msg));
}

#[test]
fn over_by_final_tag_for_non_final_message() {
    let mut msg = super::sample();
    msg.body.final_ = false;
    assert_eq!(encode(&msg).len() + FINAL_LEN, predicted(&msg));
}

#[test]
fn envelope_is_an_empty_final_message() {
    let mut msg = super::sample();
    msg.body.commands.clear();
    assert_eq!(XmlSizer.envelope_len(&msg.header), encode(&msg).len());
}

#[test]
fn envelope_follows_the_root_namespace() {
    let mut hdr = super::sample().header;
    let v12 = XmlSizer.envelope_len(&hdr);
    hdr.ver_dtd = "1.1".into();
    // "SYNCML:SYNCML1.1" and "SYNCML:SYNCML1.2" have the same length.
    assert_eq!(XmlSizer.envelope_len(&hdr), v12);
}

#[test]
fn command_len_counts_escapes_cdata_and_nesting() {
    let msg = super::sample();
    let sync = &msg.body.commands[1];
    let mut only_sync = msg.clone();
    only_sync.body.commands = vec![sync.clone()];
    let mut empty = msg.clone();
    empty.body.commands.clear();
    assert_eq!(
        XmlSizer.command_len(sync),
        encode(&only_sync).len() - encode(&empty).len()
    );

    // A `]]>` in item data costs one extra CDATA section.
    let item = |text: &str| {
        Command::Add(ItemCommand {
            cmd_id: 1,
            items: vec![Item {
                data: Some(ItemData::Text(text.into())),
                ..Item::default()
            }],
            ..ItemCommand::default()
        })
    };
    let split = "]]><![CDATA[".len();
    assert_eq!(
        XmlSizer.command_len(&item("a\n]]>b")),
        XmlSizer.command_len(&item("a\n>>>b")) + split
    );
    // Item data is always CDATA: markup characters cost nothing extra.
    assert_eq!(
        XmlSizer.command_len(&item("a&b")),
        XmlSizer.command_len(&item("abc"))
    );
    assert_eq!(
        XmlSizer.command_len(&item("x")) + 1,
        XmlSizer.command_len(&item("xy"))
    );
    // Other text is escaped: "&" becomes "&amp;", 4 more bytes.
    let uri = |uri: &str| {
        Command::Delete(ItemCommand {
            cmd_id: 1,
            items: vec![Item {
                source: Some(Loc::uri(uri)),
                ..Item::default()
            }],
            ..ItemCommand::default()
        })
    };
    assert_eq!(
        XmlSizer.command_len(&uri("a&b")),
        XmlSizer.command_len(&uri("abc")) + 4
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn sizer_is_exact(msg in strategies::message()) {
        let actual = encode(&msg).len();
        let slack = if msg.body.final_ { 0 } else { FINAL_LEN };
        prop_assert_eq!(actual + slack, predicted(&msg));
    }
}
