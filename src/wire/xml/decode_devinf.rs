//! DevInf (`syncml:devinf`) decoding, including the DevInf 1.1 flat CTCap
//! list, which is folded into the 1.2 `CtCap`/`CtProperty`/`PropParam` shape.

use super::decode::required;
use super::element::El;
use super::tokenizer::{Open, Tokenizer};
use crate::protocol::{CtCap, CtProperty, CtTypeVer, DataStore, DevInf, DsMem, Ext, PropParam};
use crate::wire::DecodeError;

type Result<T> = std::result::Result<T, DecodeError>;

pub(crate) fn devinf(t: &mut Tokenizer, open: &Open) -> Result<DevInf> {
    let (mut ver_dtd, mut dev_id, mut dev_typ) = (None, None, None);
    let mut d = DevInf::default();
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::VerDTD => ver_dtd = Some(t.value(&c)?),
            El::Man => d.man = Some(t.value(&c)?),
            El::Mod => d.mod_ = Some(t.value(&c)?),
            El::OEM => d.oem = Some(t.value(&c)?),
            El::FwV => d.fw_v = Some(t.value(&c)?),
            El::SwV => d.sw_v = Some(t.value(&c)?),
            El::HwV => d.hw_v = Some(t.value(&c)?),
            El::DevID => dev_id = Some(t.value(&c)?),
            El::DevTyp => dev_typ = Some(t.value(&c)?),
            El::UTC => d.utc = t.flag(&c)?,
            El::SupportLargeObjs => d.support_large_objs = t.flag(&c)?,
            El::SupportNumberOfChanges => d.support_number_of_changes = t.flag(&c)?,
            El::DataStore => d.data_stores.push(data_store(t, &c)?),
            // DevInf 1.1: one device-level CTCap holding a flat list for
            // every content type; 1.2 senders never put CTCap here.
            El::CTCap => d.ctcaps.extend(ctcaps(t, &c)?),
            El::Ext => d.exts.push(ext(t, &c)?),
            _ => t.skip(&c)?,
        }
    }
    d.ver_dtd = required(ver_dtd, El::VerDTD, El::DevInf)?;
    d.dev_id = required(dev_id, El::DevID, El::DevInf)?;
    d.dev_typ = required(dev_typ, El::DevTyp, El::DevInf)?;
    Ok(d)
}

fn data_store(t: &mut Tokenizer, open: &Open) -> Result<DataStore> {
    let mut source_ref = None;
    let mut ds = DataStore::default();
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::SourceRef => source_ref = Some(t.value(&c)?),
            El::DisplayName => ds.display_name = Some(t.value(&c)?),
            El::MaxGUIDSize => ds.max_guid_size = Some(t.number(&c)?),
            El::RxPref => ds.rx_pref = Some(ct_type_ver(t, &c)?),
            El::Rx => ds.rx.push(ct_type_ver(t, &c)?),
            El::TxPref => ds.tx_pref = Some(ct_type_ver(t, &c)?),
            El::Tx => ds.tx.push(ct_type_ver(t, &c)?),
            El::CTCap => ds.ctcaps.extend(ctcaps(t, &c)?),
            El::DSMem => ds.ds_mem = Some(ds_mem(t, &c)?),
            El::SupportHierarchicalSync => ds.support_hierarchical_sync = t.flag(&c)?,
            El::SyncCap => sync_cap(t, &c, &mut ds.sync_types)?,
            _ => t.skip(&c)?,
        }
    }
    ds.source_ref = required(source_ref, El::SourceRef, El::DataStore)?;
    Ok(ds)
}

fn ct_type_ver(t: &mut Tokenizer, open: &Open) -> Result<CtTypeVer> {
    let (mut ct_type, mut ver_ct) = (None, None);
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::CTType => ct_type = Some(t.value(&c)?),
            El::VerCT => ver_ct = Some(t.value(&c)?),
            _ => t.skip(&c)?,
        }
    }
    Ok(CtTypeVer {
        ct_type: required(ct_type, El::CTType, open.el)?,
        // Some 1.1 devices omit VerCT; the encoder omits an empty one too.
        ver_ct: ver_ct.unwrap_or_default(),
    })
}

fn ds_mem(t: &mut Tokenizer, open: &Open) -> Result<DsMem> {
    let mut m = DsMem::default();
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::SharedMem => m.shared_mem = t.flag(&c)?,
            El::MaxMem => m.max_mem = Some(t.number(&c)?),
            El::MaxID => m.max_id = Some(t.number(&c)?),
            _ => t.skip(&c)?,
        }
    }
    Ok(m)
}

fn sync_cap(t: &mut Tokenizer, open: &Open, out: &mut Vec<String>) -> Result<()> {
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::SyncType => out.push(t.value(&c)?),
            _ => t.skip(&c)?,
        }
    }
    Ok(())
}

fn ext(t: &mut Tokenizer, open: &Open) -> Result<Ext> {
    let mut xnam = None;
    let mut xval = Vec::new();
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::XNam => xnam = Some(t.value(&c)?),
            El::XVal => xval.push(t.value(&c)?),
            _ => t.skip(&c)?,
        }
    }
    Ok(Ext {
        xnam: required(xnam, El::XNam, El::Ext)?,
        xval,
    })
}

/// One `CTCap` element, in either shape:
/// * 1.2: `CTType, VerCT, FieldLevel?, Property+` (one content type);
/// * 1.1: `(CTType, (PropName, ValEnum*, DataType?, Size?, DisplayName?,
///   (ParamName, ValEnum*, DataType?, DisplayName?)*)*)+` — a flat list where
///   each CTType starts a content type, each PropName a property and each
///   ParamName a parameter of the current property.
///
/// Mixed input is folded the same way, so both shapes (and the odd peer that
/// reorders the 1.2 children) end up as `CtCap` values.
fn ctcaps(t: &mut Tokenizer, open: &Open) -> Result<Vec<CtCap>> {
    let mut fold = CtCapFold::default();
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::CTType => {
                let v = t.value(&c)?;
                fold.ct_type(v);
            }
            El::VerCT => fold.cap().ver_ct = Some(t.value(&c)?),
            El::FieldLevel => fold.cap().field_level = t.flag(&c)?,
            El::Property => {
                let p = property(t, &c)?;
                fold.cap().properties.push(p);
                fold.in_param = false;
            }
            El::PropName => {
                let name = t.value(&c)?;
                fold.cap().properties.push(CtProperty {
                    prop_name: name,
                    ..CtProperty::default()
                });
                fold.in_param = false;
            }
            El::ParamName => {
                let name = t.value(&c)?;
                if let Some(p) = fold.property() {
                    p.params.push(PropParam {
                        param_name: name,
                        ..PropParam::default()
                    });
                    fold.in_param = true;
                }
            }
            El::ValEnum => {
                let v = t.value(&c)?;
                fold.field(
                    |p| p.val_enums.push(v.clone()),
                    |p| p.val_enums.push(v.clone()),
                );
            }
            El::DataType => {
                let v = t.value(&c)?;
                fold.field(
                    |p| p.data_type = Some(v.clone()),
                    |p| p.data_type = Some(v.clone()),
                );
            }
            El::DisplayName => {
                let v = t.value(&c)?;
                fold.field(
                    |p| p.display_name = Some(v.clone()),
                    |p| p.display_name = Some(v.clone()),
                );
            }
            El::Size | El::MaxSize => {
                let n = t.number(&c)?;
                if let Some(p) = fold.property() {
                    p.max_size = Some(n);
                }
            }
            El::MaxOccur => {
                let n = t.number(&c)?;
                if let Some(p) = fold.property() {
                    p.max_occur = Some(n);
                }
            }
            El::NoTruncate => {
                let flag = t.flag(&c)?;
                if let Some(p) = fold.property() {
                    p.no_truncate = flag;
                }
            }
            _ => t.skip(&c)?,
        }
    }
    fold.finish()
}

/// State of the CTCap fold: the content types so far, whether each has seen
/// its CTType, and whether flat ValEnum/DataType/DisplayName currently
/// belong to a parameter (after ParamName) or to the property.
#[derive(Default)]
struct CtCapFold {
    caps: Vec<(CtCap, bool)>,
    in_param: bool,
}

impl CtCapFold {
    /// A CTType starts a new content type unless the current one has none
    /// yet (1.2 children in another order, e.g. VerCT first).
    fn ct_type(&mut self, ct_type: String) {
        match self.caps.last_mut() {
            Some((cap, has_type)) if !*has_type => {
                cap.ct_type = ct_type;
                *has_type = true;
            }
            _ => self.caps.push((
                CtCap {
                    ct_type,
                    ..CtCap::default()
                },
                true,
            )),
        }
        self.in_param = false;
    }

    fn cap(&mut self) -> &mut CtCap {
        if self.caps.is_empty() {
            self.caps.push((CtCap::default(), false));
        }
        let last = self.caps.len() - 1;
        &mut self.caps[last].0
    }

    fn property(&mut self) -> Option<&mut CtProperty> {
        self.caps
            .last_mut()
            .and_then(|(cap, _)| cap.properties.last_mut())
    }

    /// Apply a flat field to the current parameter or property; dropped if
    /// there is neither (nothing sensible to attach it to).
    fn field(
        &mut self,
        to_param: impl FnOnce(&mut PropParam),
        to_prop: impl FnOnce(&mut CtProperty),
    ) {
        let in_param = self.in_param;
        if let Some(p) = self.property() {
            match p.params.last_mut() {
                Some(param) if in_param => to_param(param),
                _ => to_prop(p),
            }
        }
    }

    fn finish(self) -> Result<Vec<CtCap>> {
        self.caps
            .into_iter()
            .map(|(cap, has_type)| required(has_type.then_some(cap), El::CTType, El::CTCap))
            .collect()
    }
}

fn property(t: &mut Tokenizer, open: &Open) -> Result<CtProperty> {
    let mut prop_name = None;
    let mut p = CtProperty::default();
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::PropName => prop_name = Some(t.value(&c)?),
            El::DataType => p.data_type = Some(t.value(&c)?),
            El::MaxOccur => p.max_occur = Some(t.number(&c)?),
            // `Size` is the DevInf 1.1 spelling.
            El::MaxSize | El::Size => p.max_size = Some(t.number(&c)?),
            El::NoTruncate => p.no_truncate = t.flag(&c)?,
            El::ValEnum => p.val_enums.push(t.value(&c)?),
            El::DisplayName => p.display_name = Some(t.value(&c)?),
            El::PropParam => p.params.push(prop_param(t, &c)?),
            _ => t.skip(&c)?,
        }
    }
    p.prop_name = required(prop_name, El::PropName, El::Property)?;
    Ok(p)
}

fn prop_param(t: &mut Tokenizer, open: &Open) -> Result<PropParam> {
    let mut param_name = None;
    let mut p = PropParam::default();
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::ParamName => param_name = Some(t.value(&c)?),
            El::DataType => p.data_type = Some(t.value(&c)?),
            El::ValEnum => p.val_enums.push(t.value(&c)?),
            El::DisplayName => p.display_name = Some(t.value(&c)?),
            _ => t.skip(&c)?,
        }
    }
    p.param_name = required(param_name, El::ParamName, El::PropParam)?;
    Ok(p)
}
