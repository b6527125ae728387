//! syncmld: a SyncML (OMA DS 1.2) contact-sync daemon. See ARCHITECTURE.md.

pub mod http;
pub mod protocol;
pub mod store;
