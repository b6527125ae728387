//! The long-running process: open the store, build the engine and the
//! service from the validated configuration, serve HTTP until a signal,
//! then flush the store.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use crate::admin;
use crate::config::{Config, Log};
use crate::engine::server::{ServerConfig, ServerEngine};
use crate::http::server::{HttpOptions, serve as serve_http};
use crate::ops;
use crate::service::{ServiceLimits, SyncService};
use crate::store::{SledStore, Store};

/// Local name of the contacts book in the store.
pub const CONTACTS_STORE: &str = "contacts";

/// Install logging (journal under systemd, else stderr); see
/// [`ops::logging`].
pub fn init_logging(log: &Log) -> ops::logging::LogHandle {
    ops::logging::init(log)
}

/// Open the sled store under the data directory (created if missing).
pub fn open_store(cfg: &Config) -> Result<SledStore> {
    let dir = cfg.storage.data_dir.join("store");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let store =
        SledStore::open(&dir, cfg.storage.cache_capacity_bytes.get()).with_context(|| {
            format!(
                "opening the store in {} (is another syncmld using it?)",
                cfg.storage.data_dir.display()
            )
        })?;
    // Data written by older versions, brought up to date before any use.
    let report =
        crate::store::upgrade::run(&store).context("upgrading the store's data to this version")?;
    if report.map_entries_chunked > 0 {
        tracing::info!(
            entries = report.map_entries_chunked,
            "peer maps moved into chunks"
        );
    }
    Ok(store)
}

pub fn engine_config(cfg: &Config) -> ServerConfig {
    ServerConfig {
        max_msg_size: cfg.server.max_msg_size.get(),
        max_obj_size: cfg.server.max_obj_size.get(),
        schemes: cfg.auth.challenge_order(),
        require_registered_devices: cfg.auth.require_registered_devices,
        store_name: CONTACTS_STORE.into(),
        contact_uris: cfg.contacts.uris.clone(),
        conflict_policy: cfg.contacts.conflict_policy,
        region: cfg.contacts.region,
    }
}

/// What `serve` needs besides the configuration: the logging handle and
/// how to load the configuration again on SIGHUP.
pub struct Control {
    pub log: ops::logging::LogHandle,
    /// `None`: SIGHUP is answered (RELOADING/READY) but changes nothing.
    pub loader: Option<ops::ConfigLoader>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub async fn serve(cfg: Config, control: Control) -> Result<()> {
    let store = Arc::new(open_store(&cfg)?);
    for u in &cfg.users {
        if admin::ensure_user(store.as_ref(), &u.name, &u.md5_userpass, now_ms())? {
            tracing::info!(user = %u.name, "user from the configuration file stored");
        }
    }
    let listener = tokio::net::TcpListener::bind(cfg.server.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.server.listen))?;
    let local = listener.local_addr().context("local address")?;
    let limits = ServiceLimits {
        session_timeout: cfg.server.session_timeout,
        max_sessions: cfg.server.max_sessions.get(),
        max_finished_sessions: cfg.server.max_finished_sessions.get(),
        fallback_url: format!("http://{local}{}", cfg.server.path),
    };
    let store_dyn: Arc<dyn Store> = store.clone();
    let metrics = cfg
        .server
        .metrics
        .then(|| Arc::new(ops::metrics::Metrics::new()));
    let mut service = SyncService::new(ServerEngine::new(engine_config(&cfg)), store_dyn, limits);
    if let Some(m) = &metrics {
        service = service.with_observer(m.clone());
    }
    let datastore = cfg
        .contacts
        .uris
        .first()
        .cloned()
        .unwrap_or_else(|| "addressbook".into());
    service = service.with_notifier(crate::san_notifier::SanNotifier::new(
        format!("http://{local}{}", cfg.server.path),
        datastore,
    ));
    let service = Arc::new(service);
    let admin_socket = if cfg.admin.enabled {
        Some(
            ops::admin_socket::AdminServer::bind(
                &cfg.admin.socket,
                service.clone(),
                cfg.server.max_obj_size.get(),
            )
            .context("admin socket")?,
        )
    } else {
        None
    };
    let opts = HttpOptions {
        sync_path: cfg.server.path.clone(),
        max_body_bytes: cfg.server.max_body_bytes.get(),
        header_read_timeout: Duration::from_secs(30),
        request_timeout: Duration::from_secs(120),
        shutdown_grace: cfg.server.shutdown_grace,
    };
    let endpoint = Arc::new(ops::Endpoint {
        service: service.clone(),
        sync_path: cfg.server.path.clone(),
        metrics,
    });
    tracing::info!(listen = %local, path = %cfg.server.path, data_dir = %cfg.storage.data_dir.display(), "syncmld serving");
    ops::notify::ready(&format!("serving on {local}"));
    let watchdog = ops::notify::watchdog_interval().map(|every| {
        tracing::info!(
            interval_ms = every.as_millis() as u64,
            "systemd watchdog enabled"
        );
        tokio::spawn(ops::notify::watchdog(every))
    });
    let reloader = tokio::spawn(reload_on_sighup(cfg.clone(), control, store.clone()));

    let shutdown = async {
        shutdown_signal().await;
        ops::notify::stopping();
    };
    let served = serve_http(listener, endpoint, opts, shutdown).await;
    reloader.abort();
    drop(admin_socket);
    served.context("HTTP server")?;
    ops::notify::status("flushing the store");
    let flushed = tokio::task::spawn_blocking({
        let store = store.clone();
        move || store.flush()
    })
    .await;
    match flushed {
        Ok(r) => r.context("flushing the store")?,
        Err(e) => anyhow::bail!("flushing the store: {e}"),
    }
    if let Some(w) = watchdog {
        w.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP (`systemctl reload`): apply what can change without a restart.
async fn reload_on_sighup(mut running: Config, control: Control, store: Arc<SledStore>) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload is not available");
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the configuration");
        let Some(loader) = &control.loader else {
            ops::notify::reloading();
            ops::notify::ready("serving");
            continue;
        };
        // The loader reads files and the store: off the async workers.
        tokio::task::block_in_place(|| {
            ops::reload(loader, &mut running, &control.log, store.as_ref(), now_ms())
        });
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}
