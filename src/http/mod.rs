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

    /// Any other request (the poll-first endpoint, the client role's local
    /// API). `None`: 404.
    fn other(&self, req: HttpRequest) -> impl Future<Output = Option<HttpReply>> + Send {
        let _ = req;
        std::future::ready(None)
    }
}

/// A request outside the SyncML endpoint, read whole (body size limited).
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub remote: SocketAddr,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The answer to an [`HttpRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        HttpReply {
            status,
            content_type: content_type.to_owned(),
            headers: Vec::new(),
            body: body.into(),
        }
    }
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        HttpReply::new(status, "text/plain; charset=utf-8", body.into())
    }
    pub fn json(status: u16, value: &impl serde::Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => HttpReply::new(status, "application/json", body),
            Err(e) => HttpReply::text(500, format!("encoding the reply: {e}\n")),
        }
    }
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}
