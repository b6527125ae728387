//! The admin socket: a Unix stream socket (mode 0600) on which a running
//! daemon executes [`Request`]s for the CLI — sled allows one process per
//! database, so while the daemon runs this is the only way in.
//!
//! Protocol: the client connects, writes one JSON request line, reads one
//! JSON [`Response`] line, and closes. A request that touches a user's data
//! runs under that user's lock, so it never interleaves with a sync message.
//!
//! [`Admin`] is the CLI's side: the socket when a daemon answers on it, the
//! store directly otherwise.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use super::admin_api::{self, Context, Reply, Request, Response};
use crate::service::SyncService;
use crate::store::Store;

/// Largest request line accepted (an import batch of cards).
pub const MAX_REQUEST_BYTES: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("admin socket {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("another syncmld answers on the admin socket {}", path.display())]
    InUse { path: PathBuf },
    #[error("admin socket {}: malformed reply: {reason}", path.display())]
    Protocol { path: PathBuf, reason: String },
    #[error("{0}")]
    Remote(String),
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The listening side, owned by the daemon. Dropping it stops accepting
/// and removes the socket file.
pub struct AdminServer {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl AdminServer {
    /// Bind `path` (a stale socket file left by a crash is replaced; a live
    /// one is an error) with mode 0600 and serve requests on `service`'s store.
    pub fn bind(
        path: &Path,
        service: Arc<SyncService>,
        max_item_bytes: u64,
    ) -> Result<AdminServer, SocketError> {
        let err = |source| SocketError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        if path.exists() {
            if StdUnixStream::connect(path).is_ok() {
                return Err(SocketError::InUse {
                    path: path.to_owned(),
                });
            }
            std::fs::remove_file(path).map_err(err)?;
        }
        let listener = UnixListener::bind(path).map_err(err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        tracing::info!(socket = %path.display(), "admin socket listening");
        let task = tokio::spawn(accept_loop(listener, service, max_item_bytes));
        Ok(AdminServer {
            path: path.to_owned(),
            task,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn accept_loop(listener: UnixListener, service: Arc<SyncService>, max_item_bytes: u64) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let service = service.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_one(stream, service, max_item_bytes).await {
                        tracing::debug!(error = %e, "admin connection failed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "admin socket accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_one(
    stream: UnixStream,
    service: Arc<SyncService>,
    max_item_bytes: u64,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read).take(MAX_REQUEST_BYTES as u64 + 1);
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).await?;
    let response = if line.len() > MAX_REQUEST_BYTES {
        Response::Err(format!("request larger than {MAX_REQUEST_BYTES} bytes"))
    } else {
        match serde_json::from_slice::<Request>(&line) {
            Ok(req) => run(req, &service, max_item_bytes).await,
            // serde_json's message names the field, never echoes values.
            Err(e) => Response::Err(format!("malformed request: {e}")),
        }
    };
    let mut out = serde_json::to_vec(&response)
        .unwrap_or_else(|_| br#"{"err":"could not encode the reply"}"#.to_vec());
    out.push(b'\n');
    write.write_all(&out).await?;
    write.shutdown().await
}

async fn run(req: Request, service: &Arc<SyncService>, max_item_bytes: u64) -> Response {
    let name = req.name();
    let _guard = match req.user() {
        Some(u) => Some(service.lock_user(u).await),
        None => None,
    };
    let ctx = Context {
        now_ms: now_ms(),
        max_item_bytes,
        sessions_active: Some(service.session_count() as u64),
    };
    let store = service.store().clone();
    let joined =
        tokio::task::spawn_blocking(move || admin_api::execute(store.as_ref(), req, &ctx)).await;
    match joined {
        Ok(Ok(reply)) => {
            tracing::info!(command = name, "admin command done");
            Response::Ok(reply)
        }
        Ok(Err(e)) => {
            tracing::info!(command = name, error = %e, "admin command failed");
            Response::Err(e.to_string())
        }
        Err(e) => {
            tracing::error!(command = name, error = %e, "admin command panicked");
            Response::Err("internal error".into())
        }
    }
}

/// Send one request to the daemon at `path` (blocking).
pub fn call(path: &Path, req: &Request) -> Result<Reply, SocketError> {
    let err = |source| SocketError::Io {
        path: path.to_owned(),
        source,
    };
    let mut stream = StdUnixStream::connect(path).map_err(err)?;
    let mut line = serde_json::to_vec(req).map_err(|e| SocketError::Protocol {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    line.push(b'\n');
    stream.write_all(&line).map_err(err)?;
    stream.shutdown(std::net::Shutdown::Write).map_err(err)?;
    let mut reply = Vec::new();
    BufReader::new(stream)
        .read_until(b'\n', &mut reply)
        .map_err(err)?;
    match serde_json::from_slice::<Response>(&reply) {
        Ok(Response::Ok(r)) => Ok(r),
        Ok(Response::Err(e)) => Err(SocketError::Remote(e)),
        Err(e) => Err(SocketError::Protocol {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// Does a daemon answer on `path`?
pub fn daemon_listening(path: &Path) -> bool {
    StdUnixStream::connect(path).is_ok()
}

/// The CLI's way to the data: through the running daemon, or the store.
pub enum Admin {
    Socket(PathBuf),
    Direct {
        store: Box<dyn Store>,
        max_item_bytes: u64,
    },
}

impl Admin {
    /// Run one request.
    pub fn call(&self, req: Request) -> Result<Reply, SocketError> {
        match self {
            Admin::Socket(path) => call(path, &req),
            Admin::Direct {
                store,
                max_item_bytes,
            } => {
                let ctx = Context {
                    now_ms: now_ms(),
                    max_item_bytes: *max_item_bytes,
                    sessions_active: None,
                };
                admin_api::execute(store.as_ref(), req, &ctx)
                    .map_err(|e| SocketError::Remote(e.to_string()))
            }
        }
    }

    /// Whether requests go to a running daemon.
    pub fn is_socket(&self) -> bool {
        matches!(self, Admin::Socket(_))
    }
}
