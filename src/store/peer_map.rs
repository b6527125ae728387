//! Per-peer LUID↔GUID maps, stored as sorted chunks of entries.
//!
//! A map has two sides (LUID→GUID and GUID→LUID), each a run of chunk rows
//! in [`Table::Maps`] keyed `(user, device, store, side) ++ first id`: the
//! side's tuple prefix followed by the chunk's id in raw bytes, so key order
//! is id order. A chunk holds the entries from its id up to the next chunk's
//! id; the chunk with the empty id holds everything before the first other
//! chunk (it is created on demand, so a lookup always has a chunk).
//!
//! Why chunks: a new device's slow sync maps every card it has, and one
//! row per entry and side made sled's inserts the largest single cost of a
//! 10,000-card slow sync (20,000 rows, ~180 ms of its ~400 ms). Ids a peer
//! sends in one message are mostly neighbours (counters, creation order), so
//! a message touches a few chunks per side.
//!
//! [`MapCache`] is the per-[`Txn`](super::Txn) view: chunks are read once
//! per message and edited in place in their stored form (no entry is ever
//! decoded into strings but the answers to lookups), then written back when
//! the Txn becomes a batch, each split into pieces of at most about
//! [`CHUNK_BYTES`]. A chunk that one message grows past [`SPLIT_BYTES`] is
//! halved in the cache, which bounds the bytes an edit moves. A chunk that
//! became empty is removed; chunks are never merged (a map that shrank
//! keeps smaller chunks, which costs nothing but rows).

use std::collections::BTreeMap;
use std::ops::Bound;

use super::schema::push_str;
use super::{KeyRange, KvRead, Result, StoreError, Table};

/// Target size of one stored chunk. Large enough that a slow sync writes
/// few rows, small enough that an incremental session's single change
/// rewrites little.
pub const CHUNK_BYTES: usize = 4096;

/// A cached chunk a message has grown past this is halved (edits move
/// its bytes; this bounds what one edit moves).
const SPLIT_BYTES: usize = 16 * CHUNK_BYTES;

/// Leading byte of a chunk value (its format).
const FORMAT: u8 = 1;

/// A side of one peer's map, named by its key prefix:
/// `(user, device, store, side)` as a tuple.
pub type SidePrefix = Vec<u8>;

/// A chunk's entries, always in their stored form — [`FORMAT`], then each
/// entry's id and other id length-prefixed, in id order — with where each
/// entry starts. A lookup binary-searches the bytes and a change edits them
/// in place, so a message that maps a card allocates nothing per entry and
/// writes back bytes it never decoded.
#[derive(Debug)]
struct Entries {
    bytes: Vec<u8>,
    starts: Vec<u32>,
}

impl Default for Entries {
    fn default() -> Self {
        Entries {
            bytes: vec![FORMAT],
            starts: Vec::new(),
        }
    }
}

/// One length-prefixed field of a stored chunk at `at`: (bytes, end).
fn field(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let len = u16::from_be_bytes(*bytes.get(at..)?.first_chunk::<2>()?) as usize;
    Some((bytes.get(at + 2..at + 2 + len)?, at + 2 + len))
}

/// The (id, other) byte strings of the entry at `start`.
fn entry_at(bytes: &[u8], start: u32) -> Option<(&[u8], &[u8])> {
    let (id, next) = field(bytes, start as usize)?;
    let (other, _) = field(bytes, next)?;
    Some((id, other))
}

/// Check a stored chunk's layout and find where its entries start.
fn index(bytes: &[u8]) -> Result<Vec<u32>> {
    match bytes.first() {
        Some(&FORMAT) => {}
        Some(_) => return Err(corrupt("unknown chunk format")),
        None => return Err(corrupt("empty chunk")),
    }
    let mut starts = Vec::new();
    let mut at = 1usize;
    while at < bytes.len() {
        starts.push(u32::try_from(at).map_err(|_| corrupt("chunk too large"))?);
        let (_, next) = field(bytes, at).ok_or_else(|| corrupt("truncated chunk"))?;
        let (_, end) = field(bytes, next).ok_or_else(|| corrupt("truncated chunk"))?;
        at = end;
    }
    Ok(starts)
}

fn text(b: &[u8]) -> Result<String> {
    String::from_utf8(b.to_vec()).map_err(|_| corrupt("chunk entry is not UTF-8"))
}

/// Move the entry starts from `n` on by `delta` bytes.
fn shift(starts: &mut [u32], delta: i64) -> Result<()> {
    for s in starts {
        *s = u32::try_from(i64::from(*s) + delta).map_err(|_| corrupt("chunk too large"))?;
    }
    Ok(())
}

impl Entries {
    fn stored(bytes: Vec<u8>) -> Result<Self> {
        let starts = index(&bytes)?;
        Ok(Entries { bytes, starts })
    }

    fn len(&self) -> usize {
        self.starts.len()
    }

    /// Entry `n`: (id, other).
    fn entry(&self, n: usize) -> Result<(&[u8], &[u8])> {
        // `index` and the edits below keep every start valid.
        self.starts
            .get(n)
            .and_then(|&s| entry_at(&self.bytes, s))
            .ok_or_else(|| corrupt("truncated chunk"))
    }

    /// Where entry `n` starts and ends in the bytes.
    fn span(&self, n: usize) -> std::ops::Range<usize> {
        let start = self.starts.get(n).map_or(self.bytes.len(), |&s| s as usize);
        let end = self
            .starts
            .get(n + 1)
            .map_or(self.bytes.len(), |&s| s as usize);
        start..end
    }

    /// `Ok(n)`: entry `n` has `id`; `Err(n)`: it would go at `n`.
    fn find(&self, id: &str) -> std::result::Result<usize, usize> {
        self.starts.binary_search_by(|&s| {
            entry_at(&self.bytes, s).map_or(std::cmp::Ordering::Less, |(i, _)| i.cmp(id.as_bytes()))
        })
    }

    fn get_bytes(&self, id: &str) -> Result<Option<&[u8]>> {
        match self.find(id) {
            Ok(n) => Ok(Some(self.entry(n)?.1)),
            Err(_) => Ok(None),
        }
    }

    fn get(&self, id: &str) -> Result<Option<String>> {
        self.get_bytes(id)?.map(text).transpose()
    }

    /// Set `id → other`; returns what `id` mapped to before.
    fn insert(&mut self, id: &str, other: &str) -> Result<Option<String>> {
        let mut entry = Vec::with_capacity(entry_size(id, other));
        push_str(&mut entry, id);
        push_str(&mut entry, other);
        let (n, old) = match self.find(id) {
            Ok(n) => (n, Some(text(self.entry(n)?.1)?)),
            Err(n) => (n, None),
        };
        let span = if old.is_some() {
            self.span(n)
        } else {
            let at = self.span(n).start;
            at..at
        };
        let delta = entry.len() as i64 - span.len() as i64;
        let start = u32::try_from(span.start).map_err(|_| corrupt("chunk too large"))?;
        self.bytes.splice(span, entry);
        if old.is_none() {
            self.starts.insert(n, start);
        }
        shift(self.starts.get_mut(n + 1..).unwrap_or_default(), delta)?;
        Ok(old)
    }

    /// Forget `id`; returns what it mapped to.
    fn remove(&mut self, id: &str) -> Result<Option<String>> {
        let Ok(n) = self.find(id) else {
            return Ok(None);
        };
        let old = text(self.entry(n)?.1)?;
        let span = self.span(n);
        let delta = -(span.len() as i64);
        self.bytes.drain(span);
        self.starts.remove(n);
        shift(self.starts.get_mut(n..).unwrap_or_default(), delta)?;
        Ok(Some(old))
    }

    /// Entries `n..` as a chunk of their own (removed from this one).
    fn split_off(&mut self, n: usize) -> Result<Entries> {
        let at = self.span(n).start;
        let mut bytes = vec![FORMAT];
        bytes.extend(self.bytes.drain(at..));
        let mut starts = self.starts.split_off(n);
        shift(&mut starts, 1 - at as i64)?;
        Ok(Entries { bytes, starts })
    }

    fn to_map(&self) -> Result<BTreeMap<String, String>> {
        (0..self.len())
            .map(|n| {
                let (id, other) = self.entry(n)?;
                Ok((text(id)?, text(other)?))
            })
            .collect()
    }

    /// Cut into about equal pieces of at most about `CHUNK_BYTES` each, as
    /// (first id, encoded) in id order.
    fn pieces(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let total = self.bytes.len() - 1;
        let n = total.div_ceil(CHUNK_BYTES).max(1);
        let target = total.div_ceil(n);
        let mut out = Vec::with_capacity(n);
        let mut first = 0;
        while first < self.len() {
            let from = self.span(first).start;
            let mut last = first + 1;
            while last < self.len() && self.span(last).start - from < target {
                last += 1;
            }
            let mut value = Vec::with_capacity(1 + self.span(last).start - from);
            value.push(FORMAT);
            value.extend_from_slice(&self.bytes[from..self.span(last).start]);
            out.push((self.entry(first)?.0.to_vec(), value));
            first = last;
        }
        Ok(out)
    }
}

#[derive(Debug, Default)]
struct Chunk {
    entries: Entries,
    /// The id of the next stored chunk when this one was loaded: this chunk
    /// holds ids in `[its id, next)`. `None`: up to the end.
    next: Option<String>,
    /// A row exists for it in the store.
    stored: bool,
    dirty: bool,
}

impl Chunk {
    fn covers(&self, id: &str) -> bool {
        self.next.as_deref().is_none_or(|n| id < n)
    }
}

/// The chunks one message has read or changed, per side.
#[derive(Debug, Default)]
pub struct MapCache {
    sides: BTreeMap<SidePrefix, BTreeMap<String, Chunk>>,
}

fn corrupt(reason: &str) -> StoreError {
    StoreError::Corrupt {
        table: Table::Maps.name(),
        reason: reason.to_owned(),
    }
}

fn chunk_key(side: &[u8], id: impl AsRef<[u8]>) -> Vec<u8> {
    let id = id.as_ref();
    let mut k = Vec::with_capacity(side.len() + id.len());
    k.extend_from_slice(side);
    k.extend_from_slice(id);
    k
}

fn chunk_id(side: &[u8], key: &[u8]) -> Result<String> {
    let raw = key
        .get(side.len()..)
        .ok_or_else(|| corrupt("chunk key shorter than its prefix"))?;
    String::from_utf8(raw.to_vec()).map_err(|_| corrupt("chunk id is not UTF-8"))
}

fn entry_size(id: &str, other: &str) -> usize {
    4 + id.len() + other.len()
}

impl MapCache {
    /// The cached chunk holding `id`, loading it through `r` if needed.
    fn chunk(&mut self, r: &dyn KvRead, side: &[u8], id: &str) -> Result<&mut Chunk> {
        if !self.sides.contains_key(side) {
            self.sides.insert(side.to_vec(), BTreeMap::new());
        }
        let chunks = self
            .sides
            .get_mut(side)
            .ok_or_else(|| corrupt("map side vanished from the cache"))?;
        let covered = |chunks: &BTreeMap<String, Chunk>| {
            chunks
                .range::<str, _>((Bound::Unbounded, Bound::Included(id)))
                .next_back()
                .is_some_and(|(_, c)| c.covers(id))
        };
        if !covered(chunks) {
            let (cid, chunk) = load(r, side, id)?;
            chunks.entry(cid).or_insert(chunk);
        }
        // Looked up again rather than by a cloned id: this runs twice per
        // item of a slow sync, and nearly always finds the chunk cached.
        chunks
            .range_mut::<str, _>((Bound::Unbounded, Bound::Included(id)))
            .next_back()
            .map(|(_, c)| c)
            .ok_or_else(|| corrupt("chunk vanished from the cache"))
    }

    pub fn get(&mut self, r: &dyn KvRead, side: &[u8], id: &str) -> Result<Option<String>> {
        self.chunk(r, side, id)?.entries.get(id)
    }

    /// Set `id → other`; returns what `id` mapped to before.
    pub fn insert(
        &mut self,
        r: &dyn KvRead,
        side: &[u8],
        id: &str,
        other: &str,
    ) -> Result<Option<String>> {
        let c = self.chunk(r, side, id)?;
        // Mapping what is already mapped (a known device's slow sync,
        // every Replace) changes nothing and writes nothing.
        if c.entries.get_bytes(id)? == Some(other.as_bytes()) {
            return Ok(Some(other.to_owned()));
        }
        let old = c.entries.insert(id, other)?;
        c.dirty = true;
        if c.entries.bytes.len() > SPLIT_BYTES {
            self.split(side, id)?;
        }
        Ok(old)
    }

    /// Halve the cached chunk holding `id`: edits move bytes, so a chunk
    /// that one message keeps growing (a new device's first message) must
    /// not grow without bound.
    fn split(&mut self, side: &[u8], id: &str) -> Result<()> {
        let Some(chunks) = self.sides.get_mut(side) else {
            return Ok(());
        };
        let Some(c) = chunks
            .range_mut::<str, _>((Bound::Unbounded, Bound::Included(id)))
            .next_back()
            .map(|(_, c)| c)
        else {
            return Ok(());
        };
        let half = c.entries.len() / 2;
        if half == 0 {
            return Ok(());
        }
        let upper = c.entries.split_off(half)?;
        let first = text(upper.entry(0)?.0)?;
        let next = c.next.replace(first.clone());
        chunks.insert(
            first,
            Chunk {
                entries: upper,
                next,
                stored: false,
                dirty: true,
            },
        );
        Ok(())
    }

    /// Forget `id`; returns what it mapped to.
    pub fn remove(&mut self, r: &dyn KvRead, side: &[u8], id: &str) -> Result<Option<String>> {
        let c = self.chunk(r, side, id)?;
        let old = c.entries.remove(id)?;
        if old.is_some() {
            c.dirty = true;
        }
        Ok(old)
    }

    /// Every entry of a side, in id order: the stored chunks with what this
    /// message changed in its cached ones.
    pub fn all(&self, r: &dyn KvRead, side: &[u8]) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for (_, v) in r.scan(Table::Maps, &KeyRange::prefix(side), usize::MAX)? {
            out.append(&mut Entries::stored(v)?.to_map()?);
        }
        if let Some(chunks) = self.sides.get(side) {
            for (cid, c) in chunks {
                let end = match &c.next {
                    Some(n) => Bound::Excluded(n.clone()),
                    None => Bound::Unbounded,
                };
                let stale: Vec<String> = out
                    .range::<String, _>((Bound::Included(cid.clone()), end))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in stale {
                    out.remove(&k);
                }
                out.extend(c.entries.to_map()?);
            }
        }
        Ok(out)
    }

    /// Forget a side's cached chunks (the caller removes its rows).
    pub fn drop_side(&mut self, side: &[u8]) {
        self.sides.remove(side);
    }

    pub fn is_dirty(&self) -> bool {
        self.sides
            .values()
            .any(|chunks| chunks.values().any(|c| c.dirty))
    }

    /// The row writes of every changed chunk (`None` = remove), emptying
    /// the cache.
    pub fn take_writes(&mut self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        for (side, chunks) in std::mem::take(&mut self.sides) {
            for (cid, c) in chunks.into_iter().filter(|(_, c)| c.dirty) {
                if c.entries.len() == 0 {
                    if c.stored {
                        out.push((chunk_key(&side, &cid), None));
                    }
                    continue;
                }
                // The first piece keeps the chunk's id (its range starts
                // there); the others start at their first entry, which lies
                // inside this chunk's range, so no other chunk is hit. (The
                // entries are valid by construction; were they not, the
                // chunk is written whole rather than lost.)
                let pieces = c
                    .entries
                    .pieces()
                    .unwrap_or_else(|_| vec![(cid.clone().into_bytes(), c.entries.bytes.clone())]);
                for (i, (first, value)) in pieces.into_iter().enumerate() {
                    let id = if i == 0 { cid.as_bytes() } else { &first };
                    out.push((chunk_key(&side, id), Some(value)));
                }
            }
        }
        out
    }
}

/// The stored chunk holding `id` (or the empty first chunk when none does)
/// and the id of the chunk after it.
fn load(r: &dyn KvRead, side: &[u8], id: &str) -> Result<(String, Chunk)> {
    let at_or_before = KeyRange {
        start: Bound::Included(side.to_vec()),
        end: Bound::Included(chunk_key(side, id)),
    };
    let (cid, entries, stored) = match r.scan_rev(Table::Maps, &at_or_before, 1)?.pop() {
        Some((k, v)) => (chunk_id(side, &k)?, Entries::stored(v)?, true),
        None => (String::new(), Entries::default(), false),
    };
    let after = KeyRange::prefix_after(side, &chunk_key(side, &cid));
    let next = match r.scan(Table::Maps, &after, 1)?.pop() {
        Some((k, _)) => Some(chunk_id(side, &k)?),
        None => None,
    };
    Ok((
        cid,
        Chunk {
            entries,
            next,
            stored,
            dirty: false,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, Store, Txn};

    fn side() -> Vec<u8> {
        b"\x00\x01u\x00\x01d\x00\x01s\x00\x01l".to_vec()
    }

    fn decode(bytes: &[u8]) -> Result<BTreeMap<String, String>> {
        Entries::stored(bytes.to_vec())?.to_map()
    }

    /// The stored form of `e`, written from scratch (not by edits).
    fn encode(e: &BTreeMap<String, String>) -> Vec<u8> {
        let mut out = vec![FORMAT];
        for (id, other) in e {
            push_str(&mut out, id);
            push_str(&mut out, other);
        }
        out
    }

    fn commit(store: &MemoryStore, cache: &mut MapCache) {
        let mut t = Txn::new(store);
        for (k, v) in cache.take_writes() {
            match v {
                Some(v) => t.put(Table::Maps, k, v),
                None => t.remove(Table::Maps, k),
            }
        }
        store.commit(&t.into_batch()).unwrap();
    }

    fn rows(store: &MemoryStore) -> Vec<(String, usize)> {
        let s = side();
        store
            .scan(Table::Maps, &KeyRange::prefix(&s), usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (chunk_id(&s, &k).unwrap(), decode(&v).unwrap().len()))
            .collect()
    }

    #[test]
    fn a_chunk_round_trips_and_bad_bytes_are_corrupt_not_a_panic() {
        let mut e = BTreeMap::new();
        e.insert("luid-1".to_owned(), "g1".to_owned());
        e.insert("ünï".to_owned(), String::new());
        assert_eq!(decode(&encode(&e)).unwrap(), e);
        for bad in [
            &b""[..],
            b"\x02",
            b"\x01\x00",
            b"\x01\x00\x05ab",
            b"\x01\x00\x01\xff",
        ] {
            assert!(matches!(decode(bad), Err(StoreError::Corrupt { .. })));
            assert!(matches!(
                Entries::stored(bad.to_vec()),
                Err(StoreError::Corrupt { .. })
            ));
        }
        // Looked up in the stored bytes: the same answers.
        let stored = Entries::stored(encode(&e)).unwrap();
        assert_eq!(stored.get("luid-1").unwrap(), Some("g1".to_owned()));
        assert_eq!(stored.get("ünï").unwrap(), Some(String::new()));
        assert_eq!(stored.get("luid-0").unwrap(), None);
        assert_eq!(stored.get("zzz").unwrap(), None);
        // A valid layout holding invalid text: an error when read.
        let odd = Entries::stored(b"\x01\x00\x01a\x00\x01\xff".to_vec()).unwrap();
        assert!(matches!(odd.get("a"), Err(StoreError::Corrupt { .. })));
    }

    proptest::proptest! {
        /// Edits in place leave exactly the bytes of the same entries
        /// written from scratch, and a split halves them cleanly.
        #[test]
        fn edits_in_place_match_a_chunk_written_from_scratch(
            ops in proptest::collection::vec((0u8..3, 0u32..60, 0u32..1000), 0..120)
        ) {
            let mut e = Entries::default();
            let mut model = BTreeMap::new();
            for (op, id, other) in ops {
                // Ids of varied length: "7", "07", "0007"…
                let id = format!("{id:0w$}", w = (other % 4) as usize);
                let other = format!("g{other}");
                match op {
                    0 | 1 => proptest::prop_assert_eq!(
                        e.insert(&id, &other).unwrap(),
                        model.insert(id.clone(), other.clone())
                    ),
                    _ => proptest::prop_assert_eq!(e.remove(&id).unwrap(), model.remove(&id)),
                }
                proptest::prop_assert_eq!(&e.bytes, &encode(&model));
                proptest::prop_assert_eq!(&e.starts, &index(&e.bytes).unwrap());
            }
            let half = e.len() / 2;
            let upper = e.split_off(half).unwrap();
            let low: BTreeMap<String, String> = model.iter().take(half).map(|(k, v)| (k.clone(), v.clone())).collect();
            let high: BTreeMap<String, String> = model.iter().skip(half).map(|(k, v)| (k.clone(), v.clone())).collect();
            proptest::prop_assert_eq!(e.to_map().unwrap(), low);
            proptest::prop_assert_eq!(upper.to_map().unwrap(), high);
            proptest::prop_assert_eq!(&upper.starts, &index(&upper.bytes).unwrap());
        }
    }

    #[test]
    fn a_chunk_one_message_keeps_growing_is_split_in_the_cache() {
        let store = MemoryStore::new();
        let s = side();
        let mut cache = MapCache::default();
        // 6,000 entries (~100 KB) in one message, in an order that puts
        // each between earlier ones.
        let ids: Vec<u64> = (0..6000u64).map(|i| i * 2_654_435_761 % 6000).collect();
        for i in &ids {
            cache
                .insert(&store, &s, &format!("{i}"), &format!("guid-{i}"))
                .unwrap();
        }
        let cached = cache.sides.get(&s).unwrap();
        assert!(cached.len() > 1, "split in the cache: {}", cached.len());
        assert!(
            cached
                .values()
                .all(|c| c.entries.bytes.len() <= SPLIT_BYTES)
        );
        commit(&store, &mut cache);
        let chunks = rows(&store);
        assert_eq!(chunks.iter().map(|c| c.1).sum::<usize>(), 6000);
        assert_eq!(chunks[0].0, "");
        let mut cache = MapCache::default();
        for i in [0u64, 1, 999, 1000, 4242, 5999] {
            assert_eq!(
                cache.get(&store, &s, &format!("{i}")).unwrap(),
                Some(format!("guid-{i}"))
            );
        }
        assert_eq!(cache.all(&store, &s).unwrap().len(), 6000);
    }

    #[test]
    fn many_entries_become_a_few_chunks_that_later_messages_find() {
        let store = MemoryStore::new();
        let s = side();
        let mut cache = MapCache::default();
        for i in 0..1000 {
            cache
                .insert(&store, &s, &format!("{i:05}"), &format!("guid-{i}"))
                .unwrap();
        }
        commit(&store, &mut cache);
        let chunks = rows(&store);
        // ~20 bytes an entry: 20,000 bytes in 5 pieces of ~4 KB.
        assert_eq!(chunks.len(), 5, "{chunks:?}");
        assert_eq!(chunks[0].0, "");
        assert_eq!(chunks.iter().map(|c| c.1).sum::<usize>(), 1000);

        let mut cache = MapCache::default();
        for i in [0, 1, 199, 200, 201, 999] {
            assert_eq!(
                cache.get(&store, &s, &format!("{i:05}")).unwrap(),
                Some(format!("guid-{i}"))
            );
        }
        assert_eq!(cache.get(&store, &s, "0").unwrap(), None);
        assert_eq!(cache.get(&store, &s, "99999").unwrap(), None);
        assert!(!cache.is_dirty());
        assert!(cache.take_writes().is_empty());
    }

    #[test]
    fn an_edit_rewrites_only_its_chunk_and_an_emptied_chunk_goes() {
        let store = MemoryStore::new();
        let s = side();
        let mut cache = MapCache::default();
        for i in 0..1000 {
            cache.insert(&store, &s, &format!("{i:05}"), "g").unwrap();
        }
        commit(&store, &mut cache);
        let before = rows(&store);

        let mut cache = MapCache::default();
        assert_eq!(
            cache.insert(&store, &s, "00500", "changed").unwrap(),
            Some("g".to_owned())
        );
        let writes = cache.take_writes();
        assert_eq!(writes.len(), 1);

        // Empty the last chunk: its row is removed, the others stay.
        let last = before.last().unwrap().0.clone();
        let mut cache = MapCache::default();
        let first: usize = last.parse().unwrap();
        for i in first..1000 {
            assert!(
                cache
                    .remove(&store, &s, &format!("{i:05}"))
                    .unwrap()
                    .is_some()
            );
        }
        assert_eq!(cache.remove(&store, &s, "00999").unwrap(), None);
        commit(&store, &mut cache);
        let after = rows(&store);
        assert_eq!(after.len(), before.len() - 1);
        assert!(after.iter().all(|(id, _)| *id != last));
        // Ids of the removed range map again, into the chunk before it.
        let mut cache = MapCache::default();
        cache.insert(&store, &s, "00999", "back").unwrap();
        commit(&store, &mut cache);
        assert_eq!(rows(&store).len(), before.len() - 1);
        assert_eq!(
            MapCache::default().get(&store, &s, "00999").unwrap(),
            Some("back".to_owned())
        );
    }

    #[test]
    fn all_merges_stored_chunks_with_this_messages_changes() {
        let store = MemoryStore::new();
        let s = side();
        let mut cache = MapCache::default();
        for i in 0..500 {
            cache.insert(&store, &s, &format!("{i:04}"), "g").unwrap();
        }
        commit(&store, &mut cache);
        let mut cache = MapCache::default();
        cache.remove(&store, &s, "0100").unwrap();
        cache.insert(&store, &s, "0100x", "new").unwrap();
        let all = cache.all(&store, &s).unwrap();
        assert_eq!(all.len(), 500);
        assert!(!all.contains_key("0100"));
        assert_eq!(all.get("0100x").map(String::as_str), Some("new"));
    }

    mod model {
        //! The chunked map against a plain two-way map, over random edits
        //! spread across messages (commits), on both backends.
        use std::collections::BTreeMap;

        use proptest::prelude::*;

        use crate::store::schema::{self, PeerId};
        use crate::store::{MemoryStore, SledStore, Store, Txn};

        #[derive(Debug, Clone)]
        enum Op {
            Put(u32, u32),
            RemoveByLuid(u32),
            RemoveByGuid(u32),
            Clear,
            Commit,
        }

        fn op() -> impl Strategy<Value = Op> {
            // Ids of varied length, so chunks split at different places and
            // some ids sort before every chunk's first id.
            // Clears are rare, so maps grow to several chunks.
            prop_oneof![
                400 => (0u32..600, 0u32..600).prop_map(|(l, g)| Op::Put(l, g)),
                40 => (0u32..600).prop_map(Op::RemoveByLuid),
                40 => (0u32..600).prop_map(Op::RemoveByGuid),
                1 => Just(Op::Clear),
                30 => Just(Op::Commit),
            ]
        }

        fn luid(n: u32) -> String {
            format!("{}-{n}-{}", "L".repeat((n % 7) as usize), "x".repeat(20))
        }

        fn guid(n: u32) -> String {
            format!("{n:x}")
        }

        fn check(store: &dyn Store, ops: &[Op]) {
            let p = PeerId {
                user: "u".into(),
                device: "d".into(),
                store: "s".into(),
            };
            let other = PeerId {
                device: "other".into(),
                ..p.clone()
            };
            // A neighbour peer's map must never be touched.
            let mut t = Txn::new(store);
            schema::put_map(&mut t, &other, "x", "y").unwrap();
            store.commit(&t.into_batch()).unwrap();

            let mut by_luid: BTreeMap<String, String> = BTreeMap::new();
            let mut by_guid: BTreeMap<String, String> = BTreeMap::new();
            let mut t = Txn::new(store);
            for op in ops {
                match op {
                    Op::Put(l, g) => {
                        let (l, g) = (luid(*l), guid(*g));
                        schema::put_map(&mut t, &p, &l, &g).unwrap();
                        if let Some(old) = by_luid.insert(l.clone(), g.clone()) {
                            by_guid.remove(&old);
                        }
                        if let Some(old) = by_guid.insert(g, l.clone())
                            && old != l
                        {
                            by_luid.remove(&old);
                        }
                    }
                    Op::RemoveByLuid(l) => {
                        let l = luid(*l);
                        schema::remove_map_by_luid(&mut t, &p, &l).unwrap();
                        if let Some(g) = by_luid.remove(&l) {
                            by_guid.remove(&g);
                        }
                    }
                    Op::RemoveByGuid(g) => {
                        let g = guid(*g);
                        schema::remove_map_by_guid(&mut t, &p, &g).unwrap();
                        if let Some(l) = by_guid.remove(&g) {
                            by_luid.remove(&l);
                        }
                    }
                    Op::Clear => {
                        schema::clear_peer_maps(&mut t, &p).unwrap();
                        by_luid.clear();
                        by_guid.clear();
                    }
                    Op::Commit => {
                        store.commit(&t.into_batch()).unwrap();
                        t = Txn::new(store);
                    }
                }
            }
            // Within the message and after its commit, every lookup agrees.
            let want: Vec<(String, String)> = by_luid.clone().into_iter().collect();
            assert_eq!(schema::peer_maps(&t, &p).unwrap(), want);
            store.commit(&t.into_batch()).unwrap();
            let t = Txn::new(store);
            assert_eq!(schema::peer_maps(&t, &p).unwrap(), want);
            for n in 0..600 {
                assert_eq!(
                    schema::guid_for_luid(&t, &p, &luid(n)).unwrap(),
                    by_luid.get(&luid(n)).cloned()
                );
                assert_eq!(
                    schema::luid_for_guid(&t, &p, &guid(n)).unwrap(),
                    by_guid.get(&guid(n)).cloned()
                );
            }
            assert_eq!(
                schema::guid_for_luid(&t, &other, "x").unwrap(),
                Some("y".into())
            );
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(24))]

            #[test]
            fn chunked_maps_agree_with_a_plain_map(
                ops in proptest::collection::vec(op(), 1..1500)
            ) {
                check(&MemoryStore::new(), &ops);
                check(&SledStore::temporary().unwrap(), &ops);
            }
        }
    }
}
