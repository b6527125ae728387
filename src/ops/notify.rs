//! systemd readiness protocol (`sd_notify`): READY, RELOADING, STOPPING,
//! STATUS and watchdog pings.
//!
//! Every function is a no-op when `NOTIFY_SOCKET` is not set (not started
//! by systemd with `Type=notify`), and a failure to notify is logged, never
//! fatal: the daemon works the same without a service manager.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

/// The store is open and the listeners are bound: `READY=1`.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload (SIGHUP) starts: `RELOADING=1` with the monotonic time systemd
/// 253+ expects (ignored by older versions).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// Shutdown has begun: `STOPPING=1`.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// `STATUS=…` (shown by `systemctl status`).
pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// The interval to ping the watchdog at: half of `WATCHDOG_USEC` when the
/// service manager enabled the watchdog for this process.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
        .filter(|d| !d.is_zero())
        .map(|d| d / 2)
}

/// Ping the watchdog every `interval` until the task is dropped. The ping
/// comes from a task on the runtime, so a wedged runtime stops the pings
/// and systemd restarts the daemon.
pub async fn watchdog(interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        send(&[NotifyState::Watchdog]);
    }
}
