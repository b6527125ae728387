//! syncmld: a SyncML (OMA DS 1.2) contact-sync daemon. See ARCHITECTURE.md.

pub mod admin;
pub mod auth;
pub mod bench;
pub mod client_daemon;
pub mod client_role;
pub mod config;
pub mod conformance;
pub mod contacts;
pub mod daemon;
pub mod engine;
pub mod http;
pub mod local_book;
pub mod ops;
pub mod protocol;
pub mod san_notifier;
pub mod service;
pub mod store;
pub mod sync_client;
pub mod vdir;
pub mod wire;
