//! A scripted SyncML client over real HTTP, for tests that need exact
//! control of every message (bad input, resends). Messages are built with
//! the model (`syncmld::protocol`) and encoded with `syncmld::wire::xml`;
//! replies are decoded the same way.

use syncmld::protocol::{
    Alert, Anchor, Command, Cred, Item, ItemCommand, ItemData, Loc, Meta, Status, Sync, SyncBody,
    SyncHdr, SyncMl, alert, auth_type, mime,
};
use syncmld::wire::xml;

use super::http::{HttpReply, post};

/// The SyncML XML media type.
pub const SYNCML_XML: &str = "application/vnd.syncml+xml";

/// A small valid vCard 3.0.
pub fn vcard(name: &str) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nN:{name};;;;\r\nTEL:+1 555 0100\r\nEND:VCARD\r\n"
    )
}

/// `syncml:auth-basic` credentials.
pub fn basic_cred(user: &str, password: &str) -> Cred {
    Cred {
        meta: Some(Meta {
            type_: Some(auth_type::BASIC.into()),
            format: Some("b64".into()),
            ..Meta::default()
        }),
        data: syncmld::auth::basic_credential(user, password),
    }
}

/// A sync Alert (200–205) for `target` (server datastore) from `./source`.
pub fn sync_alert(code: u16, target: &str, last: Option<&str>, next: &str) -> Command {
    Command::Alert(Alert {
        data: Some(code),
        items: vec![Item {
            target: Some(Loc::uri(target)),
            source: Some(Loc::uri("./addressbook")),
            meta: Some(Meta {
                anchor: Some(Anchor {
                    last: last.map(str::to_owned),
                    next: next.to_owned(),
                }),
                ..Meta::default()
            }),
            ..Item::default()
        }],
        ..Alert::default()
    })
}

/// `Sync` for the `addressbook` datastore holding `ops`.
pub fn sync_cmd(ops: Vec<Command>) -> Command {
    Command::Sync(Sync {
        target: Some(Loc::uri("addressbook")),
        source: Some(Loc::uri("./addressbook")),
        commands: ops,
        ..Sync::default()
    })
}

/// One Add item: LUID, content type, data, declared Size, MoreData.
#[derive(Debug, Clone)]
pub struct AddItem<'a> {
    pub luid: &'a str,
    pub content_type: &'a str,
    pub data: &'a str,
    pub size: Option<u64>,
    pub more_data: bool,
}

impl<'a> AddItem<'a> {
    /// A complete vCard 3.0 item.
    pub fn vcard(luid: &'a str, data: &'a str) -> Self {
        AddItem {
            luid,
            content_type: mime::VCARD30,
            data,
            size: None,
            more_data: false,
        }
    }
}

/// `Add` with one item; the type (and Size) go on the item's Meta.
pub fn add(item: AddItem<'_>) -> Command {
    Command::Add(ItemCommand {
        items: vec![Item {
            source: Some(Loc::uri(item.luid)),
            meta: Some(Meta {
                type_: Some(item.content_type.to_owned()),
                size: item.size,
                ..Meta::default()
            }),
            data: Some(ItemData::Text(item.data.to_owned())),
            more_data: item.more_data,
            ..Item::default()
        }],
        ..ItemCommand::default()
    })
}

/// One message exchange: what was sent where, and what came back.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub url: String,
    pub request: Vec<u8>,
    pub http: HttpReply,
    pub reply: SyncMl,
}

impl Exchange {
    /// The reply as text, for failure messages.
    pub fn xml(&self) -> String {
        self.http.text()
    }

    /// The Status answering command `cmd_ref` (0 = SyncHdr) of the message
    /// we sent; panics with the reply when there is none or several.
    #[track_caller]
    pub fn status(&self, cmd: &str, cmd_ref: u32) -> &Status {
        let found: Vec<&Status> = statuses(&self.reply)
            .filter(|s| s.cmd == cmd && s.cmd_ref == cmd_ref)
            .collect();
        match found.as_slice() {
            [one] => one,
            _ => panic!(
                "expected exactly one Status for {cmd} (CmdRef {cmd_ref}), found {}; reply:\n{}",
                found.len(),
                self.xml()
            ),
        }
    }

    /// Status code of the SyncHdr.
    #[track_caller]
    pub fn hdr_code(&self) -> u16 {
        self.status("SyncHdr", 0).data.0
    }

    /// Assert `status(cmd, cmd_ref)` has code `code`, printing the reply if not.
    #[track_caller]
    pub fn expect(&self, cmd: &str, cmd_ref: u32, code: u16) -> &Status {
        let st = self.status(cmd, cmd_ref);
        assert_eq!(
            st.data.0,
            code,
            "Status for {cmd} (CmdRef {cmd_ref}) is {}, expected {code}; reply:\n{}",
            st.data.0,
            self.xml()
        );
        st
    }
}

/// Every Status of a message.
pub fn statuses(msg: &SyncMl) -> impl Iterator<Item = &Status> {
    msg.body.commands.iter().filter_map(|c| match c {
        Command::Status(s) => Some(s),
        _ => None,
    })
}

/// A SyncML client for one device and user.
#[derive(Debug, Clone)]
pub struct Client {
    /// The server's sync URL (without sessionid).
    pub url: String,
    pub device: String,
    pub user: String,
    pub password: String,
    pub session_id: String,
    pub next_msg_id: u32,
    /// Where the next message goes (from the last reply), if any.
    pub resp_uri: Option<String>,
    pub ver_proto: String,
    pub ver_dtd: String,
}

impl Client {
    pub fn new(url: &str, device: &str, user: &str, password: &str) -> Self {
        Client {
            url: url.to_owned(),
            device: device.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
            session_id: "1".into(),
            next_msg_id: 1,
            resp_uri: None,
            ver_proto: "SyncML/1.2".into(),
            ver_dtd: "1.2".into(),
        }
    }

    /// Start a new session: next SessionID, MsgID 1, base URL.
    pub fn new_session(&mut self, session_id: &str) {
        self.session_id = session_id.to_owned();
        self.next_msg_id = 1;
        self.resp_uri = None;
    }

    pub fn header(&self, msg_id: u32, cred: Option<Cred>) -> SyncHdr {
        SyncHdr {
            ver_dtd: self.ver_dtd.clone(),
            ver_proto: self.ver_proto.clone(),
            session_id: self.session_id.clone(),
            msg_id,
            target: Loc::uri(&self.url),
            source: Loc {
                loc_uri: self.device.clone(),
                loc_name: Some(self.user.clone()),
            },
            cred,
            meta: Some(Meta {
                max_msg_size: Some(150_000),
                max_obj_size: Some(4_000_000),
                ..Meta::default()
            }),
            ..SyncHdr::default()
        }
    }

    /// The next message (MsgID = `next_msg_id`), commands renumbered from 1.
    pub fn message(&self, cred: Option<Cred>, commands: Vec<Command>, final_: bool) -> SyncMl {
        let mut next = 1;
        let commands = commands
            .into_iter()
            .map(|mut c| {
                next = c.renumber(next);
                c
            })
            .collect();
        SyncMl {
            header: self.header(self.next_msg_id, cred),
            body: SyncBody { commands, final_ },
        }
    }

    /// The client's own valid credentials.
    pub fn cred(&self) -> Cred {
        basic_cred(&self.user, &self.password)
    }

    /// Where the next message goes.
    pub fn target_url(&self) -> String {
        self.resp_uri.clone().unwrap_or_else(|| self.url.clone())
    }

    /// Encode and send `msg` to [`target_url`](Self::target_url); expects
    /// HTTP 200 with a SyncML reply. Advances the MsgID and follows RespURI.
    #[track_caller]
    pub fn send(&mut self, msg: &SyncMl) -> Exchange {
        let request = xml::encode(msg);
        let ex = self.send_bytes(&self.target_url(), request);
        self.next_msg_id = msg.header.msg_id + 1;
        if let Some(uri) = &ex.reply.header.resp_uri {
            self.resp_uri = Some(uri.clone());
        }
        ex
    }

    /// POST exactly `request` to `url`; expects HTTP 200 and SyncML.
    /// Changes no client state (use it for resends).
    #[track_caller]
    pub fn send_bytes(&self, url: &str, request: Vec<u8>) -> Exchange {
        let http = post(url, Some(SYNCML_XML), &request);
        assert_eq!(
            http.status,
            200,
            "POST {url}: HTTP {} (expected 200); body:\n{}\nrequest (first 4000 bytes):\n{}",
            http.status,
            http.text(),
            String::from_utf8_lossy(&request[..request.len().min(4000)])
        );
        assert_eq!(
            http.header("content-type"),
            Some(SYNCML_XML),
            "POST {url}: reply Content-Type; body:\n{}",
            http.text()
        );
        let reply = xml::decode(&http.body).unwrap_or_else(|e| {
            panic!(
                "POST {url}: the reply does not decode ({e}):\n{}",
                http.text()
            )
        });
        Exchange {
            url: url.to_owned(),
            request,
            http,
            reply,
        }
    }

    /// Package 1: credentials and a slow-sync Alert for `addressbook`.
    /// Expects 212 and a RespURI.
    #[track_caller]
    pub fn start_slow_sync(&mut self, next_anchor: &str, final_: bool) -> Exchange {
        let msg = self.message(
            Some(self.cred()),
            vec![sync_alert(
                alert::SLOW_SYNC,
                "addressbook",
                None,
                next_anchor,
            )],
            final_,
        );
        let ex = self.send(&msg);
        ex.expect("SyncHdr", 0, 212);
        assert!(
            ex.reply.header.resp_uri.is_some(),
            "no RespURI after successful authentication:\n{}",
            ex.xml()
        );
        ex
    }

    /// A whole slow sync that adds `items` (LUID, vCard) and completes.
    /// Returns the exchanges of the session.
    #[track_caller]
    pub fn slow_sync_adding(&mut self, next_anchor: &str, items: &[(&str, &str)]) -> Vec<Exchange> {
        let mut exchanges = vec![self.start_slow_sync(next_anchor, true)];
        // Package 3: our items, Final.
        let ops = items
            .iter()
            .map(|(luid, data)| add(AddItem::vcard(luid, data)))
            .collect();
        let msg = self.message(None, vec![sync_cmd(ops)], true);
        let ex = self.send(&msg);
        ex.expect("SyncHdr", 0, 200);
        for i in 0..items.len() {
            // Sync is CmdID 1, its Adds 2, 3, ...
            ex.expect("Add", 2 + i as u32, 201);
        }
        assert!(ex.reply.body.final_, "package 4 not final:\n{}", ex.xml());
        exchanges.push(ex);
        // Package 5: nothing to map (the server had nothing for us), Final.
        let msg = self.message(None, Vec::new(), true);
        let ex = self.send(&msg);
        ex.expect("SyncHdr", 0, 200);
        assert!(ex.reply.body.final_, "package 6 not final:\n{}", ex.xml());
        exchanges.push(ex);
        exchanges
    }
}
