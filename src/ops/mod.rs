//! Running syncmld as a service: systemd notification and watchdog,
//! logging, reload on SIGHUP, `/metrics`, the admin socket, import/export
//! and `check-config`. `daemon` wires these together; `main` only parses
//! arguments.

pub mod admin_api;
pub mod admin_socket;
pub mod check_config;
pub mod import_export;
pub mod logging;
pub mod metrics;
pub mod notify;

use std::sync::Arc;

use crate::admin;
use crate::config::{Config, ConfigError};
use crate::http::{SyncHandler, SyncReply, SyncRequest};
use crate::service::SyncService;
use crate::store::Store;

/// The HTTP handler of the daemon: SyncML to the service, `/metrics` from
/// the counters and the store.
pub struct Endpoint {
    pub service: Arc<SyncService>,
    /// The SyncML path; `{sync_path}/pending` is the poll-first endpoint.
    pub sync_path: String,
    /// `None`: metrics are off (`server.metrics = false`).
    pub metrics: Option<Arc<metrics::Metrics>>,
}

impl SyncHandler for Endpoint {
    fn handle(&self, req: SyncRequest) -> impl std::future::Future<Output = SyncReply> + Send {
        self.service.handle(req)
    }

    async fn metrics(&self) -> Option<String> {
        let metrics = self.metrics.clone()?;
        let store = self.service.store().clone();
        let sessions = self.service.session_count();
        let joined = tokio::task::spawn_blocking(move || {
            let gauges = metrics::Gauges::read(store.as_ref(), sessions).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "metrics: reading the store failed");
                metrics::Gauges {
                    sessions_active: sessions as u64,
                    ..metrics::Gauges::default()
                }
            });
            metrics.render(&gauges)
        })
        .await;
        joined.ok()
    }

    async fn other(&self, req: crate::http::HttpRequest) -> Option<crate::http::HttpReply> {
        if req.path != format!("{}/pending", self.sync_path.trim_end_matches('/')) {
            return None;
        }
        if req.method != "POST" {
            return Some(
                crate::http::HttpReply::text(405, "only POST is allowed here\n")
                    .with_header("allow", "POST"),
            );
        }
        Some(self.service.pending(&req).await)
    }
}

/// Loads the configuration again (same files, environment and command-line
/// overrides as at start), for SIGHUP.
pub type ConfigLoader = Box<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

/// What a reload changes without a restart: the `[log]` section (level and
/// `log.contents`) and the `[[users]]` of the configuration (added or with a
/// new password). Everything else needs a restart; a reload names the
/// sections that changed so the operator knows.
pub fn reload(
    loader: &ConfigLoader,
    running: &mut Config,
    log: &logging::LogHandle,
    store: &dyn Store,
    now_ms: u64,
) {
    notify::reloading();
    match loader() {
        Ok(new) => {
            log.reload(&new.log);
            for u in &new.users {
                match admin::ensure_user(store, &u.name, &u.md5_userpass, now_ms) {
                    Ok(true) => {
                        tracing::info!(user = %u.name, "user from the configuration file stored")
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(user = %u.name, error = %e, "user from the configuration file not stored")
                    }
                }
            }
            let restart = needs_restart(running, &new);
            if !restart.is_empty() {
                tracing::warn!(
                    sections = %restart.join(", "),
                    "configuration changed in sections a reload does not apply; restart syncmld for them"
                );
            }
            running.log = new.log;
            running.users = new.users;
            tracing::info!("configuration reloaded");
        }
        Err(e) => {
            tracing::error!(error = %e, "reload failed; the running configuration stays");
        }
    }
    notify::ready("serving (reloaded)");
}

/// The sections of `new` that differ from `old` and only take effect on a
/// restart.
pub fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |name, a: String, b: String| {
        if a != b {
            out.push(name);
        }
    };
    check("role", format!("{:?}", old.role), format!("{:?}", new.role));
    check(
        "server",
        format!("{:?}", old.server),
        format!("{:?}", new.server),
    );
    check(
        "storage",
        format!("{:?}", old.storage),
        format!("{:?}", new.storage),
    );
    check("auth", format!("{:?}", old.auth), format!("{:?}", new.auth));
    check(
        "contacts",
        format!("{:?}", old.contacts),
        format!("{:?}", new.contacts),
    );
    check(
        "admin",
        format!("{:?}", old.admin),
        format!("{:?}", new.admin),
    );
    out
}
