//! vCard fidelity (vcard-notes.md): a tricky contact goes up, comes back
//! with a refresh from server, and must say the same (compared by content:
//! re-encoding, 2.1 → 3.0, re-folding, date forms and properties the server
//! adds are fine and reported; lost or changed data is not). Properties a server's CTCap leaves out
//! are ones it says it does not keep: they are not compared, and a
//! scenario about nothing else is skipped.

use base64::Engine as _;

use crate::protocol::alert;

use super::super::ctx::Ctx;
use super::super::vcard::{self, Card};
use super::{Fail, Outcome, Pass, card, expect_mode};

async fn round_trip(cx: &Ctx, text: &str, focus: &[&str]) -> Outcome {
    let ds = &cx.opts.datastore;
    let undeclared: Vec<&str> = focus
        .iter()
        .copied()
        .filter(|p| cx.server.ctcap_lists(ds, p) == Some(false))
        .collect();
    if !focus.is_empty() && undeclared.len() == focus.len() {
        return Ok(Pass::Skip(format!(
            "the server's CTCap does not list {}",
            undeclared.join(", ")
        )));
    }
    let a = cx.device(1);
    a.add(text)?;
    a.sync(cx, alert::SLOW_SYNC).await?;
    let s = a.sync(cx, alert::REFRESH_FROM_SERVER).await?;
    expect_mode(&s, alert::REFRESH_FROM_SERVER)?;
    // Ours is what the refreshed book has beyond the baseline.
    let have: Vec<Card> = a.cards()?.into_iter().map(|(_, c)| c).collect();
    let base = cx.baseline_cards();
    let new: Vec<&Card> = vcard::missing(&have, &base);
    let verdict = match new.as_slice() {
        [got] => {
            let sent = card(text);
            let keep = |name: &str| cx.server.ctcap_lists(ds, name) != Some(false);
            let lost = sent.lost(got, &keep);
            let dropped = sent.lost(got, &|name: &str| !keep(name));
            // Properties the server adds (derived fields, its own
            // extensions) lose nothing: reported, not failed.
            let gained: Vec<String> = got
                .lost(&sent, &|_| true)
                .into_iter()
                .map(|l| l.replacen("lost ", "", 1))
                .collect();
            if lost.is_empty() {
                let mut detail = String::from("read back with nothing lost or changed");
                if !gained.is_empty() {
                    detail.push_str(&format!("; the server added {}", gained.join(", ")));
                }
                if !dropped.is_empty() {
                    detail.push_str(&format!(
                        "; {} (not in the server's CTCap, so allowed)",
                        dropped.join(", ")
                    ));
                }
                Ok(Pass::Ok(detail))
            } else {
                Err(Fail::Check(format!(
                    "read back after refresh-from-server differs: {}",
                    sent.diff(got, &keep).join("; ")
                )))
            }
        }
        other => Err(Fail::Check(format!(
            "after refresh-from-server the device has {} contact(s) beyond the server's earlier book, expected ours alone",
            other.len()
        ))),
    };
    cx.restore_from(&a).await?;
    verdict
}

pub async fn vcard21_qp(cx: &Ctx) -> Outcome {
    let text = "BEGIN:VCARD\r\n\
        VERSION:2.1\r\n\
        N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller-L=C3=BCdenscheid;J=C3=BCrgen;;;\r\n\
        FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:J=C3=BCrgen M=C3=BCller-L=C3=BCdenscheid\r\n\
        TEL;CELL;VOICE:+49 170 1234567\r\n\
        TEL;WORK;FAX:+49 30 7654321\r\n\
        ADR;HOME;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:;;Hauptstra=C3=9Fe 5;M=C3=BCnchen;;80331;Deutschland\r\n\
        NOTE;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Erste Zeile=0D=0AZweite Zeile mit =C3=A4=C3=B6=C3=BC und ein=\r\n\
        em langen Text, der weich umbrochen wird.\r\n\
        END:VCARD\r\n";
    round_trip(cx, text, &["N", "FN", "TEL", "ADR", "NOTE"]).await
}

pub async fn cjk(cx: &Ctx) -> Outcome {
    let text = "BEGIN:VCARD\r\n\
        VERSION:3.0\r\n\
        FN:山田 太郎\r\n\
        N:山田;太郎;;;\r\n\
        ORG:株式会社サンプル;営業部\r\n\
        TITLE:課長\r\n\
        ADR;TYPE=WORK:;;千代田区丸の内1-1;東京都;;100-0005;日本\r\n\
        NOTE:中文备注：北京市朝阳区。한국어 메모도 있습니다.\r\n\
        END:VCARD\r\n";
    round_trip(cx, text, &["FN", "N", "ORG", "TITLE", "ADR", "NOTE"]).await
}

pub async fn photo(cx: &Ctx) -> Outcome {
    // A small JPEG-looking blob: SOI/APP0 header, a pattern, EOI.
    let mut bytes = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00,
    ];
    bytes.extend((0..2400u32).map(|i| (i * 7 % 251) as u8));
    bytes.extend([0xFF, 0xD9]);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let line = format!("PHOTO;ENCODING=b;TYPE=JPEG:{b64}");
    let mut folded = String::new();
    for (i, chunk) in line.as_bytes().chunks(74).enumerate() {
        if i > 0 {
            folded.push_str("\r\n ");
        }
        folded.push_str(&String::from_utf8_lossy(chunk));
    }
    let text = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Photo CT{tag}\r\nN:CT{tag};Photo;;;\r\n{folded}\r\nEND:VCARD\r\n",
        tag = cx.tag
    );
    round_trip(cx, &text, &["PHOTO"]).await
}

pub async fn multiline_note(cx: &Ctx) -> Outcome {
    let text = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Note CT{tag}\r\nN:CT{tag};Note;;;\r\n\
         NOTE:First line\\nSecond line\\, with a comma\\; a semicolon and a backsl\r\n \
         ash \\\\\\n\\nAfter an empty line: the end.\r\nEND:VCARD\r\n",
        tag = cx.tag
    );
    round_trip(cx, &text, &["NOTE"]).await
}

pub async fn x_props(cx: &Ctx) -> Outcome {
    let text = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Extension CT{tag}\r\nN:CT{tag};Extension;;;\r\n\
         X-SYNCMLD-CONFORMANCE:kept as it is\r\nX-ANNIVERSARY:2001-02-03\r\nEND:VCARD\r\n",
        tag = cx.tag
    );
    round_trip(cx, &text, &["X-SYNCMLD-CONFORMANCE", "X-ANNIVERSARY"]).await
}

pub async fn common_fields(cx: &Ctx) -> Outcome {
    let text = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Fields CT{tag}\r\nN:CT{tag};Fields;Middle;Dr.;Jr.\r\n\
         NICKNAME:Fieldy\r\nORG:Example Corp;Research\r\nTITLE:Engineer\r\nBDAY:1980-04-05\r\n\
         TEL;TYPE=WORK,VOICE:+1 555 0100\r\nTEL;TYPE=HOME:+1 555 0101\r\nTEL;TYPE=CELL:+1 555 0102\r\n\
         EMAIL;TYPE=INTERNET,WORK:work@example.org\r\nEMAIL;TYPE=INTERNET,HOME:home@example.org\r\n\
         ADR;TYPE=WORK:;Suite 5;1 Main St;Springfield;IL;62701;USA\r\n\
         ADR;TYPE=HOME:;;2 Side St;Shelbyville;IL;62565;USA\r\n\
         URL:https://example.org/~fields\r\nCATEGORIES:Work,Friends\r\nEND:VCARD\r\n",
        tag = cx.tag
    );
    round_trip(
        cx,
        &text,
        &[
            "N",
            "NICKNAME",
            "ORG",
            "TITLE",
            "BDAY",
            "TEL",
            "EMAIL",
            "ADR",
            "URL",
            "CATEGORIES",
        ],
    )
    .await
}
