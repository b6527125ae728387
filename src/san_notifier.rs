//! Server role: Server Alerted Notifications (update notification, patent
//! P7). A device that gives a callback URL in its poll-first request gets a
//! DS 1.2 SAN (`POST callback`, `application/vnd.syncml.ds.notification`)
//! when another device changes its user's data, so it need not wait for its
//! next interval. One notification until the device syncs again.
//!
//! The SAN digest is keyed with the user's stored `B64(MD5("user:password"))`
//! (in place of the standard's server-identifier:password, which syncmld
//! does not keep) and an empty nonce; a syncmld client checks it with the
//! credentials it has for the server.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::http::client::HttpTransport;
use crate::protocol::san::{San, SanSync, UiMode};
use crate::store::schema;
use crate::store::{Batch, KvRead, StoreError, Table};

/// A device to notify: (user, device, callback URL, the user's digest).
pub type Target = (String, String, String, String);

/// Did this batch change items (as opposed to anchors, maps, nonces)?
pub fn touches_items(batch: &Batch) -> bool {
    batch.writes.iter().any(|w| w.table == Table::Items)
}

/// The user's other devices with a callback.
pub fn targets(
    store: &dyn KvRead,
    user: &str,
    except_device: &str,
) -> Result<Vec<Target>, StoreError> {
    let Some(rec) = schema::user(store, user)? else {
        return Ok(Vec::new());
    };
    Ok(schema::devices(store, user)?
        .into_iter()
        .filter(|(d, _)| d != except_device)
        .filter_map(|(d, r)| {
            r.callback
                .map(|cb| (user.to_owned(), d, cb, rec.md5_userpass.clone()))
        })
        .collect())
}

pub struct SanNotifier {
    transport: Arc<HttpTransport>,
    /// (user, device) already notified since its last sync.
    notified: Mutex<HashSet<(String, String)>>,
    server_id: String,
    datastore: String,
}

impl SanNotifier {
    pub fn new(server_id: String, datastore: String) -> Self {
        SanNotifier {
            transport: Arc::new(HttpTransport::new(Duration::from_secs(10))),
            notified: Mutex::new(HashSet::new()),
            server_id,
            datastore,
        }
    }

    /// The device completed a session: it may be notified again.
    pub fn synced(&self, user: &str, device: &str) {
        self.notified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(user.to_owned(), device.to_owned()));
    }

    /// Notify `targets` (in the background; failures are logged).
    pub fn notify(&self, targets: Vec<Target>) {
        for (user, device, url, key) in targets {
            if !self
                .notified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert((user.clone(), device.clone()))
            {
                continue;
            }
            let san = San {
                digest: [0; 16],
                version: 12,
                ui_mode: UiMode::Background,
                server_initiated: true,
                session_id: 0,
                server_id: self.server_id.clone(),
                syncs: vec![SanSync {
                    sync_type: 206,
                    content_type: 0,
                    server_uri: self.datastore.clone(),
                }],
            };
            let Ok(body) = crate::wire::san::encode(&san, &key, "") else {
                continue;
            };
            let transport = self.transport.clone();
            tokio::spawn(async move {
                let headers = [("content-type", crate::wire::san::MEDIA_TYPE.to_owned())];
                match transport.request("POST", &url, &headers, body).await {
                    Ok((status, _)) if status < 300 => {
                        tracing::debug!(%device, "server alerted notification sent")
                    }
                    Ok((status, _)) => {
                        tracing::info!(%device, status, "server alerted notification refused")
                    }
                    Err(e) => {
                        tracing::info!(%device, error = %e, "server alerted notification not delivered")
                    }
                }
            });
        }
    }
}
