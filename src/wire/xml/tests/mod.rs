//! Unit and property tests of the XML codec internals. Golden tests against
//! real SyncEvolution transcripts live in `tests/codec_golden.rs`.

mod encoding;
mod robustness;
mod roundtrip;
mod sizer;
mod strategies;

use crate::protocol::*;

/// A small but complete message used by several tests.
pub(super) fn sample() -> SyncMl {
    SyncMl {
        header: SyncHdr {
            ver_dtd: "1.2".into(),
            ver_proto: "SyncML/1.2".into(),
            session_id: "42".into(),
            msg_id: 3,
            target: Loc::uri("http://srv/sync"),
            source: Loc {
                loc_uri: "IMEI:1234".into(),
                loc_name: Some("alice".into()),
            },
            meta: Some(Meta {
                max_msg_size: Some(150000),
                ..Meta::default()
            }),
            ..SyncHdr::default()
        },
        body: SyncBody {
            commands: vec![
                Command::Status(Status {
                    cmd_id: 1,
                    msg_ref: 2,
                    cmd_ref: 0,
                    cmd: "SyncHdr".into(),
                    target_refs: vec!["http://srv/sync".into()],
                    source_refs: vec!["IMEI:1234".into()],
                    data: StatusCode::OK,
                    ..Status::default()
                }),
                Command::Sync(Sync {
                    cmd_id: 2,
                    target: Some(Loc::uri("./contacts")),
                    source: Some(Loc::uri("addressbook")),
                    commands: vec![Command::Add(ItemCommand {
                        cmd_id: 3,
                        meta: Some(Meta::with_type(mime::VCARD30)),
                        items: vec![Item {
                            source: Some(Loc::uri("7")),
                            data: Some(ItemData::Text(
                                "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Tom & Jerry\r\nEND:VCARD\r\n"
                                    .into(),
                            )),
                            ..Item::default()
                        }],
                        ..ItemCommand::default()
                    })],
                    ..Sync::default()
                }),
            ],
            final_: true,
        },
    }
}
