//! Building the commands a script sends.

use crate::protocol::{
    Alert, Anchor, Command, CtTypeVer, DataStore, DevInf, Item, ItemCommand, ItemData, Loc, Map,
    MapItem, Meta, PutGet, Sync, SyncMl, alert, mime,
};

use super::LOCAL_DB;

/// A sync Alert for the server's `datastore` from our [`LOCAL_DB`].
pub fn sync_alert(code: u16, datastore: &str, last: Option<String>, next: String) -> Command {
    Command::Alert(Alert {
        data: Some(code),
        items: vec![Item {
            target: Some(Loc::uri(datastore)),
            source: Some(Loc::uri(LOCAL_DB)),
            meta: Some(Meta {
                anchor: Some(Anchor { last, next }),
                max_obj_size: Some(4_000_000),
                ..Meta::default()
            }),
            ..Item::default()
        }],
        ..Alert::default()
    })
}

/// A Sync for `datastore` holding `ops`.
pub fn sync(datastore: &str, ops: Vec<Command>) -> Command {
    Command::Sync(Sync {
        target: Some(Loc::uri(datastore)),
        source: Some(Loc::uri(LOCAL_DB)),
        commands: ops,
        ..Sync::default()
    })
}

/// An Add/Replace (with vCard data) or Delete (without) of our `luid`.
pub fn item_op(kind: &str, luid: &str, vcard: Option<&str>) -> Command {
    let c = ItemCommand {
        meta: vcard.map(|_| Meta::with_type(mime::VCARD30)),
        items: vec![Item {
            source: Some(Loc::uri(luid)),
            data: vcard.map(|v| ItemData::Text(v.to_owned())),
            ..Item::default()
        }],
        ..ItemCommand::default()
    };
    match kind {
        "Add" => Command::Add(c),
        "Replace" => Command::Replace(c),
        _ => Command::Delete(c),
    }
}

/// A Map of (our LUID, server GUID) pairs.
pub fn map(datastore: &str, items: &[(String, String)]) -> Command {
    Command::Map(Map {
        target: Loc::uri(datastore),
        source: Loc::uri(LOCAL_DB),
        items: items
            .iter()
            .map(|(luid, guid)| MapItem {
                target: Loc::uri(guid),
                source: Loc::uri(luid),
            })
            .collect(),
        ..Map::default()
    })
}

/// `Put ./devinf12` with our DevInf.
pub fn put_devinf(device: &str) -> Command {
    Command::Put(PutGet {
        meta: Some(Meta::with_type(mime::DEVINF_XML)),
        items: vec![Item {
            source: Some(Loc::uri("./devinf12")),
            data: Some(ItemData::DevInf(Box::new(devinf(device)))),
            ..Item::default()
        }],
        ..PutGet::default()
    })
}

/// `Get ./devinf12`.
pub fn get_devinf() -> Command {
    Command::Get(PutGet {
        meta: Some(Meta::with_type(mime::DEVINF_XML)),
        items: vec![Item {
            target: Some(Loc::uri("./devinf12")),
            ..Item::default()
        }],
        ..PutGet::default()
    })
}

/// Alert 222: "go on with your package".
pub fn next_message(reply: &SyncMl, device: &str) -> Command {
    Command::Alert(Alert {
        data: Some(alert::NEXT_MESSAGE),
        items: vec![Item {
            target: Some(Loc::uri(&reply.header.source.loc_uri)),
            source: Some(Loc::uri(device)),
            ..Item::default()
        }],
        ..Alert::default()
    })
}

/// The scripted client's DevInf: vCard 3.0 preferred, 2.1 accepted, every
/// sync type, no large objects (the script does not split items).
pub fn devinf(device: &str) -> DevInf {
    let vcard30 = CtTypeVer::new(mime::VCARD30, "3.0");
    let vcard21 = CtTypeVer::new(mime::VCARD21, "2.1");
    DevInf {
        ver_dtd: "1.2".into(),
        man: Some("syncmld".into()),
        mod_: Some("syncmld conformance".into()),
        sw_v: Some(env!("CARGO_PKG_VERSION").into()),
        dev_id: device.to_owned(),
        dev_typ: "workstation".into(),
        utc: true,
        support_large_objs: false,
        support_number_of_changes: true,
        data_stores: vec![DataStore {
            source_ref: LOCAL_DB.into(),
            max_guid_size: Some(32),
            rx_pref: Some(vcard30.clone()),
            rx: vec![vcard21.clone()],
            tx_pref: Some(vcard30),
            tx: vec![vcard21],
            sync_types: (1..=7).map(|n: u32| n.to_string()).collect(),
            ..DataStore::default()
        }],
        ..DevInf::default()
    }
}
