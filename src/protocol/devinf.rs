//! DevInf 1.2 (`syncml:devinf`): what a device says about itself.
//!
//! DevInf 1.1 puts CTCap at the DevInf level as one flat list; the decoder
//! folds that into [`DevInf::ctcaps`] so the rest of the code sees one shape.

/// `DevInf (VerDTD, Man?, Mod?, OEM?, FwV?, SwV?, HwV?, DevID, DevTyp, UTC?,
/// SupportLargeObjs?, SupportNumberOfChanges?, DataStore+, CTCap*, Ext*)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DevInf {
    pub ver_dtd: String,
    pub man: Option<String>,
    pub mod_: Option<String>,
    pub oem: Option<String>,
    pub fw_v: Option<String>,
    pub sw_v: Option<String>,
    pub hw_v: Option<String>,
    pub dev_id: String,
    pub dev_typ: String,
    pub utc: bool,
    pub support_large_objs: bool,
    pub support_number_of_changes: bool,
    pub data_stores: Vec<DataStore>,
    /// DevInf 1.1 style CTCaps (device level). Empty for 1.2 senders.
    pub ctcaps: Vec<CtCap>,
    pub exts: Vec<Ext>,
}

/// `DataStore (SourceRef, DisplayName?, MaxGUIDSize?, Rx-Pref, Rx*, Tx-Pref,
/// Tx*, CTCap*, DSMem?, SupportHierarchicalSync?, SyncCap, Filter-Rx*, FilterCap*)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataStore {
    pub source_ref: String,
    pub display_name: Option<String>,
    pub max_guid_size: Option<u32>,
    pub rx_pref: Option<CtTypeVer>,
    pub rx: Vec<CtTypeVer>,
    pub tx_pref: Option<CtTypeVer>,
    pub tx: Vec<CtTypeVer>,
    pub ctcaps: Vec<CtCap>,
    pub ds_mem: Option<DsMem>,
    pub support_hierarchical_sync: bool,
    /// `SyncCap/SyncType` values as sent; peers add non-standard ones
    /// (SyncEvolution's 390001), so they stay strings.
    pub sync_types: Vec<String>,
}

/// `(CTType, VerCT)` as in Rx, Tx, Rx-Pref, Tx-Pref.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CtTypeVer {
    pub ct_type: String,
    pub ver_ct: String,
}

impl CtTypeVer {
    pub fn new(ct_type: &str, ver_ct: &str) -> Self {
        CtTypeVer {
            ct_type: ct_type.to_owned(),
            ver_ct: ver_ct.to_owned(),
        }
    }
}

/// `DSMem (SharedMem?, MaxMem?, MaxID?)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DsMem {
    pub shared_mem: bool,
    pub max_mem: Option<u64>,
    pub max_id: Option<u64>,
}

/// `CTCap (CTType, VerCT, FieldLevel?, Property+)` (1.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CtCap {
    pub ct_type: String,
    pub ver_ct: Option<String>,
    pub field_level: bool,
    pub properties: Vec<CtProperty>,
}

/// `Property (PropName, DataType?, MaxOccur?, MaxSize?, NoTruncate?, ValEnum*, DisplayName?, PropParam*)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CtProperty {
    pub prop_name: String,
    pub data_type: Option<String>,
    pub max_occur: Option<u32>,
    pub max_size: Option<u32>,
    pub no_truncate: bool,
    pub val_enums: Vec<String>,
    pub display_name: Option<String>,
    pub params: Vec<PropParam>,
}

/// `PropParam (ParamName, DataType?, ValEnum*, DisplayName?)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PropParam {
    pub param_name: String,
    pub data_type: Option<String>,
    pub val_enums: Vec<String>,
    pub display_name: Option<String>,
}

/// `Ext (XNam, XVal*)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ext {
    pub xnam: String,
    pub xval: Vec<String>,
}

/// DevInf `Ext` name by which a syncmld client states the conflict policy
/// it prefers; a syncmld server applies it to that device unless an
/// administrator set one. Other servers ignore unknown Ext elements.
pub const EXT_CONFLICT_POLICY: &str = "X-syncmld-conflict-policy";

impl DevInf {
    /// The datastore whose SourceRef names `uri` (leading `./` ignored).
    pub fn data_store(&self, uri: &str) -> Option<&DataStore> {
        let want = uri.trim_start_matches("./");
        self.data_stores
            .iter()
            .find(|d| d.source_ref.trim_start_matches("./") == want)
    }
}
