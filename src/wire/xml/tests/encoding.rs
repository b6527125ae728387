//! Exact bytes for the encoding rules that peers care about.

use crate::protocol::*;
use crate::wire::xml::{decode, encode};

fn text(msg: &SyncMl) -> String {
    String::from_utf8(encode(msg)).unwrap()
}

fn with_commands(commands: Vec<Command>) -> SyncMl {
    let mut msg = super::sample();
    msg.body.commands = commands;
    msg
}

fn add_with_data(data: &str) -> SyncMl {
    with_commands(vec![Command::Add(ItemCommand {
        cmd_id: 1,
        items: vec![Item {
            data: Some(ItemData::Text(data.into())),
            ..Item::default()
        }],
        ..ItemCommand::default()
    })])
}

#[test]
fn envelope_is_compact_with_prolog_and_root_namespace() {
    let mut msg = super::sample();
    msg.body.commands.clear();
    assert_eq!(
        text(&msg),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr>\
         <VerDTD>1.2</VerDTD><VerProto>SyncML/1.2</VerProto><SessionID>42</SessionID><MsgID>3</MsgID>\
         <Target><LocURI>http://srv/sync</LocURI></Target>\
         <Source><LocURI>IMEI:1234</LocURI><LocName>alice</LocName></Source>\
         <Meta><MaxMsgSize xmlns=\"syncml:metinf\">150000</MaxMsgSize></Meta>\
         </SyncHdr><SyncBody><Final/></SyncBody></SyncML>"
    );
    msg.header.ver_dtd = "1.1".into();
    assert!(text(&msg).contains("<SyncML xmlns=\"SYNCML:SYNCML1.1\">"));
}

/// Every item's data is CDATA: libsynthesis refuses (400) a chunk whose
/// PCDATA kind differs from the first chunk's (regression: a plain-text
/// second chunk after a CDATA first chunk failed against SyncEvolution).
#[test]
fn item_data_is_always_cdata() {
    assert!(text(&add_with_data("plain b64+/=")).contains("<Data><![CDATA[plain b64+/=]]></Data>"));
    assert!(text(&add_with_data("xxxxxxxx")).contains("<Data><![CDATA[xxxxxxxx]]></Data>"));
    assert!(text(&add_with_data("a\r\nb")).contains("<Data><![CDATA[a\r\nb]]></Data>"));
    assert!(text(&add_with_data("Tom & Jerry")).contains("<Data><![CDATA[Tom & Jerry]]></Data>"));
}

#[test]
fn cdata_terminator_is_split() {
    let msg = add_with_data("x]]>y");
    assert!(
        text(&msg).contains("<Data><![CDATA[x]]]]><![CDATA[>y]]></Data>"),
        "{}",
        text(&msg)
    );
    assert_eq!(decode(&encode(&msg)), Ok(msg));
}

#[test]
fn other_text_is_escaped() {
    let msg = with_commands(vec![Command::Delete(ItemCommand {
        cmd_id: 1,
        items: vec![Item {
            source: Some(Loc::uri("a&b<c>d\re")),
            ..Item::default()
        }],
        ..ItemCommand::default()
    })]);
    assert!(text(&msg).contains("<LocURI>a&amp;b&lt;c&gt;d&#13;e</LocURI>"));
    assert_eq!(decode(&encode(&msg)), Ok(msg));
}

#[test]
fn every_metinf_element_declares_its_namespace() {
    let meta = Meta {
        format: Some("b64".into()),
        type_: Some(auth_type::MD5.into()),
        anchor: Some(Anchor {
            last: Some("1".into()),
            next: "2".into(),
        }),
        emi: vec!["x".into()],
        mem: Some(Mem {
            shared_mem: true,
            free_mem: Some(5),
            free_id: None,
        }),
        ..Meta::default()
    };
    let msg = with_commands(vec![Command::Status(Status {
        cmd_id: 1,
        msg_ref: 1,
        cmd: "Alert".into(),
        data: StatusCode::OK,
        chal: Some(Chal { meta }),
        items: vec![Item {
            data: Some(ItemData::Anchor(Anchor {
                last: None,
                next: "n".into(),
            })),
            ..Item::default()
        }],
        ..Status::default()
    })]);
    let t = text(&msg);
    assert!(
        t.contains(
            "<Chal><Meta><Format xmlns=\"syncml:metinf\">b64</Format>\
             <Type xmlns=\"syncml:metinf\">syncml:auth-md5</Type>\
             <Anchor xmlns=\"syncml:metinf\"><Last>1</Last><Next>2</Next></Anchor>\
             <EMI xmlns=\"syncml:metinf\">x</EMI>\
             <Mem xmlns=\"syncml:metinf\"><SharedMem/><FreeMem>5</FreeMem></Mem></Meta></Chal>"
        ),
        "{t}"
    );
    assert!(t.contains(
        "<Item><Data><Anchor xmlns=\"syncml:metinf\"><Next>n</Next></Anchor></Data></Item>"
    ));
}

#[test]
fn status_always_has_msg_ref_and_empty_fields_are_omitted() {
    let msg = with_commands(vec![Command::Status(Status {
        cmd_id: 4,
        msg_ref: 1,
        cmd_ref: 2,
        cmd: "Add".into(),
        data: StatusCode::ITEM_ADDED,
        ..Status::default()
    })]);
    assert!(text(&msg).contains(
        "<Status><CmdID>4</CmdID><MsgRef>1</MsgRef><CmdRef>2</CmdRef><Cmd>Add</Cmd><Data>201</Data></Status>"
    ));
}

#[test]
fn devinf_is_inline_in_its_namespace() {
    let msg = with_commands(vec![Command::Results(Results {
        cmd_id: 1,
        msg_ref: 1,
        cmd_ref: 2,
        items: vec![Item {
            data: Some(ItemData::DevInf(Box::new(DevInf {
                ver_dtd: "1.2".into(),
                dev_id: "srv".into(),
                dev_typ: "server".into(),
                utc: true,
                ..DevInf::default()
            }))),
            ..Item::default()
        }],
        ..Results::default()
    })]);
    assert!(text(&msg).contains(
        "<Data><DevInf xmlns=\"syncml:devinf\"><VerDTD>1.2</VerDTD><DevID>srv</DevID>\
         <DevTyp>server</DevTyp><UTC/></DevInf></Data>"
    ));
}
