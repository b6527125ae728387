//! HTTP binding of SyncML (OMA DS 1.2 HTTP binding): one POST per message.
//!
//! **Architecture invariant:** only this module knows hyper. It turns a
//! request into a [`SyncRequest`], asks a [`SyncHandler`] for the reply and
//! writes it back. HTTP status codes are used only for transport problems;
//! protocol problems travel as SyncML statuses inside a 200 reply.

pub mod client;
pub mod server;

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;

/// One SyncML message as it arrived over HTTP.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// The query string of the request URI, without `?` (carries `sessionid=`).
    pub query: Option<String>,
    /// The Content-Type header, parameters included.
    pub content_type: Option<String>,
    pub body: Bytes,
    pub remote: SocketAddr,
}

/// What to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncReply {
    /// 200 with a SyncML message.
    Message {
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// A transport-level failure: no SyncML reply is possible.
    HttpError { status: u16, message: String },
}

/// The protocol side of the HTTP endpoint.
pub trait SyncHandler: Send + Sync + 'static {
    fn handle(&self, req: SyncRequest) -> impl Future<Output = SyncReply> + Send;

    /// The body of `GET /metrics` (Prometheus text format 0.0.4), or `None`
    /// when metrics are off (then the path is 404).
    fn metrics(&self) -> impl Future<Output = Option<String>> + Send {
        std::future::ready(None)
    }
}
