//! Group commit with one flusher thread.
//!
//! A commit is two steps: its caller applies the transaction (so the next
//! read sees it at once), then waits until a flush that *started after* the
//! transaction was applied has finished. The flushes are made by one
//! dedicated thread: while it flushes, new commits pile up and the next
//! flush covers all of them. Under load (many users syncing at once) N
//! commits then cost about one flush and no thread of theirs blocks: the
//! service awaits [`Durability::wait_async`] on its runtime, so the
//! blocking thread that ran the engine step is free again right after the
//! transaction. Everything acknowledged is still on disk: the reply to a
//! message is sent only once its [`Durability`] resolves.
//!
//! Under back-to-back load (commits arrived while the last flush ran) the
//! flusher first waits a short gather window for more commits, like
//! PostgreSQL's `commit_delay`: each flush costs sled a log write handed to
//! its I/O threads (all of which it wakes) and an fsync, so fewer, fuller
//! flushes save more CPU than the window costs in latency. A lone commit
//! (nothing arrived during the previous flush) is flushed at once.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Result, StoreError};

/// The shared state of one store's group commit.
pub struct GroupFlush {
    state: Mutex<State>,
    /// Wakes the flusher thread when something was applied.
    work: Condvar,
    /// Wakes blocking waiters after each flush.
    done: Condvar,
    /// Wakes async waiters after each flush.
    done_async: tokio::sync::Notify,
}

#[derive(Default)]
struct State {
    /// Transactions applied so far (a ticket per commit).
    applied: u64,
    /// Every ticket up to this has been covered by a flush attempt.
    attempted: u64,
    /// Every ticket up to this is durable.
    durable: u64,
    /// The last failed flush: the tickets it covered and why.
    failed: Option<(u64, String)>,
    /// The flusher waits for work (so a commit must wake it).
    flusher_idle: bool,
    /// Stop after flushing what was applied.
    stopping: bool,
    /// The flusher has ended; nothing more will become durable.
    stopped: bool,
}

impl State {
    /// Where ticket `t` stands: `None` while its flush is pending.
    fn outcome(&self, t: u64) -> Option<Result<()>> {
        if self.durable >= t {
            return Some(Ok(()));
        }
        if let Some((upto, why)) = &self.failed
            && *upto >= t
        {
            return Some(Err(StoreError::Backend(format!("flush failed: {why}"))));
        }
        if self.stopped {
            return Some(Err(StoreError::Backend(
                "store closed before flushing".into(),
            )));
        }
        None
    }
}

impl GroupFlush {
    /// Start the flusher thread; `flush` makes everything applied before
    /// the call durable.
    /// `gather` is the window the flusher waits for more commits when
    /// commits arrived during its previous flush.
    pub fn start(
        name: &str,
        gather: Duration,
        flush: impl Fn() -> Result<()> + Send + 'static,
    ) -> Result<(Arc<Self>, JoinHandle<()>)> {
        let group = Arc::new(GroupFlush {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            done: Condvar::new(),
            done_async: tokio::sync::Notify::new(),
        });
        let g = group.clone();
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || g.run(gather, flush))
            .map_err(|e| StoreError::Backend(format!("cannot start the flusher thread: {e}")))?;
        Ok((group, handle))
    }

    /// The state; a panic elsewhere while holding it leaves plain counters,
    /// so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record one applied transaction; the result resolves once it is
    /// durable.
    pub fn applied(self: &Arc<Self>) -> Durability {
        let mut st = self.lock();
        st.applied += 1;
        let ticket = st.applied;
        if st.flusher_idle {
            st.flusher_idle = false;
            self.work.notify_one();
        }
        Durability {
            pending: Some((ticket, self.clone())),
        }
    }

    /// Ask the flusher to flush what is applied and end.
    pub fn stop(&self) {
        let mut st = self.lock();
        st.stopping = true;
        self.work.notify_one();
    }

    fn run(&self, gather: Duration, flush: impl Fn() -> Result<()>) {
        let mut st = self.lock();
        // Commits arrived while the previous flush ran.
        let mut loaded = false;
        loop {
            if st.applied == st.attempted {
                if st.stopping {
                    break;
                }
                loaded = false;
                st.flusher_idle = true;
                st = self.work.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            if loaded && !st.stopping && !gather.is_zero() {
                // Commits arriving now don't notify (the flusher is not
                // idle); only `stop` ends the window early.
                st = self
                    .work
                    .wait_timeout(st, gather)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            // Everything applied until now goes into this flush.
            let target = st.applied;
            drop(st);
            let result = flush();
            st = self.lock();
            st.attempted = target;
            loaded = st.applied > target;
            match result {
                Ok(()) => st.durable = st.durable.max(target),
                Err(e) => {
                    tracing::error!(error = %e, "store flush failed");
                    st.failed = Some((target, e.to_string()));
                }
            }
            self.done.notify_all();
            self.done_async.notify_waiters();
        }
        st.stopped = true;
        self.done.notify_all();
        self.done_async.notify_waiters();
    }
}

/// A transaction that is applied and may still be on its way to disk.
#[must_use = "a commit is acknowledged only once it is durable"]
pub struct Durability {
    pending: Option<(u64, Arc<GroupFlush>)>,
}

impl Durability {
    /// Already durable (stores that flush within `apply`).
    pub fn done() -> Self {
        Durability { pending: None }
    }

    /// Block until durable.
    pub fn wait(self) -> Result<()> {
        let Some((ticket, group)) = self.pending else {
            return Ok(());
        };
        let mut st = group.lock();
        loop {
            if let Some(r) = st.outcome(ticket) {
                return r;
            }
            st = group.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Wait until durable without holding a thread.
    pub async fn wait_async(self) -> Result<()> {
        let Some((ticket, group)) = self.pending else {
            return Ok(());
        };
        loop {
            let notified = group.done_async.notified();
            tokio::pin!(notified);
            // Registered before the check, so a flush finishing in between
            // still wakes us.
            notified.as_mut().enable();
            if let Some(r) = group.lock().outcome(ticket) {
                return r;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    #[test]
    fn a_commit_is_durable_only_after_a_flush_that_started_after_it() {
        // The "disk": what the last flush saw as applied.
        let applied = Arc::new(AtomicU64::new(0));
        let on_disk = Arc::new(AtomicU64::new(0));
        let (a, d) = (applied.clone(), on_disk.clone());
        let (group, handle) = GroupFlush::start("test-flusher", Duration::ZERO, move || {
            d.store(a.load(Ordering::SeqCst), Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let (group, applied, on_disk) = (group.clone(), applied.clone(), on_disk.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let me = applied.fetch_add(1, Ordering::SeqCst) + 1;
                        group.applied().wait().unwrap();
                        assert!(on_disk.load(Ordering::SeqCst) >= me);
                    }
                })
            })
            .collect();
        for w in waiters {
            w.join().unwrap();
        }
        group.stop();
        handle.join().unwrap();
    }

    #[test]
    fn a_lone_commit_is_flushed_without_the_gather_window() {
        // A window far longer than the test may take: only commits that
        // arrive during a flush may wait for it.
        let (group, handle) =
            GroupFlush::start("test-flusher", Duration::from_secs(20), || Ok(())).unwrap();
        let started = std::time::Instant::now();
        for _ in 0..3 {
            group.applied().wait().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        group.stop();
        handle.join().unwrap();
    }

    #[test]
    fn concurrent_commits_share_flushes() {
        let flushes = Arc::new(AtomicUsize::new(0));
        let f = flushes.clone();
        let (group, handle) = GroupFlush::start("test-flusher", Duration::ZERO, move || {
            f.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
            Ok(())
        })
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let waits: Vec<_> = (0..100).map(|_| group.applied()).collect();
            for w in waits {
                w.wait_async().await.unwrap();
            }
        });
        let n = flushes.load(Ordering::SeqCst);
        assert!((1..=2).contains(&n), "100 commits took {n} flushes");
        group.stop();
        handle.join().unwrap();
    }

    #[test]
    fn a_failed_flush_fails_its_commits_and_a_later_one_recovers() {
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let f = fail.clone();
        let (group, handle) = GroupFlush::start("test-flusher", Duration::ZERO, move || {
            if f.load(Ordering::SeqCst) {
                Err(StoreError::Backend("disk full".into()))
            } else {
                Ok(())
            }
        })
        .unwrap();
        let err = group.applied().wait().unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        fail.store(false, Ordering::SeqCst);
        group.applied().wait().unwrap();
        group.stop();
        handle.join().unwrap();
    }

    #[test]
    fn stopping_flushes_what_was_applied_and_later_waits_fail() {
        let flushes = Arc::new(AtomicUsize::new(0));
        let f = flushes.clone();
        let (group, handle) = GroupFlush::start("test-flusher", Duration::ZERO, move || {
            f.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
        let first = group.applied();
        group.stop();
        handle.join().unwrap();
        first.wait().unwrap();
        assert!(flushes.load(Ordering::SeqCst) >= 1);
        assert!(group.applied().wait().is_err());
    }
}
