use proptest::prelude::*;

use super::strategies;
use crate::protocol::*;
use crate::wire::xml::{decode, encode};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decode_inverts_encode(msg in strategies::message()) {
        let bytes = encode(&msg);
        let back = decode(&bytes).map_err(|e| {
            TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&bytes)))
        })?;
        prop_assert_eq!(back, msg);
    }
}

#[test]
fn sample_round_trips() {
    let msg = super::sample();
    assert_eq!(decode(&encode(&msg)), Ok(msg));
}

/// DevInf 1.1 is written as the flat device-level CTCap list and folded
/// back into the same structures (for the fields 1.1 has).
#[test]
fn devinf_11_flat_ctcaps_round_trip() {
    let prop = |name: &str, vals: &[&str], params: Vec<PropParam>| CtProperty {
        prop_name: name.into(),
        val_enums: vals.iter().map(|v| v.to_string()).collect(),
        params,
        ..CtProperty::default()
    };
    let devinf = DevInf {
        ver_dtd: "1.1".into(),
        dev_id: "IMEI:1".into(),
        dev_typ: "phone".into(),
        ctcaps: vec![
            CtCap {
                ct_type: "text/x-vcard".into(),
                properties: vec![
                    prop("BEGIN", &["VCARD"], vec![]),
                    CtProperty {
                        max_size: Some(40),
                        data_type: Some("chr".into()),
                        ..prop("N", &[], vec![])
                    },
                    prop(
                        "TEL",
                        &[],
                        vec![PropParam {
                            param_name: "TYPE".into(),
                            val_enums: vec!["CELL".into(), "HOME".into()],
                            display_name: Some("kind".into()),
                            ..PropParam::default()
                        }],
                    ),
                ],
                ..CtCap::default()
            },
            CtCap {
                ct_type: "text/vcard".into(),
                properties: vec![prop("FN", &[], vec![])],
                ..CtCap::default()
            },
        ],
        ..DevInf::default()
    };
    let mut msg = super::sample();
    msg.body.commands = vec![Command::Put(PutGet {
        cmd_id: 1,
        items: vec![Item {
            data: Some(ItemData::DevInf(Box::new(devinf))),
            ..Item::default()
        }],
        ..PutGet::default()
    })];
    let bytes = encode(&msg);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains(
            "<CTCap><CTType>text/x-vcard</CTType><PropName>BEGIN</PropName><ValEnum>VCARD</ValEnum>"
        ),
        "{text}"
    );
    assert!(
        text.contains("<DataType>chr</DataType><Size>40</Size>"),
        "{text}"
    );
    assert_eq!(decode(&bytes), Ok(msg));
}
