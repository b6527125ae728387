//! proptest strategies for the message model, limited to what XML can carry
//! and the decoder keeps: simple values have no surrounding whitespace
//! (they are trimmed on decode), no XML-forbidden control characters.

use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

use crate::protocol::*;

/// A simple value (LocURI, Type, anchors...): markup characters and
/// non-ASCII included, never leading or trailing whitespace.
pub fn value() -> BoxedStrategy<String> {
    "[a-zA-Z0-9&<>\"'./:?=_ é€😀-]{0,10}"
        .prop_map(|s| s.trim().to_owned())
        .boxed()
}

/// Item Data text: anything XML can carry, including CR, LF, `]]>`, and
/// leading or trailing whitespace.
pub fn data_text() -> BoxedStrategy<String> {
    prop_oneof![
        "[a-zA-Z0-9 \t\r\n<>&;\\]\\[é😀]{0,40}",
        ("[a-z\r\n]{0,5}", "[a-z<]{0,5}").prop_map(|(a, b)| format!("{a}]]>{b}]]]>")),
    ]
    .boxed()
}

fn names() -> BoxedStrategy<String> {
    prop_oneof![
        Just("Atomic".to_owned()),
        Just("Sequence".to_owned()),
        Just("Exec".to_owned()),
        Just("Search".to_owned()),
        Just("Move".to_owned()),
        Just("X-VendorCmd".to_owned()),
    ]
    .boxed()
}

pub fn loc() -> BoxedStrategy<Loc> {
    (value(), of(value()))
        .prop_map(|(loc_uri, loc_name)| Loc { loc_uri, loc_name })
        .boxed()
}

pub fn anchor() -> BoxedStrategy<Anchor> {
    (of(value()), value())
        .prop_map(|(last, next)| Anchor { last, next })
        .boxed()
}

pub fn meta() -> BoxedStrategy<Meta> {
    let mem = (any::<bool>(), of(any::<u64>()), of(any::<u64>())).prop_map(
        |(shared_mem, free_mem, free_id)| Mem {
            shared_mem,
            free_mem,
            free_id,
        },
    );
    (
        (
            of(value()),
            of(value()),
            of(value()),
            of(any::<u64>()),
            of(anchor()),
        ),
        (
            of(value()),
            of(value()),
            of(any::<u64>()),
            of(any::<u64>()),
            vec(value(), 0..3),
            of(mem),
        ),
    )
        .prop_map(
            |((format, type_, mark, size, anchor), (version, next_nonce, mms, mos, emi, mem))| {
                Meta {
                    format,
                    type_,
                    mark,
                    size,
                    anchor,
                    version,
                    next_nonce,
                    max_msg_size: mms,
                    max_obj_size: mos,
                    emi,
                    mem,
                }
            },
        )
        .boxed()
}

pub fn cred() -> BoxedStrategy<Cred> {
    (of(meta()), value())
        .prop_map(|(meta, data)| Cred { meta, data })
        .boxed()
}

fn ct_type_ver() -> BoxedStrategy<CtTypeVer> {
    (value(), value())
        .prop_map(|(ct_type, ver_ct)| CtTypeVer { ct_type, ver_ct })
        .boxed()
}

fn prop_param() -> BoxedStrategy<PropParam> {
    (value(), of(value()), vec(value(), 0..3), of(value()))
        .prop_map(
            |(param_name, data_type, val_enums, display_name)| PropParam {
                param_name,
                data_type,
                val_enums,
                display_name,
            },
        )
        .boxed()
}

fn property() -> BoxedStrategy<CtProperty> {
    (
        (
            value(),
            of(value()),
            of(any::<u32>()),
            of(any::<u32>()),
            any::<bool>(),
        ),
        (vec(value(), 0..3), of(value()), vec(prop_param(), 0..2)),
    )
        .prop_map(
            |(
                (prop_name, data_type, max_occur, max_size, no_truncate),
                (val_enums, display_name, params),
            )| {
                CtProperty {
                    prop_name,
                    data_type,
                    max_occur,
                    max_size,
                    no_truncate,
                    val_enums,
                    display_name,
                    params,
                }
            },
        )
        .boxed()
}

pub fn ctcap() -> BoxedStrategy<CtCap> {
    (value(), of(value()), any::<bool>(), vec(property(), 0..3))
        .prop_map(|(ct_type, ver_ct, field_level, properties)| CtCap {
            ct_type,
            ver_ct,
            field_level,
            properties,
        })
        .boxed()
}

fn data_store() -> BoxedStrategy<DataStore> {
    let ds_mem = (any::<bool>(), of(any::<u64>()), of(any::<u64>())).prop_map(
        |(shared_mem, max_mem, max_id)| DsMem {
            shared_mem,
            max_mem,
            max_id,
        },
    );
    (
        (
            value(),
            of(value()),
            of(any::<u32>()),
            of(ct_type_ver()),
            vec(ct_type_ver(), 0..2),
        ),
        (
            of(ct_type_ver()),
            vec(ct_type_ver(), 0..2),
            vec(ctcap(), 0..2),
            of(ds_mem),
        ),
        (any::<bool>(), vec(value(), 0..3)),
    )
        .prop_map(
            |(
                (source_ref, display_name, max_guid_size, rx_pref, rx),
                (tx_pref, tx, ctcaps, ds_mem),
                (shs, sync_types),
            )| {
                DataStore {
                    source_ref,
                    display_name,
                    max_guid_size,
                    rx_pref,
                    rx,
                    tx_pref,
                    tx,
                    ctcaps,
                    ds_mem,
                    support_hierarchical_sync: shs,
                    sync_types,
                }
            },
        )
        .boxed()
}

/// A DevInf 1.2 (device-level CTCaps are written in the structured form).
pub fn devinf() -> BoxedStrategy<DevInf> {
    let ext = (value(), vec(value(), 0..3)).prop_map(|(xnam, xval)| Ext { xnam, xval });
    (
        (
            of(value()),
            of(value()),
            of(value()),
            of(value()),
            of(value()),
            of(value()),
        ),
        (
            value(),
            value(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
        (vec(data_store(), 0..2), vec(ctcap(), 0..2), vec(ext, 0..2)),
    )
        .prop_map(
            |(
                (man, mod_, oem, fw_v, sw_v, hw_v),
                (dev_id, dev_typ, utc, slo, snoc),
                (data_stores, ctcaps, exts),
            )| {
                DevInf {
                    ver_dtd: "1.2".into(),
                    man,
                    mod_,
                    oem,
                    fw_v,
                    sw_v,
                    hw_v,
                    dev_id,
                    dev_typ,
                    utc,
                    support_large_objs: slo,
                    support_number_of_changes: snoc,
                    data_stores,
                    ctcaps,
                    exts,
                }
            },
        )
        .boxed()
}

fn item_data() -> BoxedStrategy<ItemData> {
    prop_oneof![
        4 => data_text().prop_map(ItemData::Text),
        1 => devinf().prop_map(|d| ItemData::DevInf(Box::new(d))),
        1 => anchor().prop_map(ItemData::Anchor),
    ]
    .boxed()
}

pub fn item() -> BoxedStrategy<Item> {
    (
        (of(loc()), of(loc()), of(value()), of(value())),
        (of(meta()), of(item_data()), any::<bool>()),
    )
        .prop_map(
            |((target, source, source_parent, target_parent), (meta, data, more_data))| Item {
                target,
                source,
                source_parent,
                target_parent,
                meta,
                data,
                more_data,
            },
        )
        .boxed()
}

fn item_command() -> BoxedStrategy<ItemCommand> {
    (
        any::<u32>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        of(cred()),
        of(meta()),
        vec(item(), 0..3),
    )
        .prop_map(
            |(cmd_id, no_resp, archive, sft_del, cred, meta, items)| ItemCommand {
                cmd_id,
                no_resp,
                archive,
                sft_del,
                cred,
                meta,
                items,
            },
        )
        .boxed()
}

fn unsupported() -> BoxedStrategy<Unsupported> {
    (names(), any::<u32>(), any::<bool>())
        .prop_map(|(name, cmd_id, no_resp)| Unsupported {
            name,
            cmd_id,
            no_resp,
        })
        .boxed()
}

/// What may appear inside a Sync.
fn sync_op() -> BoxedStrategy<Command> {
    prop_oneof![
        item_command().prop_map(Command::Add),
        item_command().prop_map(Command::Replace),
        item_command().prop_map(Command::Delete),
        item_command().prop_map(Command::Copy),
        unsupported().prop_map(Command::Unsupported),
    ]
    .boxed()
}

fn status() -> BoxedStrategy<Status> {
    let chal = meta().prop_map(|meta| Chal { meta });
    (
        (any::<u32>(), any::<u32>(), any::<u32>(), value()),
        (
            vec(value(), 0..3),
            vec(value(), 0..3),
            of(cred()),
            of(chal),
            any::<u16>(),
            vec(item(), 0..2),
        ),
    )
        .prop_map(
            |(
                (cmd_id, msg_ref, cmd_ref, cmd),
                (target_refs, source_refs, cred, chal, data, items),
            )| Status {
                cmd_id,
                msg_ref,
                cmd_ref,
                cmd,
                target_refs,
                source_refs,
                cred,
                chal,
                data: StatusCode(data),
                items,
            },
        )
        .boxed()
}

fn alert() -> BoxedStrategy<Alert> {
    (
        any::<u32>(),
        any::<bool>(),
        of(cred()),
        of(any::<u16>()),
        of(value()),
        vec(item(), 0..3),
    )
        .prop_map(|(cmd_id, no_resp, cred, data, correlator, items)| Alert {
            cmd_id,
            no_resp,
            cred,
            data,
            correlator,
            items,
        })
        .boxed()
}

fn sync() -> BoxedStrategy<Sync> {
    (
        (
            any::<u32>(),
            any::<bool>(),
            of(cred()),
            of(loc()),
            of(loc()),
        ),
        (of(meta()), of(any::<u32>()), vec(sync_op(), 0..4)),
    )
        .prop_map(
            |((cmd_id, no_resp, cred, target, source), (meta, number_of_changes, commands))| Sync {
                cmd_id,
                no_resp,
                cred,
                target,
                source,
                meta,
                number_of_changes,
                commands,
            },
        )
        .boxed()
}

fn map() -> BoxedStrategy<Map> {
    let map_item = (loc(), loc()).prop_map(|(target, source)| MapItem { target, source });
    (
        any::<u32>(),
        loc(),
        loc(),
        of(cred()),
        of(meta()),
        vec(map_item, 0..3),
    )
        .prop_map(|(cmd_id, target, source, cred, meta, items)| Map {
            cmd_id,
            target,
            source,
            cred,
            meta,
            items,
        })
        .boxed()
}

fn put_get() -> BoxedStrategy<PutGet> {
    (
        any::<u32>(),
        any::<bool>(),
        of(value()),
        of(cred()),
        of(meta()),
        vec(item(), 0..2),
    )
        .prop_map(|(cmd_id, no_resp, lang, cred, meta, items)| PutGet {
            cmd_id,
            no_resp,
            lang,
            cred,
            meta,
            items,
        })
        .boxed()
}

fn results() -> BoxedStrategy<Results> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        of(meta()),
        of(value()),
        of(value()),
        vec(item(), 0..2),
    )
        .prop_map(
            |(cmd_id, msg_ref, cmd_ref, meta, target_ref, source_ref, items)| Results {
                cmd_id,
                msg_ref,
                cmd_ref,
                meta,
                target_ref,
                source_ref,
                items,
            },
        )
        .boxed()
}

/// Any command of a SyncBody.
pub fn command() -> BoxedStrategy<Command> {
    prop_oneof![
        status().prop_map(Command::Status),
        alert().prop_map(Command::Alert),
        sync().prop_map(Command::Sync),
        item_command().prop_map(Command::Add),
        item_command().prop_map(Command::Replace),
        item_command().prop_map(Command::Delete),
        item_command().prop_map(Command::Copy),
        map().prop_map(Command::Map),
        put_get().prop_map(Command::Put),
        put_get().prop_map(Command::Get),
        results().prop_map(Command::Results),
        unsupported().prop_map(Command::Unsupported),
    ]
    .boxed()
}

pub fn sync_hdr() -> BoxedStrategy<SyncHdr> {
    (
        (
            prop_oneof![Just("1.2".to_owned()), Just("1.1".to_owned()), value()],
            value(),
            value(),
            any::<u32>(),
        ),
        (
            loc(),
            loc(),
            of(value()),
            any::<bool>(),
            of(cred()),
            of(meta()),
        ),
    )
        .prop_map(
            |(
                (ver_dtd, ver_proto, session_id, msg_id),
                (target, source, resp_uri, no_resp, cred, meta),
            )| {
                SyncHdr {
                    ver_dtd,
                    ver_proto,
                    session_id,
                    msg_id,
                    target,
                    source,
                    resp_uri,
                    no_resp,
                    cred,
                    meta,
                }
            },
        )
        .boxed()
}

pub fn message() -> BoxedStrategy<SyncMl> {
    (sync_hdr(), vec(command(), 0..5), any::<bool>())
        .prop_map(|(header, commands, final_)| SyncMl {
            header,
            body: SyncBody { commands, final_ },
        })
        .boxed()
}
