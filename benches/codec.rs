//! XML decode and encode of a Sync message with 1,000 Add items (the size
//! of a slow sync's package 3 at a large MaxMsgSize).

/// The daemon's allocator (src/main.rs), so the figures are the shipped binary's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use syncmld::bench::vcards;
use syncmld::protocol::{
    Command, Item, ItemCommand, ItemData, Loc, Meta, Sync, SyncBody, SyncHdr, SyncMl,
};
use syncmld::wire::xml;

fn message(items: usize) -> SyncMl {
    let adds = (0..items)
        .map(|i| {
            Command::Add(ItemCommand {
                cmd_id: i as u32 + 2,
                meta: Some(Meta::with_type("text/vcard")),
                items: vec![Item {
                    source: Some(Loc::uri(i.to_string())),
                    data: Some(ItemData::Text(vcards::generated(1, i as u64))),
                    ..Item::default()
                }],
                ..ItemCommand::default()
            })
        })
        .collect();
    SyncMl {
        header: SyncHdr {
            ver_dtd: "1.2".into(),
            ver_proto: "SyncML/1.2".into(),
            session_id: "1".into(),
            msg_id: 2,
            target: Loc::uri("http://127.0.0.1/sync?sessionid=0123456789abcdef01234567"),
            source: Loc::uri("bench-device"),
            ..SyncHdr::default()
        },
        body: SyncBody {
            commands: vec![Command::Sync(Sync {
                cmd_id: 1,
                target: Some(Loc::uri("addressbook")),
                source: Some(Loc::uri("./contacts")),
                commands: adds,
                ..Sync::default()
            })],
            final_: true,
        },
    }
}

fn codec(c: &mut Criterion) {
    let msg = message(1000);
    let bytes = xml::encode(&msg);
    let mut g = c.benchmark_group("xml_sync_1000_items");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| xml::decode(black_box(&bytes)).map(|m| m.body.commands.len()))
    });
    g.bench_function("encode", |b| b.iter(|| xml::encode(black_box(&msg)).len()));
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
