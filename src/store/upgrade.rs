//! One-time conversions of data written by older versions, run when the
//! daemon (or an admin command) opens the store, before anything reads it.
//!
//! Each conversion is idempotent and records in [`Table::Meta`] that it is
//! done, so a store opens at full speed afterwards; one interrupted midway
//! (a crash) simply runs again.

use super::schema::{OLD_MAP_GUID, OLD_MAP_LUID, key};
use super::{KeyRange, Result, Store, Table, Txn};

/// `Table::Meta` key: the form peer maps are stored in.
const MAPS_FORMAT: &[u8] = b"maps_format";
/// Peer maps as sorted chunks (see [`super::peer_map`]).
const MAPS_CHUNKED: u8 = 2;

/// Rows read per scan, and entries moved per commit (a map is never split
/// between commits, so one larger than this is one commit).
const PAGE: usize = 10_000;

/// What [`run`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Map entries moved from one row each into chunks.
    pub map_entries_chunked: usize,
}

/// Bring `store` up to the current formats.
pub fn run(store: &dyn Store) -> Result<Report> {
    Ok(Report {
        map_entries_chunked: maps_to_chunks(store)?,
    })
}

/// `(user, device, store, side, id)` of a map row in the one-row-per-entry
/// form (side "L" or "G"); `None` for anything else (chunk rows).
fn old_map_row(k: &[u8]) -> Option<(Vec<u8>, &str, String)> {
    let mut rest = k;
    let mut parts = Vec::with_capacity(5);
    for _ in 0..5 {
        let (len, tail) = rest.split_first_chunk::<2>()?;
        let (s, tail) = tail.split_at_checked(u16::from_be_bytes(*len) as usize)?;
        parts.push(std::str::from_utf8(s).ok()?);
        rest = tail;
        if parts.len() == 4 && parts[3] != OLD_MAP_LUID && parts[3] != OLD_MAP_GUID {
            return None;
        }
    }
    if !rest.is_empty() {
        return None;
    }
    // The chunked sides are the old markers in lower case.
    let side = if parts[3] == OLD_MAP_LUID { "l" } else { "g" };
    Some((
        key(&[parts[0], parts[1], parts[2], side]),
        parts[3],
        parts[4].to_owned(),
    ))
}

/// Move every map row of the old form into chunks; returns how many.
fn maps_to_chunks(store: &dyn Store) -> Result<usize> {
    if store.get(Table::Meta, MAPS_FORMAT)?.as_deref() == Some(&[MAPS_CHUNKED]) {
        return Ok(0);
    }
    let mut moved = 0;
    let mut txn_entries = 0;
    let mut txn = Txn::new(store);
    let mut current: Option<(Vec<u8>, String)> = None;
    let mut after: Option<Vec<u8>> = None;
    loop {
        let range = match &after {
            Some(k) => KeyRange {
                start: std::ops::Bound::Excluded(k.clone()),
                end: std::ops::Bound::Unbounded,
            },
            None => KeyRange::prefix(&[]),
        };
        let rows = store.scan(Table::Maps, &range, PAGE)?;
        let Some((last, _)) = rows.last() else { break };
        after = Some(last.clone());
        for (k, v) in rows {
            let Some((side, marker, id)) = old_map_row(&k) else {
                continue;
            };
            let group = (side.clone(), marker.to_owned());
            // Commit only between maps, so each map moves whole.
            if current.as_ref() != Some(&group) {
                if txn_entries >= PAGE {
                    store.commit(&txn.into_batch())?;
                    txn = Txn::new(store);
                    txn_entries = 0;
                }
                current = Some(group);
            }
            let other = String::from_utf8(v).map_err(|_| super::StoreError::Corrupt {
                table: Table::Maps.name(),
                reason: "map entry is not UTF-8".into(),
            })?;
            txn.map_insert(&side, &id, &other)?;
            txn.remove(Table::Maps, k);
            txn_entries += 1;
            moved += 1;
        }
    }
    txn.put(Table::Meta, MAPS_FORMAT.to_vec(), vec![MAPS_CHUNKED]);
    store.commit(&txn.into_batch())?;
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::{self, PeerId};
    use crate::store::{MemoryStore, SledStore};

    fn peer(device: &str) -> PeerId {
        PeerId {
            user: "alice".into(),
            device: device.into(),
            store: "contacts".into(),
        }
    }

    /// Rows as the versions before chunked maps wrote them.
    fn write_old_form(store: &dyn Store, p: &PeerId, pairs: &[(String, String)]) {
        let mut t = Txn::new(store);
        for (luid, guid) in pairs {
            for (marker, id, other) in [(OLD_MAP_LUID, luid, guid), (OLD_MAP_GUID, guid, luid)] {
                t.put(
                    Table::Maps,
                    key(&[&p.user, &p.device, &p.store, marker, id]),
                    other.as_bytes().to_vec(),
                );
            }
        }
        store.commit(&t.into_batch()).unwrap();
    }

    fn check_upgrade(store: &dyn Store) {
        let big: Vec<(String, String)> = (0..25_000)
            .map(|i| (format!("luid-{i}"), format!("{i:x}")))
            .collect();
        let small = vec![("1".to_owned(), "a".to_owned())];
        write_old_form(store, &peer("phone"), &big);
        write_old_form(store, &peer("tablet"), &small);

        let report = run(store).unwrap();
        assert_eq!(report.map_entries_chunked, 2 * (big.len() + small.len()));
        // Nothing of the old form is left, and far fewer rows hold it.
        let rows = store
            .scan(Table::Maps, &KeyRange::prefix(&[]), usize::MAX)
            .unwrap();
        assert!(rows.iter().all(|(k, _)| old_map_row(k).is_none()));
        assert!(rows.len() < 400, "{} rows", rows.len());

        let t = Txn::new(store);
        let mut got = schema::peer_maps(&t, &peer("phone")).unwrap();
        got.sort();
        let mut want = big.clone();
        want.sort();
        assert_eq!(got, want);
        for (luid, guid) in big.iter().step_by(997) {
            assert_eq!(
                schema::luid_for_guid(&t, &peer("phone"), guid).unwrap(),
                Some(luid.clone())
            );
        }
        assert_eq!(
            schema::guid_for_luid(&t, &peer("tablet"), "1").unwrap(),
            Some("a".into())
        );
        // Done once: a second run finds the marker and moves nothing.
        assert_eq!(run(store).unwrap(), Report::default());
    }

    #[test]
    fn old_one_row_maps_become_chunks_on_memory() {
        check_upgrade(&MemoryStore::new());
    }

    #[test]
    fn old_one_row_maps_become_chunks_on_sled() {
        check_upgrade(&SledStore::temporary().unwrap());
    }

    #[test]
    fn an_interrupted_upgrade_finishes_on_the_next_run() {
        let store = MemoryStore::new();
        write_old_form(&store, &peer("phone"), &[("1".into(), "a".into())]);
        // As if the previous run had moved the first map and then stopped:
        // its chunks exist, the marker does not.
        let mut t = Txn::new(&store);
        schema::put_map(&mut t, &peer("moved"), "7", "b").unwrap();
        store.commit(&t.into_batch()).unwrap();
        assert_eq!(run(&store).unwrap().map_entries_chunked, 2);
        let t = Txn::new(&store);
        assert_eq!(
            schema::guid_for_luid(&t, &peer("phone"), "1").unwrap(),
            Some("a".into())
        );
        assert_eq!(
            schema::luid_for_guid(&t, &peer("moved"), "b").unwrap(),
            Some("7".into())
        );
    }
}
