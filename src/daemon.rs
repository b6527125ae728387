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
use crate::service::{ServiceLimits, SyncService};
use crate::store::{SledStore, Store};

/// Local name of the contacts book in the store.
pub const CONTACTS_STORE: &str = "contacts";

pub fn init_logging(log: &Log) {
    // RUST_LOG, when set, wins over the configured level (debugging aid).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&log.level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Open the sled store under the data directory (created if missing).
pub fn open_store(cfg: &Config) -> Result<SledStore> {
    let dir = cfg.storage.data_dir.join("store");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    SledStore::open(&dir, cfg.storage.cache_capacity_bytes.get()).with_context(|| {
        format!(
            "opening the store in {} (is another syncmld using it?)",
            cfg.storage.data_dir.display()
        )
    })
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
    }
}

pub async fn serve(cfg: Config) -> Result<()> {
    let store = Arc::new(open_store(&cfg)?);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    for u in &cfg.users {
        if admin::ensure_user(store.as_ref(), &u.name, &u.md5_userpass, now)? {
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
        fallback_url: format!("http://{local}{}", cfg.server.path),
    };
    let store_dyn: Arc<dyn Store> = store.clone();
    let service = Arc::new(SyncService::new(
        ServerEngine::new(engine_config(&cfg)),
        store_dyn,
        limits,
    ));
    let opts = HttpOptions {
        sync_path: cfg.server.path.clone(),
        max_body_bytes: cfg.server.max_body_bytes.get(),
        header_read_timeout: Duration::from_secs(30),
        request_timeout: Duration::from_secs(120),
        shutdown_grace: Duration::from_secs(10),
    };
    tracing::info!(listen = %local, path = %cfg.server.path, data_dir = %cfg.storage.data_dir.display(), "syncmld serving");
    serve_http(listener, service, opts, shutdown_signal())
        .await
        .context("HTTP server")?;
    store.flush().context("flushing the store")?;
    tracing::info!("stopped");
    Ok(())
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
