//! The SyncML 1.2 message model.
//!
//! One typed model for every message syncmld sends or receives, whatever the
//! wire encoding. The codecs in [`crate::wire`] are the only code that turns
//! bytes into these types and back; the engine never sees XML.
//!
//! **Architecture invariant:** these types know nothing about XML or WBXML
//! (no serde derives, no namespace strings). Field order follows the OMA DTD
//! (OMA-SyncML-RepPro-DTD-V1_2), which is also the order the encoders emit.

pub mod devinf;
pub mod san;
pub mod status;

pub use devinf::*;
pub use status::StatusCode;

/// A whole SyncML message: `SyncML (SyncHdr, SyncBody)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncMl {
    pub header: SyncHdr,
    pub body: SyncBody,
}

/// `SyncHdr (VerDTD, VerProto, SessionID, MsgID, Target, Source, RespURI?, NoResp?, Cred?, Meta?)`.
///
/// VerDTD and VerProto are kept as received so the engine, not the decoder,
/// decides which versions it speaks (505/513).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncHdr {
    pub ver_dtd: String,
    pub ver_proto: String,
    /// Opaque; echoed back unchanged.
    pub session_id: String,
    /// Positive integer per direction, +1 per message.
    pub msg_id: u32,
    pub target: Loc,
    pub source: Loc,
    pub resp_uri: Option<String>,
    pub no_resp: bool,
    pub cred: Option<Cred>,
    pub meta: Option<Meta>,
}

/// `SyncBody ((commands)+, Final?)`. Command order is significant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncBody {
    pub commands: Vec<Command>,
    pub final_: bool,
}

/// `Target`/`Source`: `(LocURI, LocName?)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loc {
    pub loc_uri: String,
    pub loc_name: Option<String>,
}

impl Loc {
    pub fn uri(uri: impl Into<String>) -> Self {
        Loc {
            loc_uri: uri.into(),
            loc_name: None,
        }
    }
}

/// `Cred (Meta?, Data)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cred {
    pub meta: Option<Meta>,
    pub data: String,
}

/// `Chal (Meta)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chal {
    pub meta: Meta,
}

/// `Anchor (Last?, Next)` in the `syncml:metinf` namespace. Anchors are
/// opaque strings, compared exactly.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Anchor {
    pub last: Option<String>,
    pub next: String,
}

/// `Mem (SharedMem?, FreeMem, FreeID)` of MetInf.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mem {
    pub shared_mem: bool,
    pub free_mem: Option<u64>,
    pub free_id: Option<u64>,
}

/// `MetInf (Format?, Type?, Mark?, Size?, Anchor?, Version?, NextNonce?,
/// MaxMsgSize?, MaxObjSize?, EMI*, Mem?)`, used as the content of `Meta`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    pub format: Option<String>,
    pub type_: Option<String>,
    pub mark: Option<String>,
    pub size: Option<u64>,
    pub anchor: Option<Anchor>,
    pub version: Option<String>,
    /// Base64 text as on the wire; decode before hashing.
    pub next_nonce: Option<String>,
    pub max_msg_size: Option<u64>,
    pub max_obj_size: Option<u64>,
    pub emi: Vec<String>,
    pub mem: Option<Mem>,
}

impl Meta {
    pub fn is_empty(&self) -> bool {
        *self == Meta::default()
    }
    pub fn with_type(type_: impl Into<String>) -> Self {
        Meta {
            type_: Some(type_.into()),
            ..Meta::default()
        }
    }
}

/// The content of an `Item/Data` (or `Status/Item/Data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemData {
    /// Character data (vCard text, Base64 text when Meta Format is b64, or
    /// anything else). CDATA and escaped text decode to the same value.
    Text(String),
    /// An embedded `<DevInf xmlns="syncml:devinf">` document.
    DevInf(Box<DevInf>),
    /// An embedded MetInf `<Anchor>`, as in the Status to a sync Alert.
    Anchor(Anchor),
}

/// `Item (Target?, Source?, SourceParent?, TargetParent?, Meta?, Data?, MoreData?)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Item {
    pub target: Option<Loc>,
    pub source: Option<Loc>,
    pub source_parent: Option<String>,
    pub target_parent: Option<String>,
    pub meta: Option<Meta>,
    pub data: Option<ItemData>,
    pub more_data: bool,
}

impl Item {
    pub fn target_uri(&self) -> Option<&str> {
        self.target.as_ref().map(|l| l.loc_uri.as_str())
    }
    pub fn source_uri(&self) -> Option<&str> {
        self.source.as_ref().map(|l| l.loc_uri.as_str())
    }
    pub fn text(&self) -> Option<&str> {
        match &self.data {
            Some(ItemData::Text(t)) => Some(t),
            _ => None,
        }
    }
}

/// Every command a SyncBody (or, for the item commands, a Sync) may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status(Status),
    Alert(Alert),
    Sync(Sync),
    Add(ItemCommand),
    Replace(ItemCommand),
    Delete(ItemCommand),
    Copy(ItemCommand),
    Map(Map),
    Put(PutGet),
    Get(PutGet),
    Results(Results),
    /// A command the model does not type (Atomic, Sequence, Exec, Search,
    /// Move, vendor extensions): kept by name and CmdID so the engine can
    /// answer it with a Status (e.g. 406) instead of ignoring it.
    Unsupported(Unsupported),
}

impl Command {
    /// The element name, as used in `Status/Cmd`.
    pub fn name(&self) -> &str {
        match self {
            Command::Status(_) => "Status",
            Command::Alert(_) => "Alert",
            Command::Sync(_) => "Sync",
            Command::Add(_) => "Add",
            Command::Replace(_) => "Replace",
            Command::Delete(_) => "Delete",
            Command::Copy(_) => "Copy",
            Command::Map(_) => "Map",
            Command::Put(_) => "Put",
            Command::Get(_) => "Get",
            Command::Results(_) => "Results",
            Command::Unsupported(u) => &u.name,
        }
    }

    pub fn cmd_id(&self) -> u32 {
        match self {
            Command::Status(c) => c.cmd_id,
            Command::Alert(c) => c.cmd_id,
            Command::Sync(c) => c.cmd_id,
            Command::Add(c) | Command::Replace(c) | Command::Delete(c) | Command::Copy(c) => {
                c.cmd_id
            }
            Command::Map(c) => c.cmd_id,
            Command::Put(c) | Command::Get(c) => c.cmd_id,
            Command::Results(c) => c.cmd_id,
            Command::Unsupported(c) => c.cmd_id,
        }
    }

    /// Renumber this command (and nested ones) starting at `next`; returns
    /// the next free CmdID. CmdIDs restart at 1 in every message and nested
    /// commands share the counter.
    pub fn renumber(&mut self, next: u32) -> u32 {
        let mut n = next;
        match self {
            Command::Status(c) => c.cmd_id = take(&mut n),
            Command::Alert(c) => c.cmd_id = take(&mut n),
            Command::Sync(c) => {
                c.cmd_id = take(&mut n);
                for op in &mut c.commands {
                    n = op.renumber(n);
                }
            }
            Command::Add(c) | Command::Replace(c) | Command::Delete(c) | Command::Copy(c) => {
                c.cmd_id = take(&mut n)
            }
            Command::Map(c) => c.cmd_id = take(&mut n),
            Command::Put(c) | Command::Get(c) => c.cmd_id = take(&mut n),
            Command::Results(c) => c.cmd_id = take(&mut n),
            Command::Unsupported(c) => c.cmd_id = take(&mut n),
        }
        n
    }
}

fn take(n: &mut u32) -> u32 {
    let v = *n;
    *n += 1;
    v
}

/// `Status (CmdID, MsgRef, CmdRef, Cmd, TargetRef*, SourceRef*, Cred?, Chal?, Data, Item*)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    pub cmd_id: u32,
    pub msg_ref: u32,
    /// 0 for the SyncHdr.
    pub cmd_ref: u32,
    /// Name of the command answered (`SyncHdr`, `Alert`, ...).
    pub cmd: String,
    pub target_refs: Vec<String>,
    pub source_refs: Vec<String>,
    pub cred: Option<Cred>,
    pub chal: Option<Chal>,
    pub data: StatusCode,
    pub items: Vec<Item>,
}

/// `Alert (CmdID, NoResp?, Cred?, Data?, Correlator?, Item*)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Alert {
    pub cmd_id: u32,
    pub no_resp: bool,
    pub cred: Option<Cred>,
    /// The alert code (200–210 sync types, 222 next message, ...).
    pub data: Option<u16>,
    pub correlator: Option<String>,
    pub items: Vec<Item>,
}

/// `Sync (CmdID, NoResp?, Cred?, Target?, Source?, Meta?, NumberOfChanges?, (Add|Replace|Delete|...)*)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sync {
    pub cmd_id: u32,
    pub no_resp: bool,
    pub cred: Option<Cred>,
    pub target: Option<Loc>,
    pub source: Option<Loc>,
    pub meta: Option<Meta>,
    pub number_of_changes: Option<u32>,
    /// Only Add/Replace/Delete/Copy/Unsupported appear here.
    pub commands: Vec<Command>,
}

/// `Add|Replace|Delete|Copy (CmdID, NoResp?, Archive?, SftDel?, Cred?, Meta?, Item+)`.
/// Archive and SftDel are only valid on Delete.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemCommand {
    pub cmd_id: u32,
    pub no_resp: bool,
    pub archive: bool,
    pub sft_del: bool,
    pub cred: Option<Cred>,
    pub meta: Option<Meta>,
    pub items: Vec<Item>,
}

/// `Map (CmdID, Target, Source, Cred?, Meta?, MapItem+)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Map {
    pub cmd_id: u32,
    pub target: Loc,
    pub source: Loc,
    pub cred: Option<Cred>,
    pub meta: Option<Meta>,
    pub items: Vec<MapItem>,
}

/// `MapItem (Target, Source)`: Target = server GUID, Source = client LUID.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MapItem {
    pub target: Loc,
    pub source: Loc,
}

/// `Put|Get (CmdID, NoResp?, Lang?, Cred?, Meta?, Item+)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PutGet {
    pub cmd_id: u32,
    pub no_resp: bool,
    pub lang: Option<String>,
    pub cred: Option<Cred>,
    pub meta: Option<Meta>,
    pub items: Vec<Item>,
}

/// `Results (CmdID, MsgRef?, CmdRef, Meta?, TargetRef?, SourceRef?, Item+)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Results {
    pub cmd_id: u32,
    pub msg_ref: u32,
    pub cmd_ref: u32,
    pub meta: Option<Meta>,
    pub target_ref: Option<String>,
    pub source_ref: Option<String>,
    pub items: Vec<Item>,
}

/// A command element the model does not type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unsupported {
    pub name: String,
    pub cmd_id: u32,
    pub no_resp: bool,
}

/// Alert codes (OMA DS 1.2 RepPro, "Alert Codes").
pub mod alert {
    pub const DISPLAY: u16 = 100;
    pub const TWO_WAY: u16 = 200;
    pub const SLOW_SYNC: u16 = 201;
    pub const ONE_WAY_FROM_CLIENT: u16 = 202;
    pub const REFRESH_FROM_CLIENT: u16 = 203;
    pub const ONE_WAY_FROM_SERVER: u16 = 204;
    pub const REFRESH_FROM_SERVER: u16 = 205;
    pub const TWO_WAY_BY_SERVER: u16 = 206;
    pub const ONE_WAY_FROM_CLIENT_BY_SERVER: u16 = 207;
    pub const REFRESH_FROM_CLIENT_BY_SERVER: u16 = 208;
    pub const ONE_WAY_FROM_SERVER_BY_SERVER: u16 = 209;
    pub const REFRESH_FROM_SERVER_BY_SERVER: u16 = 210;
    pub const RESULT_ALERT: u16 = 221;
    pub const NEXT_MESSAGE: u16 = 222;
    pub const NO_END_OF_DATA: u16 = 223;
    pub const SUSPEND: u16 = 224;
    pub const RESUME: u16 = 225;
}

/// Media types on the wire.
pub mod mime {
    pub const SYNCML_XML: &str = "application/vnd.syncml+xml";
    pub const SYNCML_WBXML: &str = "application/vnd.syncml+wbxml";
    pub const DEVINF_XML: &str = "application/vnd.syncml-devinf+xml";
    pub const DEVINF_WBXML: &str = "application/vnd.syncml-devinf+wbxml";
    pub const VCARD21: &str = "text/x-vcard";
    pub const VCARD30: &str = "text/vcard";
}

/// Credential types (`Cred/Meta/Type`).
pub mod auth_type {
    pub const BASIC: &str = "syncml:auth-basic";
    pub const MD5: &str = "syncml:auth-md5";
    /// The patent's device-bound credential (CN101730085A claim 3):
    /// `B64(MD5(shared secret ++ device id))`. Not an OMA type; documented in
    /// docs/auth.md.
    pub const DEVICE: &str = "x-syncmld:auth-device";
    /// Replay-proof HMAC-SHA256 over device id, session id, MsgID and nonce.
    pub const HMAC: &str = "x-syncmld:auth-hmac-sha256";
}
