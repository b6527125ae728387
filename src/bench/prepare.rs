//! Preparing a syncmld server through its admin socket: the benchmark's
//! users (added, or their password reset) and each user's book filled to
//! the requested size. Idempotent: a second run finds the cards already
//! there (the import skips them).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ops::admin_api::{Reply, Request};
use crate::ops::admin_socket;

use super::BenchError;

/// Cards per import request: large enough that a 100,000-card book takes a
/// few dozen requests (each one reads the book to skip duplicates), small
/// enough to stay far below the socket's request limit.
const IMPORT_BATCH: usize = 5000;
/// Requests in flight: the daemon runs them on its blocking pool.
const WORKERS: usize = 4;

/// Users `users` with `password`, each with `cards` in the book.
pub fn prepare(
    socket: &Path,
    users: &[String],
    password: &str,
    cards: &[String],
) -> Result<u64, BenchError> {
    let next = AtomicUsize::new(0);
    let added = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS.min(users.len().max(1)))
            .map(|_| {
                scope.spawn(|| -> Result<(), BenchError> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(user) = users.get(i) else {
                            return Ok(());
                        };
                        let n = prepare_user(socket, user, password, cards)?;
                        added.fetch_add(n as usize, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| BenchError::Prepare("a preparing thread panicked".into()))??;
        }
        Ok::<(), BenchError>(())
    })?;
    Ok(added.into_inner() as u64)
}

fn prepare_user(
    socket: &Path,
    user: &str,
    password: &str,
    cards: &[String],
) -> Result<u64, BenchError> {
    let call = |req: Request| {
        admin_socket::call(socket, &req).map_err(|e| BenchError::Prepare(e.to_string()))
    };
    call(Request::UserAdd {
        name: user.to_owned(),
        password: password.to_owned(),
        restrict_devices: false,
        replace: true,
    })?;
    let mut added = 0;
    for chunk in cards.chunks(IMPORT_BATCH) {
        match call(Request::ImportBatch {
            user: user.to_owned(),
            cards: chunk.to_vec(),
        })? {
            Reply::Imported(c) => added += c.added,
            other => {
                return Err(BenchError::Prepare(format!(
                    "unexpected reply to an import: {other:?}"
                )));
            }
        }
    }
    Ok(added)
}
