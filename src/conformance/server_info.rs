//! What the server says about itself (its DevInf), read once before the
//! scenarios: optional capabilities decide which scenarios are skipped.

use crate::protocol::{DataStore, DevInf};

#[derive(Debug, Clone, Default)]
pub struct ServerInfo {
    pub devinf: Option<DevInf>,
    /// The credential type of the server's challenge (`syncml:auth-md5`…).
    pub chal_type: Option<String>,
    /// The MaxMsgSize the server announced (what it accepts per message).
    pub max_msg_size: Option<u64>,
}

impl ServerInfo {
    /// The DataStore the runner syncs with (`datastore`, `./` and case
    /// ignored), or the only one the server has.
    pub fn data_store(&self, datastore: &str) -> Option<&DataStore> {
        let d = self.devinf.as_ref()?;
        let want = datastore.trim_start_matches("./");
        d.data_stores
            .iter()
            .find(|s| {
                s.source_ref
                    .trim_start_matches("./")
                    .eq_ignore_ascii_case(want)
            })
            .or(if d.data_stores.len() == 1 {
                d.data_stores.first()
            } else {
                None
            })
    }

    pub fn large_objects(&self) -> bool {
        self.devinf.as_ref().is_some_and(|d| d.support_large_objs)
    }

    /// Does the server's CTCap for vCards list property `name`? `None` when
    /// it declares no vCard CTCap at all (then every property is expected
    /// to survive).
    pub fn ctcap_lists(&self, datastore: &str, name: &str) -> Option<bool> {
        let d = self.devinf.as_ref()?;
        let mut caps: Vec<&crate::protocol::CtCap> = d.ctcaps.iter().collect();
        if let Some(ds) = self.data_store(datastore) {
            caps.extend(ds.ctcaps.iter());
        }
        let vcard: Vec<_> = caps
            .into_iter()
            .filter(|c| c.ct_type.to_ascii_lowercase().contains("vcard"))
            .collect();
        if vcard.is_empty() {
            return None;
        }
        Some(vcard.iter().any(|c| {
            c.properties
                .iter()
                .any(|p| p.prop_name.eq_ignore_ascii_case(name))
        }))
    }

    /// One line for the report header.
    pub fn summary(&self) -> String {
        let Some(d) = &self.devinf else {
            return "server DevInf: none received".into();
        };
        let mut s = format!(
            "{} {} {} (DevInf {}, DevTyp {})",
            d.man.as_deref().unwrap_or("?"),
            d.mod_.as_deref().unwrap_or("?"),
            d.sw_v.as_deref().unwrap_or(""),
            d.ver_dtd,
            d.dev_typ
        );
        let ds: Vec<&str> = d
            .data_stores
            .iter()
            .map(|s| s.source_ref.as_str())
            .collect();
        s.push_str(&format!("; datastores {}", ds.join(", ")));
        if d.support_large_objs {
            s.push_str("; SupportLargeObjs");
        }
        if d.support_number_of_changes {
            s.push_str("; SupportNumberOfChanges");
        }
        s
    }
}
