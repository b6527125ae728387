//! The SyncML session engine — **sans-IO**.
//!
//! A session is a state machine: it takes one decoded message, the current
//! time and some random bytes (both passed in, never read here), and a read
//! view of the store; it returns the reply message, the store writes of that
//! message as one [`Batch`](crate::store::Batch), and its next state. The
//! daemon commits the batch, flushes, and only then sends the reply.
//!
//! **Architecture invariant:** nothing under `engine/` imports tokio, hyper,
//! sled, `std::time::{Instant, SystemTime}::now`, `getrandom` or the XML
//! codec. Sizes of encoded commands come through the [`Sizer`](crate::wire::Sizer)
//! trait so packages can be split under the peer's MaxMsgSize.
//!
//! Method taxonomy (as in quinn-proto): `ServerEngine::handle` is the only
//! input; everything the caller must act on is in the returned [`server::Outcome`].

pub mod anchor;
pub mod book;
pub mod client;
pub mod conflict;
pub mod content;
pub mod devinf;
pub(crate) mod outbox;
pub mod server;

pub use conflict::ConflictPolicy;

/// Inputs from the outside world for one message: the clock and randomness.
#[derive(Debug, Clone, Copy)]
pub struct Env {
    /// Milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// Fresh random bytes for this message (session ids, nonces).
    pub random: [u8; 32],
}

/// Errors that stop the engine from producing any SyncML reply. Protocol
/// problems are not errors: they become statuses in the reply.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
