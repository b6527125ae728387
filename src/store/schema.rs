//! Typed layer over the tables: key encodings and records.
//!
//! Keys are tuples encoded so that a tuple prefix is a byte prefix: strings
//! as a big-endian u16 length plus bytes (device ids like `IMEI:…` need no
//! escaping), integers big-endian so numeric order is byte order.
//! Records are CBOR-encoded serde structs; they are storage types, not
//! protocol types.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::{KeyRange, KvRead, Result, StoreError, Table, Txn};

/// A user's address book on this server: (user, local datastore name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BookId {
    pub user: String,
    pub store: String,
}

/// One peer's view of one book: (user, device id, local datastore name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId {
    pub user: String,
    pub device: String,
    pub store: String,
}

impl PeerId {
    pub fn book(&self) -> BookId {
        BookId {
            user: self.user.clone(),
            store: self.store.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct UserRecord {
    /// Base64 of MD5("user:password") — the only password-derived value kept;
    /// it is what `syncml:auth-md5` needs, and basic auth is checked against
    /// it too. No plaintext password is ever stored.
    pub md5_userpass: String,
    /// Only devices registered with `syncmld device add` may sync.
    pub restrict_devices: bool,
    pub created_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DeviceRecord {
    /// Registered by an administrator (as opposed to first seen in a sync).
    pub registered: bool,
    /// Key derived from the device's shared secret (see `auth`), used by the
    /// device-bound and HMAC credential schemes. Never the secret itself.
    pub secret_key: Option<Vec<u8>>,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// What the device said about itself in its DevInf, if it sent one.
    pub caps: Option<PeerCaps>,
    /// Where the device wants a Server Alerted Notification when its data
    /// changes (registered with the poll-first request).
    pub callback: Option<String>,
    /// This device's conflict policy (`syncmld device policy`), overriding
    /// the server default.
    pub conflict_policy: Option<String>,
}

/// The parts of a peer's DevInf the server acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PeerCaps {
    pub man: Option<String>,
    pub model: Option<String>,
    pub sw_version: Option<String>,
    pub large_objects: bool,
    pub number_of_changes: bool,
    pub max_guid_size: Option<u32>,
    /// Rx-Pref of its contacts datastore: (CTType, VerCT).
    pub rx_pref: Option<(String, String)>,
    /// Property names its CTCap for the preferred type lists (empty: no
    /// CTCap, it stores everything).
    pub ctcap_props: Vec<String>,
}

/// Counters of one book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct BookMeta {
    /// Last change sequence number handed out (0 = none yet).
    pub seq: u64,
    /// Last GUID number handed out.
    pub guid: u64,
    /// Changes up to this sequence number are reflected in the people
    /// index (server role; 0 = none yet, so older books catch up).
    pub people_seq: u64,
    /// The form of the people index's keys `people_seq` was reached with
    /// (the engine re-indexes the book when its form is newer).
    pub people_version: u32,
    /// Tombstones purged so far. A purge removes the item's change with
    /// it, so a reader that follows the change log to learn what moved
    /// (a slow sync's snapshots) must also watch this.
    pub purged: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ItemRecord {
    pub content_type: String,
    /// The item as the client sent it (vCard text).
    pub data: String,
    /// Sequence number of the latest change.
    pub seq: u64,
    /// Sequence number of the change that created it (client role: items
    /// created after a peer's last sync go to it as Add, older ones as
    /// Replace).
    pub created_seq: u64,
    /// Device id that made the latest change ("" for local admin changes).
    pub origin: String,
    /// A tombstone: deleted, kept until every peer has seen the delete.
    pub deleted: bool,
    pub modified_ms: u64,
}

/// Per (user, device, store) sync state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PeerState {
    /// The client's Next anchor of the last completed session; its Last must
    /// equal this for an incremental sync.
    pub client_anchor: Option<String>,
    /// Our Next anchor of the last completed session (sent as our Last).
    pub server_anchor: Option<String>,
    /// Every change with seq <= this has been delivered to (or came from)
    /// the peer.
    pub synced_seq: u64,
    pub last_sync_ms: u64,
    pub last_mode: u16,
}

// ---- key encoding ----------------------------------------------------------

pub(super) fn push_str(out: &mut Vec<u8>, s: &str) {
    // Component lengths are bounded by the callers (GUIDs ≤ 32, ids ≤ 1 KiB
    // enforced by the engine); clamp defensively instead of panicking.
    let b = s.as_bytes();
    let len = b.len().min(u16::MAX as usize);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&b[..len]);
}

pub(super) fn key(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 2).sum::<usize>() + 9);
    for p in parts {
        push_str(&mut out, p);
    }
    out
}

fn key_seq(parts: &[&str], seq: u64) -> Vec<u8> {
    let mut k = key(parts);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn seq_suffix(table: Table, k: &[u8]) -> Result<u64> {
    let n = k.len();
    if n < 8 {
        return Err(corrupt(table, "short sequence key"));
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&k[n - 8..]);
    Ok(u64::from_be_bytes(b))
}

/// The last string component of a key.
fn last_str_suffix(table: Table, k: &[u8], prefix_len: usize) -> Result<String> {
    let rest = k
        .get(prefix_len..)
        .ok_or_else(|| corrupt(table, "short key"))?;
    if rest.len() < 2 {
        return Err(corrupt(table, "short key"));
    }
    let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
    let s = rest
        .get(2..2 + len)
        .ok_or_else(|| corrupt(table, "truncated key"))?;
    String::from_utf8(s.to_vec()).map_err(|_| corrupt(table, "key is not UTF-8"))
}

fn corrupt(table: Table, reason: &str) -> StoreError {
    StoreError::Corrupt {
        table: table.name(),
        reason: reason.to_owned(),
    }
}

// Records are CBOR: self-describing, so a record written before a field was
// added still reads (the field takes its `#[serde(default)]`), and one
// written by a newer version with extra fields reads too. A compact
// positional format (postcard) would turn every schema change into
// "corrupt record" after an upgrade.
fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    // Serialising into a Vec fails only for types our plain records never
    // contain; an empty value would then read back as corrupt.
    if ciborium::into_writer(v, &mut out).is_err() {
        out.clear();
    }
    out
}

fn dec<T: DeserializeOwned>(table: Table, bytes: &[u8]) -> Result<T> {
    ciborium::from_reader(bytes).map_err(|e| corrupt(table, &e.to_string()))
}

fn get_rec<T: DeserializeOwned>(r: &dyn KvRead, table: Table, k: &[u8]) -> Result<Option<T>> {
    match r.get(table, k)? {
        Some(v) => Ok(Some(dec(table, &v)?)),
        None => Ok(None),
    }
}

/// The sides of a peer map (see [`peer_map`](super::peer_map)).
const MAP_LUID: &str = "l";
const MAP_GUID: &str = "g";
/// The sides' markers of the one-row-per-entry form before the chunks.
pub(super) const OLD_MAP_LUID: &str = "L";
pub(super) const OLD_MAP_GUID: &str = "G";

// ---- users and devices -----------------------------------------------------

pub fn user(r: &dyn KvRead, name: &str) -> Result<Option<UserRecord>> {
    get_rec(r, Table::Users, &key(&[name]))
}

pub fn put_user(t: &mut Txn<'_>, name: &str, rec: &UserRecord) {
    t.put(Table::Users, key(&[name]), enc(rec));
}

pub fn remove_user(t: &mut Txn<'_>, name: &str) {
    t.remove(Table::Users, key(&[name]));
}

/// All user names, in key order.
pub fn users(r: &dyn KvRead) -> Result<Vec<(String, UserRecord)>> {
    let rows = r.scan(Table::Users, &KeyRange::prefix(&[]), usize::MAX)?;
    rows.into_iter()
        .map(|(k, v)| {
            Ok((
                last_str_suffix(Table::Users, &k, 0)?,
                dec(Table::Users, &v)?,
            ))
        })
        .collect()
}

pub fn device(r: &dyn KvRead, user: &str, device: &str) -> Result<Option<DeviceRecord>> {
    get_rec(r, Table::Devices, &key(&[user, device]))
}

pub fn put_device(t: &mut Txn<'_>, user: &str, device: &str, rec: &DeviceRecord) {
    t.put(Table::Devices, key(&[user, device]), enc(rec));
}

pub fn remove_device(t: &mut Txn<'_>, user: &str, device: &str) {
    t.remove(Table::Devices, key(&[user, device]));
}

pub fn devices(r: &dyn KvRead, user: &str) -> Result<Vec<(String, DeviceRecord)>> {
    let prefix = key(&[user]);
    let rows = r.scan(Table::Devices, &KeyRange::prefix(&prefix), usize::MAX)?;
    rows.into_iter()
        .map(|(k, v)| {
            Ok((
                last_str_suffix(Table::Devices, &k, prefix.len())?,
                dec(Table::Devices, &v)?,
            ))
        })
        .collect()
}

pub fn nonce(r: &dyn KvRead, user: &str, device: &str) -> Result<Option<Vec<u8>>> {
    r.get(Table::Nonces, &key(&[user, device]))
}

pub fn put_nonce(t: &mut Txn<'_>, user: &str, device: &str, nonce: &[u8]) {
    t.put(Table::Nonces, key(&[user, device]), nonce.to_vec());
}

// ---- books, items, changes -------------------------------------------------

pub fn book_meta(r: &dyn KvRead, b: &BookId) -> Result<BookMeta> {
    Ok(get_rec(r, Table::Books, &key(&[&b.user, &b.store]))?.unwrap_or_default())
}

pub fn put_book_meta(t: &mut Txn<'_>, b: &BookId, m: &BookMeta) {
    t.put(Table::Books, key(&[&b.user, &b.store]), enc(m));
}

pub fn item(r: &dyn KvRead, b: &BookId, guid: &str) -> Result<Option<ItemRecord>> {
    get_rec(r, Table::Items, &key(&[&b.user, &b.store, guid]))
}

/// Write an item (or tombstone) and move its change-log entry to `rec.seq`.
/// `old_seq` is the sequence of the record it replaces, if any.
pub fn put_item(
    t: &mut Txn<'_>,
    b: &BookId,
    guid: &str,
    old: Option<&ItemRecord>,
    rec: &ItemRecord,
) {
    if let Some(old) = old {
        t.remove(Table::Changes, key_seq(&[&b.user, &b.store], old.seq));
        if old.deleted {
            t.remove(Table::Tombstones, key_seq(&[&b.user, &b.store], old.seq));
        }
    }
    t.put(Table::Items, key(&[&b.user, &b.store, guid]), enc(rec));
    t.put(
        Table::Changes,
        key_seq(&[&b.user, &b.store], rec.seq),
        guid.as_bytes().to_vec(),
    );
    if rec.deleted {
        t.put(
            Table::Tombstones,
            key_seq(&[&b.user, &b.store], rec.seq),
            guid.as_bytes().to_vec(),
        );
    }
}

/// Remove every row of `tables` whose key starts with the tuple `parts`
/// (e.g. `[user]`, `[user, device]`). Returns how many were removed.
pub fn remove_prefixed(t: &mut Txn<'_>, tables: &[Table], parts: &[&str]) -> Result<usize> {
    let prefix = key(parts);
    // Changed map chunks must be rows before rows are removed by prefix.
    t.flush_maps();
    let mut n = 0;
    for table in tables {
        let rows = t.scan(*table, &KeyRange::prefix(&prefix), usize::MAX)?;
        n += rows.len();
        for (k, _) in rows {
            t.remove(*table, k);
        }
    }
    Ok(n)
}

/// Forget a tombstone entirely (every peer has seen the delete).
pub fn purge_item(t: &mut Txn<'_>, b: &BookId, guid: &str, rec: &ItemRecord) -> Result<()> {
    let mut meta = book_meta(t, b)?;
    meta.purged += 1;
    put_book_meta(t, b, &meta);
    t.remove(Table::Items, key(&[&b.user, &b.store, guid]));
    t.remove(Table::Changes, key_seq(&[&b.user, &b.store], rec.seq));
    t.remove(Table::Tombstones, key_seq(&[&b.user, &b.store], rec.seq));
    // The change that would have told the people index is gone with it.
    set_people_keys(t, b, guid, &[])
}

/// Up to `limit` (seq, guid) changes with seq > `after`, in sequence order.
pub fn changes_after(
    r: &dyn KvRead,
    b: &BookId,
    after: u64,
    limit: usize,
) -> Result<Vec<(u64, String)>> {
    let prefix = key(&[&b.user, &b.store]);
    let from = key_seq(&[&b.user, &b.store], after);
    let rows = r.scan(
        Table::Changes,
        &KeyRange::prefix_after(&prefix, &from),
        limit,
    )?;
    rows.into_iter()
        .map(|(k, v)| {
            let seq = seq_suffix(Table::Changes, &k)?;
            let guid =
                String::from_utf8(v).map_err(|_| corrupt(Table::Changes, "guid is not UTF-8"))?;
            Ok((seq, guid))
        })
        .collect()
}

/// Every change of the book with `after` < seq ≤ `upto`, in sequence
/// order, read a page at a time (O(changes), never the book). Borrows the
/// reader: loops that write as they go page by hand.
pub fn changes_between<'a>(
    r: &'a dyn KvRead,
    b: &'a BookId,
    after: u64,
    upto: u64,
) -> ChangesBetween<'a> {
    ChangesBetween {
        r,
        b,
        after,
        upto,
        page: Vec::new().into_iter(),
        last_page: false,
    }
}

/// The iterator of [`changes_between`].
pub struct ChangesBetween<'a> {
    r: &'a dyn KvRead,
    b: &'a BookId,
    after: u64,
    upto: u64,
    page: std::vec::IntoIter<(u64, String)>,
    last_page: bool,
}

impl Iterator for ChangesBetween<'_> {
    type Item = Result<(u64, String)>;

    fn next(&mut self) -> Option<Self::Item> {
        const PAGE: usize = 1000;
        loop {
            if let Some((seq, guid)) = self.page.next() {
                if seq > self.upto {
                    self.last_page = true;
                    self.page = Vec::new().into_iter();
                    return None;
                }
                self.after = seq;
                return Some(Ok((seq, guid)));
            }
            if self.last_page || self.after >= self.upto {
                return None;
            }
            match changes_after(self.r, self.b, self.after, PAGE) {
                Ok(page) => {
                    self.last_page = page.len() < PAGE;
                    self.page = page.into_iter();
                }
                Err(e) => {
                    self.last_page = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Tombstones with seq <= `upto`.
pub fn tombstones_upto(
    r: &dyn KvRead,
    b: &BookId,
    upto: u64,
    limit: usize,
) -> Result<Vec<(u64, String)>> {
    let prefix = key(&[&b.user, &b.store]);
    let range = KeyRange {
        start: std::ops::Bound::Included(prefix.clone()),
        end: std::ops::Bound::Included(key_seq(&[&b.user, &b.store], upto)),
    };
    let rows = r.scan(Table::Tombstones, &range, limit)?;
    rows.into_iter()
        .map(|(k, v)| {
            let seq = seq_suffix(Table::Tombstones, &k)?;
            let guid = String::from_utf8(v)
                .map_err(|_| corrupt(Table::Tombstones, "guid is not UTF-8"))?;
            Ok((seq, guid))
        })
        .collect()
}

/// A book's key prefix in a per-GUID table, and the range of its keys
/// after `after` ("" = from the start): the paging of a book's items and
/// people keys.
fn book_page(b: &BookId, after: &str) -> (Vec<u8>, KeyRange) {
    let prefix = key(&[&b.user, &b.store]);
    let range = if after.is_empty() {
        KeyRange::prefix(&prefix)
    } else {
        KeyRange::prefix_after(&prefix, &key(&[&b.user, &b.store, after]))
    };
    (prefix, range)
}

/// The next `limit` (GUID, record) of a per-GUID `table` in a book.
fn decoded_book_page<T: DeserializeOwned>(
    r: &dyn KvRead,
    table: Table,
    b: &BookId,
    after: &str,
    limit: usize,
) -> Result<Vec<(String, T)>> {
    let (prefix, range) = book_page(b, after);
    let rows = r.scan(table, &range, limit)?;
    rows.into_iter()
        .map(|(k, v)| Ok((last_str_suffix(table, &k, prefix.len())?, dec(table, &v)?)))
        .collect()
}

/// Every item of a book (live and tombstones), `limit` at a time, GUIDs
/// after `after` (exclusive; "" = from the start). Slow-sync/refresh path only.
pub fn items_page(
    r: &dyn KvRead,
    b: &BookId,
    after: &str,
    limit: usize,
) -> Result<Vec<(String, ItemRecord)>> {
    decoded_book_page(r, Table::Items, b, after, limit)
}

/// The next `limit` GUIDs of the book's items (tombstones included) after
/// `after`, without decoding the records.
pub fn item_guids_page(
    r: &dyn KvRead,
    b: &BookId,
    after: &str,
    limit: usize,
) -> Result<Vec<String>> {
    let (prefix, range) = book_page(b, after);
    let keys = r.scan_keys(Table::Items, &range, limit)?;
    keys.into_iter()
        .map(|k| last_str_suffix(Table::Items, &k, prefix.len()))
        .collect()
}

// ---- maps ------------------------------------------------------------------
//
// Each peer's map is two sides of sorted chunks (see `peer_map`): LUID→GUID
// under (user, device, store, "l") and GUID→LUID under (…, "g"). Stores
// written before the chunks kept one row per entry under "L"/"G";
// `upgrade::maps_to_chunks` moves them.

fn luid_side(p: &PeerId) -> Vec<u8> {
    key(&[&p.user, &p.device, &p.store, MAP_LUID])
}

fn guid_side(p: &PeerId) -> Vec<u8> {
    key(&[&p.user, &p.device, &p.store, MAP_GUID])
}

pub fn guid_for_luid(t: &Txn<'_>, p: &PeerId, luid: &str) -> Result<Option<String>> {
    t.map_get(&luid_side(p), luid)
}

pub fn luid_for_guid(t: &Txn<'_>, p: &PeerId, guid: &str) -> Result<Option<String>> {
    t.map_get(&guid_side(p), guid)
}

/// Map `luid` ↔ `guid` for this peer, dropping any older mapping of either
/// id (phones reuse LUIDs; the newest mapping wins).
pub fn put_map(t: &mut Txn<'_>, p: &PeerId, luid: &str, guid: &str) -> Result<()> {
    let (ls, gs) = (luid_side(p), guid_side(p));
    if let Some(old_guid) = t.map_insert(&ls, luid, guid)?
        && old_guid != guid
    {
        t.map_remove(&gs, &old_guid)?;
    }
    if let Some(old_luid) = t.map_insert(&gs, guid, luid)?
        && old_luid != luid
    {
        t.map_remove(&ls, &old_luid)?;
    }
    Ok(())
}

pub fn remove_map_by_guid(t: &mut Txn<'_>, p: &PeerId, guid: &str) -> Result<()> {
    if let Some(luid) = t.map_remove(&guid_side(p), guid)? {
        t.map_remove(&luid_side(p), &luid)?;
    }
    Ok(())
}

pub fn remove_map_by_luid(t: &mut Txn<'_>, p: &PeerId, luid: &str) -> Result<()> {
    if let Some(guid) = t.map_remove(&luid_side(p), luid)? {
        t.map_remove(&guid_side(p), &guid)?;
    }
    Ok(())
}

/// Every (luid, guid) of a peer, in LUID order (refresh path only).
pub fn peer_maps(t: &Txn<'_>, p: &PeerId) -> Result<Vec<(String, String)>> {
    Ok(t.map_all(&luid_side(p))?.into_iter().collect())
}

pub fn clear_peer_maps(t: &mut Txn<'_>, p: &PeerId) -> Result<()> {
    t.flush_maps();
    for side in [luid_side(p), guid_side(p)] {
        t.map_drop_side(&side);
        for (k, _) in t.scan(Table::Maps, &KeyRange::prefix(&side), usize::MAX)? {
            t.remove(Table::Maps, k);
        }
    }
    Ok(())
}

/// Client role: a Map item sent but not yet confirmed by the server.
pub fn put_pending_map(t: &mut Txn<'_>, p: &PeerId, luid: &str, guid: &str) {
    t.put(
        Table::PendingMaps,
        key(&[&p.user, &p.device, &p.store, luid]),
        guid.as_bytes().to_vec(),
    );
}

pub fn remove_pending_map(t: &mut Txn<'_>, p: &PeerId, luid: &str) {
    t.remove(
        Table::PendingMaps,
        key(&[&p.user, &p.device, &p.store, luid]),
    );
}

/// Every unconfirmed (luid, guid) of a peer.
pub fn pending_maps(r: &dyn KvRead, p: &PeerId) -> Result<Vec<(String, String)>> {
    let prefix = key(&[&p.user, &p.device, &p.store]);
    let rows = r.scan(Table::PendingMaps, &KeyRange::prefix(&prefix), usize::MAX)?;
    rows.into_iter()
        .map(|(k, v)| {
            let luid = last_str_suffix(Table::PendingMaps, &k, prefix.len())?;
            let guid = String::from_utf8(v)
                .map_err(|_| corrupt(Table::PendingMaps, "guid is not UTF-8"))?;
            Ok((luid, guid))
        })
        .collect()
}

// ---- content index --------------------------------------------------------

/// A stable hash of an item's exact bytes (persisted: must not change
/// between builds, so not `std`'s hasher).
pub fn content_hash(data: &str) -> u64 {
    use md5::Digest as _;
    let d = md5::Md5::digest(data.as_bytes());
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

fn content_key(b: &BookId, hash: u64, guid: &str) -> Vec<u8> {
    let mut k = key_seq(&[&b.user, &b.store], hash);
    k.extend(key(&[guid]));
    k
}

/// Index `guid`'s `data` by its content hash; the row's value is the
/// content's fingerprint (`contacts::content_fingerprint`), so one scan
/// of the index gives a slow sync both ways to find the same content.
pub fn put_content_key(t: &mut Txn<'_>, b: &BookId, data: &str, guid: &str, fingerprint: u128) {
    set_content_fingerprint(t, b, content_hash(data), guid, fingerprint);
}

/// (Re)write the content-index row of `guid` under `hash` with its
/// content fingerprint (rows written before they carried one have none).
pub fn set_content_fingerprint(t: &mut Txn<'_>, b: &BookId, hash: u64, guid: &str, fp: u128) {
    t.put(
        Table::ContentIndex,
        content_key(b, hash, guid),
        fp.to_be_bytes().to_vec(),
    );
}

pub fn remove_content_key(t: &mut Txn<'_>, b: &BookId, data: &str, guid: &str) {
    t.remove(
        Table::ContentIndex,
        content_key(b, content_hash(data), guid),
    );
}

/// GUIDs of live items whose bytes hash like `data`'s (check the content).
pub fn content_candidates(r: &dyn KvRead, b: &BookId, data: &str) -> Result<Vec<String>> {
    let prefix = key_seq(&[&b.user, &b.store], content_hash(data));
    let rows = r.scan(Table::ContentIndex, &KeyRange::prefix(&prefix), 64)?;
    rows.into_iter()
        .map(|(k, _)| last_str_suffix(Table::ContentIndex, &k, prefix.len()))
        .collect()
}

/// Every live item of a book by its content, from one ordered scan of the
/// content index (a slow sync's snapshot, instead of a lookup per item).
#[derive(Debug, Default)]
pub struct ContentSnapshot {
    /// Content hash ([`content_hash`]) → GUIDs.
    pub by_hash: std::collections::HashMap<u64, Vec<String>>,
    /// Content fingerprint → GUIDs (each list in GUID order).
    pub by_fingerprint: std::collections::HashMap<u128, Vec<String>>,
    /// (hash, GUID) of rows written before rows carried a fingerprint.
    pub unknown: Vec<(u64, String)>,
}

/// The book's [`ContentSnapshot`].
pub fn content_snapshot(r: &dyn KvRead, b: &BookId) -> Result<ContentSnapshot> {
    let prefix = key(&[&b.user, &b.store]);
    let mut out = ContentSnapshot::default();
    let mut range = KeyRange::prefix(&prefix);
    loop {
        let rows = r.scan(Table::ContentIndex, &range, PAGE_ROWS)?;
        let full = rows.len() == PAGE_ROWS;
        for (k, v) in &rows {
            let hash = k
                .get(prefix.len()..prefix.len() + 8)
                .and_then(|h| <[u8; 8]>::try_from(h).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| corrupt(Table::ContentIndex, "short content key"))?;
            let guid = last_str_suffix(Table::ContentIndex, k, prefix.len() + 8)?;
            match <[u8; 16]>::try_from(v.as_slice()) {
                Ok(fp) => out
                    .by_fingerprint
                    .entry(u128::from_be_bytes(fp))
                    .or_default()
                    .push(guid.clone()),
                Err(_) if v.is_empty() => out.unknown.push((hash, guid.clone())),
                Err(_) => return Err(corrupt(Table::ContentIndex, "bad fingerprint")),
            }
            out.by_hash.entry(hash).or_default().push(guid);
        }
        match rows.last() {
            Some((last, _)) if full => range = KeyRange::prefix_after(&prefix, last),
            _ => break,
        }
    }
    for guids in out.by_fingerprint.values_mut() {
        guids.sort_unstable();
    }
    Ok(out)
}

/// Rows read per scan where a whole book is read in pages.
const PAGE_ROWS: usize = 5000;

// ---- people index ----------------------------------------------------------

fn people_key(b: &BookId, id_key: &str, guid: &str) -> Vec<u8> {
    key(&[&b.user, &b.store, id_key, guid])
}

/// The identity keys indexed for `guid` (empty if none).
pub fn people_keys(r: &dyn KvRead, b: &BookId, guid: &str) -> Result<Vec<String>> {
    Ok(get_rec(r, Table::PeopleKeys, &key(&[&b.user, &b.store, guid]))?.unwrap_or_default())
}

/// Index `guid` under exactly `keys` (none: forget it).
pub fn set_people_keys(t: &mut Txn<'_>, b: &BookId, guid: &str, keys: &[String]) -> Result<()> {
    let old = people_keys(t, b, guid)?;
    if old == keys {
        return Ok(());
    }
    // Fingerprints ("f:") are kept with the item's keys only, not in the
    // key → GUID index: byte-identical copies are found through the content
    // index, and a fingerprint is read only to rebuild a slow sync's index.
    let indexed = |k: &&String| !k.starts_with("f:");
    for k in old.iter().filter(indexed).filter(|k| !keys.contains(k)) {
        t.remove(Table::PeopleIndex, people_key(b, k, guid));
    }
    for k in keys.iter().filter(indexed).filter(|k| !old.contains(k)) {
        t.put(Table::PeopleIndex, people_key(b, k, guid), Vec::new());
    }
    let rk = key(&[&b.user, &b.store, guid]);
    if keys.is_empty() {
        t.remove(Table::PeopleKeys, rk);
    } else {
        t.put(Table::PeopleKeys, rk, enc(&keys));
    }
    Ok(())
}

/// The next `limit` (GUID, keys) of the book's people index after `after`
/// (GUID order; "" = from the start).
pub fn people_keys_page(
    r: &dyn KvRead,
    b: &BookId,
    after: &str,
    limit: usize,
) -> Result<Vec<(String, Vec<String>)>> {
    decoded_book_page(r, Table::PeopleKeys, b, after, limit)
}

/// Up to `limit` GUIDs indexed under `id_key`.
pub fn people_with_key(
    r: &dyn KvRead,
    b: &BookId,
    id_key: &str,
    limit: usize,
) -> Result<Vec<String>> {
    let prefix = key(&[&b.user, &b.store, id_key]);
    let rows = r.scan(Table::PeopleIndex, &KeyRange::prefix(&prefix), limit)?;
    rows.into_iter()
        .map(|(k, _)| last_str_suffix(Table::PeopleIndex, &k, prefix.len()))
        .collect()
}

// ---- conflicts ---------------------------------------------------------------

/// One conflict and how it was resolved: both versions, when, which device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ConflictRecord {
    pub time_ms: u64,
    pub device: String,
    pub store: String,
    pub guid: String,
    /// The server's version before the conflict (its last content when it
    /// had been deleted).
    pub server: String,
    pub server_deleted: bool,
    /// The client's version.
    pub client: String,
    /// merged, server-won, client-won, duplicated, re-created …
    pub resolution: String,
    pub policy: String,
    /// What the server holds afterwards under that GUID.
    pub result: Option<String>,
}

impl ConflictRecord {
    /// A stable id: time and GUID.
    pub fn id(&self) -> String {
        format!("{}-{}", self.time_ms, self.guid)
    }
}

pub fn put_conflict(t: &mut Txn<'_>, user: &str, rec: &ConflictRecord) {
    t.put(
        Table::Conflicts,
        key_seq(&[user], rec.time_ms)
            .into_iter()
            .chain(key(&[&rec.guid]))
            .collect(),
        enc(rec),
    );
}

/// A user's conflicts, oldest first.
pub fn conflicts(r: &dyn KvRead, user: &str) -> Result<Vec<ConflictRecord>> {
    let rows = r.scan(
        Table::Conflicts,
        &KeyRange::prefix(&key(&[user])),
        usize::MAX,
    )?;
    rows.into_iter()
        .map(|(_, v)| dec(Table::Conflicts, &v))
        .collect()
}

// ---- peers -------------------------------------------------------------------

pub fn peer_state(r: &dyn KvRead, p: &PeerId) -> Result<Option<PeerState>> {
    get_rec(r, Table::Peers, &key(&[&p.user, &p.device, &p.store]))
}

pub fn put_peer_state(t: &mut Txn<'_>, p: &PeerId, s: &PeerState) {
    t.put(Table::Peers, key(&[&p.user, &p.device, &p.store]), enc(s));
}

pub fn remove_peer_state(t: &mut Txn<'_>, p: &PeerId) {
    t.remove(Table::Peers, key(&[&p.user, &p.device, &p.store]));
}

/// Every peer (device) of a user with its per-store state: (device, store, state).
pub fn user_peers(r: &dyn KvRead, user: &str) -> Result<Vec<(String, String, PeerState)>> {
    let prefix = key(&[user]);
    let rows = r.scan(Table::Peers, &KeyRange::prefix(&prefix), usize::MAX)?;
    let mut out = Vec::with_capacity(rows.len());
    for (k, v) in rows {
        let device = last_str_suffix(Table::Peers, &k, prefix.len())?;
        let store = last_str_suffix(Table::Peers, &k, prefix.len() + 2 + device.len())?;
        out.push((device, store, dec(Table::Peers, &v)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, Store};

    fn book() -> BookId {
        BookId {
            user: "alice".into(),
            store: "contacts".into(),
        }
    }

    fn rec(seq: u64, deleted: bool) -> ItemRecord {
        ItemRecord {
            content_type: "text/vcard".into(),
            data: "BEGIN:VCARD".into(),
            seq,
            created_seq: seq,
            origin: "dev".into(),
            deleted,
            modified_ms: 0,
        }
    }

    #[test]
    fn content_snapshot_lists_every_item_of_the_book_across_pages() {
        let s = MemoryStore::new();
        let b = book();
        let other = BookId {
            user: "alicf".into(),
            store: "contacts".into(),
        };
        let mut t = Txn::new(&s);
        // More than a page, two items with the same bytes, another book;
        // fingerprints as the content's (two cards share one).
        for i in 0..PAGE_ROWS + 2 {
            put_content_key(
                &mut t,
                &b,
                &format!("card {i}"),
                &format!("g{i}"),
                i as u128,
            );
        }
        put_content_key(&mut t, &b, "card 0", "twin", 0);
        put_content_key(&mut t, &b, "card 7", "g7b", 1);
        put_content_key(&mut t, &other, "card 1", "elsewhere", 1);
        // A row as written before rows carried a fingerprint.
        t.put(
            Table::ContentIndex,
            content_key(&b, content_hash("old"), "g-old"),
            Vec::new(),
        );
        s.commit(&t.into_batch()).unwrap();
        let snap = content_snapshot(&s, &b).unwrap();
        let all = &snap.by_hash;
        assert_eq!(all.values().map(Vec::len).sum::<usize>(), PAGE_ROWS + 5);
        let mut twins = all[&content_hash("card 0")].clone();
        twins.sort();
        assert_eq!(twins, ["g0", "twin"]);
        assert_eq!(all[&content_hash("card 1")], ["g1"]);
        let last = format!("card {}", PAGE_ROWS + 1);
        assert_eq!(all[&content_hash(&last)], [format!("g{}", PAGE_ROWS + 1)]);
        // The same answer as the per-item lookup.
        assert_eq!(content_candidates(&s, &b, "card 1").unwrap(), ["g1"]);
        // Fingerprints, in GUID order whatever their hashes.
        assert_eq!(snap.by_fingerprint[&0], ["g0", "twin"]);
        assert_eq!(snap.by_fingerprint[&1], ["g1", "g7b"]);
        assert_eq!(
            snap.by_fingerprint.values().map(Vec::len).sum::<usize>(),
            PAGE_ROWS + 4
        );
        assert_eq!(snap.unknown, [(content_hash("old"), "g-old".to_owned())]);
        // A fingerprint written later is read back; anything else is corrupt.
        let mut t = Txn::new(&s);
        set_content_fingerprint(&mut t, &b, content_hash("old"), "g-old", u128::MAX);
        s.commit(&t.into_batch()).unwrap();
        let snap = content_snapshot(&s, &b).unwrap();
        assert!(snap.unknown.is_empty());
        assert_eq!(snap.by_fingerprint[&u128::MAX], ["g-old"]);
        let mut t = Txn::new(&s);
        t.put(
            Table::ContentIndex,
            content_key(&b, 1, "bad"),
            vec![1, 2, 3],
        );
        s.commit(&t.into_batch()).unwrap();
        assert!(matches!(
            content_snapshot(&s, &b),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn changes_between_pages_through_the_log_up_to_a_bound() {
        let s = MemoryStore::new();
        let b = book();
        let mut t = Txn::new(&s);
        // More than one page (1,000), and another book's changes.
        for seq in 1..=2_500u64 {
            put_item(&mut t, &b, &format!("g{seq}"), None, &rec(seq, false));
        }
        let other = BookId {
            user: "alicf".into(),
            store: "contacts".into(),
        };
        put_item(&mut t, &other, "x", None, &rec(7, false));
        s.commit(&t.into_batch()).unwrap();
        let seqs = |after, upto| -> Vec<u64> {
            changes_between(&s, &b, after, upto)
                .map(|c| c.unwrap().0)
                .collect()
        };
        assert_eq!(seqs(0, u64::MAX), (1..=2_500).collect::<Vec<_>>());
        assert_eq!(seqs(998, 1_003), [999, 1_000, 1_001, 1_002, 1_003]);
        assert_eq!(seqs(2_000, 2_000), Vec::<u64>::new());
        let all: Vec<(u64, String)> = changes_between(&s, &b, 2_498, 9_999)
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(all, [(2_499, "g2499".into()), (2_500, "g2500".into())]);
    }

    #[test]
    fn change_log_keeps_one_entry_per_guid() {
        let s = MemoryStore::new();
        let b = book();
        let mut t = Txn::new(&s);
        put_item(&mut t, &b, "1", None, &rec(1, false));
        put_item(&mut t, &b, "2", None, &rec(2, false));
        let old = item(&t, &b, "1").unwrap();
        put_item(&mut t, &b, "1", old.as_ref(), &rec(3, false));
        s.commit(&t.into_batch()).unwrap();
        assert_eq!(
            changes_after(&s, &b, 0, 10).unwrap(),
            vec![(2, "2".into()), (3, "1".into())]
        );
        assert_eq!(changes_after(&s, &b, 2, 10).unwrap(), vec![(3, "1".into())]);
        // another user's book is not in the range
        let other = BookId {
            user: "alicf".into(),
            store: "contacts".into(),
        };
        assert!(changes_after(&s, &other, 0, 10).unwrap().is_empty());
    }

    #[test]
    fn tombstones_are_indexed_and_purged() {
        let s = MemoryStore::new();
        let b = book();
        let mut t = Txn::new(&s);
        put_item(&mut t, &b, "1", None, &rec(1, false));
        let old = item(&t, &b, "1").unwrap();
        put_item(&mut t, &b, "1", old.as_ref(), &rec(2, true));
        assert_eq!(
            tombstones_upto(&t, &b, 5, 10).unwrap(),
            vec![(2, "1".into())]
        );
        assert!(tombstones_upto(&t, &b, 1, 10).unwrap().is_empty());
        let old = item(&t, &b, "1").unwrap().unwrap();
        purge_item(&mut t, &b, "1", &old).unwrap();
        s.commit(&t.into_batch()).unwrap();
        assert!(item(&s, &b, "1").unwrap().is_none());
        assert!(changes_after(&s, &b, 0, 10).unwrap().is_empty());
        assert!(tombstones_upto(&s, &b, 5, 10).unwrap().is_empty());
    }

    #[test]
    fn people_keys_are_replaced_exactly_and_go_with_a_purge() {
        let s = MemoryStore::new();
        let b = book();
        let keys = |v: &[&str]| v.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let mut t = Txn::new(&s);
        set_people_keys(&mut t, &b, "1", &keys(&["n:s:alice", "c:m:a@x"])).unwrap();
        set_people_keys(&mut t, &b, "2", &keys(&["n:s:alice"])).unwrap();
        s.commit(&t.into_batch()).unwrap();
        assert_eq!(
            people_with_key(&s, &b, "n:s:alice", 10).unwrap(),
            keys(&["1", "2"])
        );
        // A longer key with the same start is another key.
        assert!(people_with_key(&s, &b, "n:s:ali", 10).unwrap().is_empty());
        let mut t = Txn::new(&s);
        set_people_keys(&mut t, &b, "1", &keys(&["c:m:a@x", "n:s:alicia"])).unwrap();
        s.commit(&t.into_batch()).unwrap();
        assert_eq!(
            people_with_key(&s, &b, "n:s:alice", 10).unwrap(),
            keys(&["2"])
        );
        assert_eq!(
            people_with_key(&s, &b, "n:s:alicia", 10).unwrap(),
            keys(&["1"])
        );
        let mut t = Txn::new(&s);
        put_item(&mut t, &b, "1", None, &rec(1, true));
        purge_item(&mut t, &b, "1", &rec(1, true)).unwrap();
        s.commit(&t.into_batch()).unwrap();
        assert!(people_with_key(&s, &b, "c:m:a@x", 10).unwrap().is_empty());
        assert!(people_keys(&s, &b, "1").unwrap().is_empty());
    }

    #[test]
    fn fingerprints_are_kept_with_the_keys_but_not_indexed() {
        let s = MemoryStore::new();
        let b = book();
        let keys = |v: &[&str]| v.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let mut t = Txn::new(&s);
        for g in ["a", "b", "c"] {
            set_people_keys(&mut t, &b, g, &keys(&["n:s:x", &format!("f:{g}")])).unwrap();
        }
        s.commit(&t.into_batch()).unwrap();
        assert!(people_with_key(&s, &b, "f:a", 10).unwrap().is_empty());
        let first = people_keys_page(&s, &b, "", 2).unwrap();
        assert_eq!(
            first,
            vec![
                ("a".to_owned(), keys(&["n:s:x", "f:a"])),
                ("b".to_owned(), keys(&["n:s:x", "f:b"]))
            ]
        );
        let rest = people_keys_page(&s, &b, "b", 2).unwrap();
        assert_eq!(rest, vec![("c".to_owned(), keys(&["n:s:x", "f:c"]))]);
        let other = BookId {
            user: "alice".into(),
            store: "other".into(),
        };
        assert!(people_keys_page(&s, &other, "", 10).unwrap().is_empty());
    }

    #[test]
    fn newest_mapping_wins_both_ways() {
        let s = MemoryStore::new();
        let p = PeerId {
            user: "alice".into(),
            device: "IMEI:1".into(),
            store: "contacts".into(),
        };
        let mut t = Txn::new(&s);
        put_map(&mut t, &p, "L1", "G1").unwrap();
        put_map(&mut t, &p, "L1", "G2").unwrap(); // phone reused LUID L1
        assert_eq!(guid_for_luid(&t, &p, "L1").unwrap().as_deref(), Some("G2"));
        assert_eq!(luid_for_guid(&t, &p, "G1").unwrap(), None);
        put_map(&mut t, &p, "L3", "G2").unwrap();
        assert_eq!(guid_for_luid(&t, &p, "L1").unwrap(), None);
        assert_eq!(peer_maps(&t, &p).unwrap(), vec![("L3".into(), "G2".into())]);
        clear_peer_maps(&mut t, &p).unwrap();
        assert!(peer_maps(&t, &p).unwrap().is_empty());
    }

    #[test]
    fn peers_and_devices_list_by_user() {
        let s = MemoryStore::new();
        let mut t = Txn::new(&s);
        let p = PeerId {
            user: "alice".into(),
            device: "d:1".into(),
            store: "contacts".into(),
        };
        put_peer_state(
            &mut t,
            &p,
            &PeerState {
                synced_seq: 7,
                ..Default::default()
            },
        );
        put_device(&mut t, "alice", "d:1", &DeviceRecord::default());
        put_device(&mut t, "bob", "d:2", &DeviceRecord::default());
        let peers = user_peers(&t, "alice").unwrap();
        assert_eq!(peers.len(), 1);
        assert_eq!(
            (
                peers[0].0.as_str(),
                peers[0].1.as_str(),
                peers[0].2.synced_seq
            ),
            ("d:1", "contacts", 7)
        );
        assert_eq!(devices(&t, "alice").unwrap().len(), 1);
    }

    /// Regression: adding `DeviceRecord::callback` made every stored device
    /// record "corrupt" under the positional encoding used before (seen as an
    /// HTTP 500 after an upgrade). Older and newer records must both read.
    #[test]
    fn records_read_across_schema_changes() {
        #[derive(serde::Serialize)]
        struct OlderDevice {
            registered: bool,
            first_seen_ms: u64,
        }
        #[derive(serde::Serialize)]
        struct NewerDevice {
            registered: bool,
            callback: Option<String>,
            some_future_field: u32,
        }
        let old = enc(&OlderDevice {
            registered: true,
            first_seen_ms: 5,
        });
        let d: DeviceRecord = dec(Table::Devices, &old).unwrap();
        assert!(d.registered);
        assert_eq!(d.first_seen_ms, 5);
        assert_eq!(d.callback, None);
        let newer = enc(&NewerDevice {
            registered: true,
            callback: Some("http://x".into()),
            some_future_field: 1,
        });
        let d: DeviceRecord = dec(Table::Devices, &newer).unwrap();
        assert_eq!(d.callback.as_deref(), Some("http://x"));
        assert!(dec::<DeviceRecord>(Table::Devices, b"\xff\x00garbage").is_err());
    }
}
