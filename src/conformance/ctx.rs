//! What scenarios share: options, the recording transport, what the server
//! said about itself, the nonce last seen per device id, and the baseline
//! (the server's book before the run), with the means to put it back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::protocol::{Command, ItemData, alert};

use super::Options;
use super::device::Device;
use super::raw::{self, Raw};
use super::report::FinalState;
use super::scenarios::Fail;
use super::server_info::ServerInfo;
use super::vcard::{self, Card};
use super::wire::{Recorder, Wire};

/// One contact of the server's book before the run, as the server sent it.
#[derive(Debug, Clone)]
pub struct BaselineItem {
    pub raw: String,
    pub card: Card,
}

pub struct Ctx {
    pub opts: Options,
    pub rec: Recorder,
    pub server: ServerInfo,
    pub baseline: Vec<BaselineItem>,
    nonces: Mutex<HashMap<String, Vec<u8>>>,
    counter: AtomicU64,
    /// Distinguishes this run's contacts and anchors from earlier runs'.
    pub tag: String,
    /// The current scenario may have changed the server's book since it
    /// was last put back.
    dirty: AtomicBool,
}

impl Ctx {
    pub fn new(opts: Options, wire: Arc<dyn Wire>) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Ctx {
            opts,
            rec: Recorder::new(wire),
            server: ServerInfo::default(),
            baseline: Vec::new(),
            nonces: Mutex::new(HashMap::new()),
            counter: AtomicU64::new(now % 1_000_000),
            tag: format!("{:04x}", (now / 1000) % 0xffff),
            dirty: AtomicBool::new(false),
        }
    }

    pub fn device_id(&self, n: usize) -> String {
        format!("{}-{n}", self.opts.device_prefix)
    }

    /// A fresh virtual device with id `PREFIX-n`.
    pub fn device(&self, n: usize) -> Device {
        Device::new(self, n, self.opts.max_msg_size)
    }

    /// A fresh virtual device announcing a small MaxMsgSize.
    pub fn small_device(&self, n: usize, max_msg_size: u64) -> Device {
        Device::new(self, n, max_msg_size)
    }

    pub fn unique(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// A SessionID: at most 4 characters (the XSD's limit).
    pub fn session_id(&self) -> String {
        (self.unique() % 9999 + 1).to_string()
    }

    /// A fresh sync anchor.
    pub fn anchor(&self) -> String {
        format!("ct{}-{}", self.tag, self.unique())
    }

    fn nonces(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        self.nonces.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn nonce(&self, device: &str) -> Option<Vec<u8>> {
        self.nonces().get(device).cloned()
    }

    pub fn set_nonce(&self, device: &str, nonce: Vec<u8>) {
        self.nonces().insert(device.to_owned(), nonce);
    }

    /// A session that may change the server's book is starting.
    pub fn touch(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    pub fn begin_scenario(&self) {
        self.dirty.store(false, Ordering::Relaxed);
    }

    /// The book may differ from the baseline (the scenario failed before
    /// putting it back, or never did).
    pub fn needs_cleanup(&self) -> bool {
        self.dirty.load(Ordering::Relaxed)
    }

    pub fn baseline_cards(&self) -> Vec<Card> {
        self.baseline.iter().map(|b| b.card.clone()).collect()
    }

    /// Read the server's DevInf (a session without sync Alert) and its
    /// address book (a slow sync of a fresh device).
    pub async fn setup(&mut self) -> Result<(), Fail> {
        let info = {
            let device = self.device_id(1);
            let mut r = Raw::new(self, &device);
            let reply = r
                .open(vec![raw::put_devinf(&device), raw::get_devinf()])
                .await?;
            match raw::header_code(&reply) {
                Some(200 | 212) => {}
                code => {
                    return Err(Fail::Check(format!(
                        "authentication failed: SyncHdr status {}",
                        code.map_or("(none)".into(), |c| c.to_string())
                    )));
                }
            }
            let devinf = reply.body.commands.iter().find_map(|c| match c {
                Command::Results(res) => res.items.iter().find_map(|i| match &i.data {
                    Some(ItemData::DevInf(d)) => Some(d.as_ref().clone()),
                    _ => None,
                }),
                _ => None,
            });
            let chal_type = r.seen().replies().find_map(|m| {
                raw::header_status(m)
                    .and_then(|s| s.chal.as_ref())
                    .and_then(|c| c.meta.type_.clone())
            });
            let max_msg_size = reply.header.meta.as_ref().and_then(|m| m.max_msg_size);
            r.finish(reply, Vec::new()).await?;
            ServerInfo {
                devinf,
                chal_type,
                max_msg_size,
            }
        };
        self.server = info;
        let dev = self.device(1);
        dev.sync(self, alert::SLOW_SYNC).await?;
        self.baseline = dev
            .items()?
            .into_iter()
            .map(|(_, data)| BaselineItem {
                card: Card::parse(&data).unwrap_or_default(),
                raw: data,
            })
            .collect();
        self.dirty.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Put the server's book back to the baseline through `dev`, whose
    /// local book must equal the server's (it synced last): delete what
    /// the baseline lacks, re-add what it has and the device lacks, sync.
    pub async fn restore_from(&self, dev: &Device) -> Result<(), Fail> {
        let mut pool: Vec<Option<&BaselineItem>> = self.baseline.iter().map(Some).collect();
        let mut extra = Vec::new();
        for (luid, card) in dev.cards()? {
            match pool.iter().position(|b| b.is_some_and(|b| b.card == card)) {
                Some(i) => pool[i] = None,
                None => extra.push(luid),
            }
        }
        let lacking: Vec<&BaselineItem> = pool.into_iter().flatten().collect();
        if extra.is_empty() && lacking.is_empty() {
            self.dirty.store(false, Ordering::Relaxed);
            return Ok(());
        }
        for luid in &extra {
            dev.delete(luid)?;
        }
        for b in &lacking {
            dev.add(&b.raw)?;
        }
        let s = dev.sync(self, alert::TWO_WAY).await?;
        if !s.report.refused.is_empty() {
            return Err(Fail::Check(format!(
                "restoring the book: the server refused {:?}",
                s.report.refused
            )));
        }
        self.dirty.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Put the book back through a fresh device (after a failure, when no
    /// device is known to be in step with the server).
    pub async fn janitor(&self) -> Result<(), Fail> {
        let dev = self.device(1);
        dev.sync(self, alert::SLOW_SYNC).await?;
        self.restore_from(&dev).await
    }

    /// Does the server's book equal the baseline (by content)?
    pub async fn final_state(&self) -> FinalState {
        let dev = self.device(1);
        if let Err(e) = dev.sync(self, alert::SLOW_SYNC).await {
            return FinalState::Unknown(e.to_string());
        }
        let cards: Vec<Card> = match dev.cards() {
            Ok(c) => c.into_iter().map(|(_, c)| c).collect(),
            Err(e) => return FinalState::Unknown(e.to_string()),
        };
        let base = self.baseline_cards();
        let lost = vcard::missing(&base, &cards);
        let added = vcard::missing(&cards, &base);
        if lost.is_empty() && added.is_empty() {
            return FinalState::Restored {
                contacts: cards.len(),
            };
        }
        let names = |v: &[&Card]| {
            v.iter()
                .map(|c| c.fn_value().to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        FinalState::Differs(format!(
            "{} contact(s) of the baseline missing [{}], {} not in the baseline [{}]",
            lost.len(),
            names(&lost),
            added.len(),
            names(&added)
        ))
    }
}
