//! DevInf encoding: inline XML (not CDATA) under `<DevInf xmlns="syncml:devinf">`.

use super::element::El;
use super::writer::{NS_DEVINF, Sink, Writer};
use crate::protocol::{CtCap, CtProperty, CtTypeVer, DataStore, DevInf};

pub(crate) fn devinf<S: Sink>(w: &mut Writer<S>, d: &DevInf) {
    w.start_ns(El::DevInf, NS_DEVINF);
    w.leaf(El::VerDTD, &d.ver_dtd);
    w.leaf_opt(El::Man, d.man.as_deref());
    w.leaf_opt(El::Mod, d.mod_.as_deref());
    w.leaf_opt(El::OEM, d.oem.as_deref());
    w.leaf_opt(El::FwV, d.fw_v.as_deref());
    w.leaf_opt(El::SwV, d.sw_v.as_deref());
    w.leaf_opt(El::HwV, d.hw_v.as_deref());
    w.leaf(El::DevID, &d.dev_id);
    w.leaf(El::DevTyp, &d.dev_typ);
    w.flag(El::UTC, d.utc);
    w.flag(El::SupportLargeObjs, d.support_large_objs);
    w.flag(El::SupportNumberOfChanges, d.support_number_of_changes);
    for ds in &d.data_stores {
        data_store(w, ds);
    }
    if d.ver_dtd == "1.1" {
        // A 1.1 peer expects its own flat device-level list.
        flat_ctcaps(w, &d.ctcaps);
    } else {
        for cap in &d.ctcaps {
            ctcap(w, cap);
        }
    }
    for ext in &d.exts {
        w.start(El::Ext);
        w.leaf(El::XNam, &ext.xnam);
        for v in &ext.xval {
            w.leaf(El::XVal, v);
        }
        w.end(El::Ext);
    }
    w.end(El::DevInf);
}

fn data_store<S: Sink>(w: &mut Writer<S>, ds: &DataStore) {
    w.start(El::DataStore);
    w.leaf(El::SourceRef, &ds.source_ref);
    w.leaf_opt(El::DisplayName, ds.display_name.as_deref());
    w.leaf_num_opt(El::MaxGUIDSize, ds.max_guid_size.map(u64::from));
    ct_type_ver_opt(w, El::RxPref, ds.rx_pref.as_ref());
    for ct in &ds.rx {
        ct_type_ver(w, El::Rx, ct);
    }
    ct_type_ver_opt(w, El::TxPref, ds.tx_pref.as_ref());
    for ct in &ds.tx {
        ct_type_ver(w, El::Tx, ct);
    }
    for cap in &ds.ctcaps {
        ctcap(w, cap);
    }
    if let Some(m) = &ds.ds_mem {
        w.start(El::DSMem);
        w.flag(El::SharedMem, m.shared_mem);
        w.leaf_num_opt(El::MaxMem, m.max_mem);
        w.leaf_num_opt(El::MaxID, m.max_id);
        w.end(El::DSMem);
    }
    w.flag(El::SupportHierarchicalSync, ds.support_hierarchical_sync);
    // SyncCap needs at least one SyncType; omitted when there is none.
    if !ds.sync_types.is_empty() {
        w.start(El::SyncCap);
        for st in &ds.sync_types {
            w.leaf(El::SyncType, st);
        }
        w.end(El::SyncCap);
    }
    w.end(El::DataStore);
}

fn ct_type_ver<S: Sink>(w: &mut Writer<S>, el: El, ct: &CtTypeVer) {
    w.start(el);
    w.leaf(El::CTType, &ct.ct_type);
    if !ct.ver_ct.is_empty() {
        w.leaf(El::VerCT, &ct.ver_ct);
    }
    w.end(el);
}

fn ct_type_ver_opt<S: Sink>(w: &mut Writer<S>, el: El, ct: Option<&CtTypeVer>) {
    if let Some(ct) = ct {
        ct_type_ver(w, el, ct);
    }
}

/// DevInf 1.2 `CTCap (CTType, VerCT, FieldLevel?, Property+)`.
fn ctcap<S: Sink>(w: &mut Writer<S>, cap: &CtCap) {
    w.start(El::CTCap);
    w.leaf(El::CTType, &cap.ct_type);
    w.leaf_opt(El::VerCT, cap.ver_ct.as_deref());
    w.flag(El::FieldLevel, cap.field_level);
    for p in &cap.properties {
        property(w, p);
    }
    w.end(El::CTCap);
}

fn property<S: Sink>(w: &mut Writer<S>, p: &CtProperty) {
    w.start(El::Property);
    w.leaf(El::PropName, &p.prop_name);
    w.leaf_opt(El::DataType, p.data_type.as_deref());
    w.leaf_num_opt(El::MaxOccur, p.max_occur.map(u64::from));
    w.leaf_num_opt(El::MaxSize, p.max_size.map(u64::from));
    w.flag(El::NoTruncate, p.no_truncate);
    for v in &p.val_enums {
        w.leaf(El::ValEnum, v);
    }
    w.leaf_opt(El::DisplayName, p.display_name.as_deref());
    for param in &p.params {
        w.start(El::PropParam);
        w.leaf(El::ParamName, &param.param_name);
        w.leaf_opt(El::DataType, param.data_type.as_deref());
        for v in &param.val_enums {
            w.leaf(El::ValEnum, v);
        }
        w.leaf_opt(El::DisplayName, param.display_name.as_deref());
        w.end(El::PropParam);
    }
    w.end(El::Property);
}

/// DevInf 1.1: one CTCap with the flat list `(CTType, (PropName, ValEnum*,
/// DataType?, Size?, DisplayName?, (ParamName, ValEnum*, DataType?,
/// DisplayName?)*)*)+`. 1.1 has no VerCT, FieldLevel, MaxOccur or
/// NoTruncate, so those fields are not sent.
fn flat_ctcaps<S: Sink>(w: &mut Writer<S>, caps: &[CtCap]) {
    if caps.is_empty() {
        return;
    }
    w.start(El::CTCap);
    for cap in caps {
        w.leaf(El::CTType, &cap.ct_type);
        for p in &cap.properties {
            w.leaf(El::PropName, &p.prop_name);
            for v in &p.val_enums {
                w.leaf(El::ValEnum, v);
            }
            w.leaf_opt(El::DataType, p.data_type.as_deref());
            w.leaf_num_opt(El::Size, p.max_size.map(u64::from));
            w.leaf_opt(El::DisplayName, p.display_name.as_deref());
            for param in &p.params {
                w.leaf(El::ParamName, &param.param_name);
                for v in &param.val_enums {
                    w.leaf(El::ValEnum, v);
                }
                w.leaf_opt(El::DataType, param.data_type.as_deref());
                w.leaf_opt(El::DisplayName, param.display_name.as_deref());
            }
        }
    }
    w.end(El::CTCap);
}
