//! The server's own DevInf and reading a peer's.

use crate::protocol::{CtTypeVer, DataStore, DevInf, mime};
use crate::store::schema::PeerCaps;

/// Our DevInf 1.2: one DataStore per datastore name clients use, so a
/// client that picks "the DataStore whose SourceRef matches the URI it
/// alerts" (SyncEvolution) finds an exact match. No CTCap: we keep every
/// property, so peers should send everything they have.
pub fn server_devinf(dev_id: &str, uris: &[String]) -> DevInf {
    let vcard30 = CtTypeVer::new(mime::VCARD30, "3.0");
    let vcard21 = CtTypeVer::new(mime::VCARD21, "2.1");
    DevInf {
        ver_dtd: "1.2".into(),
        man: Some("syncmld".into()),
        mod_: Some("syncmld".into()),
        oem: None,
        fw_v: None,
        sw_v: Some(env!("CARGO_PKG_VERSION").into()),
        hw_v: None,
        dev_id: dev_id.into(),
        dev_typ: "server".into(),
        utc: true,
        support_large_objs: true,
        support_number_of_changes: true,
        data_stores: uris
            .iter()
            .map(|uri| DataStore {
                source_ref: uri.clone(),
                display_name: Some("Contacts".into()),
                max_guid_size: None,
                rx_pref: Some(vcard30.clone()),
                rx: vec![vcard21.clone()],
                tx_pref: Some(vcard30.clone()),
                tx: vec![vcard21.clone()],
                ctcaps: Vec::new(),
                ds_mem: None,
                support_hierarchical_sync: false,
                sync_types: (1..=7).map(|n: u32| n.to_string()).collect(),
            })
            .collect(),
        ctcaps: Vec::new(),
        exts: Vec::new(),
    }
}

/// What we keep of a peer's DevInf. `store_uri` is the client's datastore
/// LocURI when known (its Rx-Pref decides the format we send).
pub fn peer_caps(d: &DevInf, store_uri: Option<&str>) -> PeerCaps {
    let ds = store_uri
        .and_then(|u| d.data_store(u))
        .or_else(|| d.data_stores.first());
    PeerCaps {
        man: d.man.clone(),
        model: d.mod_.clone(),
        sw_version: d.sw_v.clone(),
        large_objects: d.support_large_objs,
        number_of_changes: d.support_number_of_changes,
        max_guid_size: ds.and_then(|s| s.max_guid_size),
        rx_pref: ds
            .and_then(|s| s.rx_pref.as_ref())
            .map(|r| (r.ct_type.clone(), r.ver_ct.clone())),
        ctcap_props: ctcap_props(d, ds),
    }
}

/// Property names of the CTCap for the datastore's preferred type (DevInf
/// 1.2 puts CTCaps in the DataStore, 1.1 at device level); empty when the
/// device sent none (then it is taken to store everything).
fn ctcap_props(d: &DevInf, ds: Option<&crate::protocol::DataStore>) -> Vec<String> {
    let pref = ds.and_then(|s| s.rx_pref.as_ref());
    let caps = ds
        .map(|s| s.ctcaps.as_slice())
        .filter(|c| !c.is_empty())
        .unwrap_or(&d.ctcaps);
    let cap = caps
        .iter()
        .find(|c| pref.is_some_and(|p| c.ct_type.eq_ignore_ascii_case(&p.ct_type)))
        .or_else(|| caps.first());
    let mut names: Vec<String> = cap
        .map(|c| {
            c.properties
                .iter()
                .map(|p| p.prop_name.to_ascii_uppercase())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.dedup();
    names
}
