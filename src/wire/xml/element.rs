//! The closed set of element names the codec knows, across the SyncML,
//! MetInf and DevInf vocabularies. Decoding matches local names ASCII
//! case-insensitively (peers differ in case); encoding writes the canonical
//! spelling from the same table, so both directions agree on every name.

macro_rules! elements {
    ($($variant:ident => $name:literal,)*) => {
        /// A known element, by local name (namespace ignored). Variants are
        /// spelled like the elements, acronyms included.
        #[allow(clippy::upper_case_acronyms)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum El {
            $($variant,)*
            /// Any other element; skipped with its subtree unless it looks
            /// like a command (has a CmdID).
            Unknown,
        }

        const TABLE: &[(&str, El)] = &[$(($name, El::$variant),)*];

        impl El {
            /// The canonical (spec) spelling.
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(El::$variant => $name,)*
                    El::Unknown => "unknown",
                }
            }

            /// The element spelled exactly as the spec does (what nearly
            /// every peer sends): a `match`, compiled to length and byte
            /// comparisons instead of a case-insensitive scan of the table.
            fn from_canonical(local: &str) -> Option<El> {
                match local {
                    $($name => Some(El::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

elements! {
    // SyncML representation protocol
    SyncML => "SyncML",
    SyncHdr => "SyncHdr",
    SyncBody => "SyncBody",
    VerDTD => "VerDTD",
    VerProto => "VerProto",
    SessionID => "SessionID",
    MsgID => "MsgID",
    Target => "Target",
    Source => "Source",
    LocURI => "LocURI",
    LocName => "LocName",
    RespURI => "RespURI",
    NoResp => "NoResp",
    Cred => "Cred",
    Meta => "Meta",
    Data => "Data",
    Final => "Final",
    Status => "Status",
    Alert => "Alert",
    Sync => "Sync",
    Add => "Add",
    Replace => "Replace",
    Delete => "Delete",
    Copy => "Copy",
    Move => "Move",
    Map => "Map",
    MapItem => "MapItem",
    Put => "Put",
    Get => "Get",
    Results => "Results",
    Atomic => "Atomic",
    Sequence => "Sequence",
    Exec => "Exec",
    Search => "Search",
    CmdID => "CmdID",
    MsgRef => "MsgRef",
    CmdRef => "CmdRef",
    Cmd => "Cmd",
    TargetRef => "TargetRef",
    SourceRef => "SourceRef",
    Chal => "Chal",
    Correlator => "Correlator",
    Item => "Item",
    SourceParent => "SourceParent",
    TargetParent => "TargetParent",
    MoreData => "MoreData",
    Archive => "Archive",
    SftDel => "SftDel",
    Lang => "Lang",
    NumberOfChanges => "NumberOfChanges",
    // MetInf (syncml:metinf)
    MetInf => "MetInf",
    Format => "Format",
    Type => "Type",
    Mark => "Mark",
    Size => "Size",
    Anchor => "Anchor",
    Last => "Last",
    Next => "Next",
    Version => "Version",
    NextNonce => "NextNonce",
    MaxMsgSize => "MaxMsgSize",
    MaxObjSize => "MaxObjSize",
    EMI => "EMI",
    Mem => "Mem",
    SharedMem => "SharedMem",
    FreeMem => "FreeMem",
    FreeID => "FreeID",
    // DevInf (syncml:devinf)
    DevInf => "DevInf",
    Man => "Man",
    Mod => "Mod",
    OEM => "OEM",
    FwV => "FwV",
    SwV => "SwV",
    HwV => "HwV",
    DevID => "DevID",
    DevTyp => "DevTyp",
    UTC => "UTC",
    SupportLargeObjs => "SupportLargeObjs",
    SupportNumberOfChanges => "SupportNumberOfChanges",
    DataStore => "DataStore",
    DisplayName => "DisplayName",
    MaxGUIDSize => "MaxGUIDSize",
    RxPref => "Rx-Pref",
    Rx => "Rx",
    TxPref => "Tx-Pref",
    Tx => "Tx",
    CTCap => "CTCap",
    CTType => "CTType",
    VerCT => "VerCT",
    FieldLevel => "FieldLevel",
    Property => "Property",
    PropName => "PropName",
    DataType => "DataType",
    MaxOccur => "MaxOccur",
    MaxSize => "MaxSize",
    NoTruncate => "NoTruncate",
    ValEnum => "ValEnum",
    PropParam => "PropParam",
    ParamName => "ParamName",
    DSMem => "DSMem",
    MaxMem => "MaxMem",
    MaxID => "MaxID",
    SupportHierarchicalSync => "SupportHierarchicalSync",
    SyncCap => "SyncCap",
    SyncType => "SyncType",
    Ext => "Ext",
    XNam => "XNam",
    XVal => "XVal",
}

impl El {
    /// Map a local name (prefix already stripped) to a known element.
    pub(crate) fn from_local(local: &str) -> El {
        El::from_canonical(local).unwrap_or_else(|| {
            TABLE
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(local))
                .map_or(El::Unknown, |&(_, el)| el)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_round_trips() {
        assert_eq!(El::from_local("locuri"), El::LocURI);
        assert_eq!(El::from_local("RX-PREF"), El::RxPref);
        assert_eq!(El::from_local("Bogus"), El::Unknown);
        for &(name, el) in TABLE {
            assert_eq!(El::from_local(name), el);
            assert_eq!(el.name(), name);
        }
    }
}
