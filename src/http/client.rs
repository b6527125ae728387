//! HTTP transport of the client role: one POST per SyncML message over a
//! pooled hyper client (plain HTTP; put a TLS-terminating proxy in front of
//! https servers for now).

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::sync_client::{Transport, TransportError};

/// Replies larger than this are refused (a SyncML message is bounded by the
/// MaxMsgSize we announce; this only guards against a broken server).
const MAX_REPLY: usize = 64 * 1024 * 1024;

pub struct HttpTransport {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl HttpTransport {
    pub fn new(timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new()).build(connector);
        HttpTransport { client, timeout }
    }
}

impl HttpTransport {
    /// A small request outside SyncML (the poll-first question): returns
    /// the status and body.
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), TransportError> {
        if url.starts_with("https://") {
            return Err(TransportError::Connect("https is not supported yet".into()));
        }
        let mut builder = hyper::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, value.as_str());
        }
        let request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| TransportError::Connect(format!("bad request to {url}: {e}")))?;
        let exchange = async {
            let resp = self
                .client
                .request(request)
                .await
                .map_err(|e| TransportError::Connect(e.to_string()))?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), MAX_REPLY)
                .collect()
                .await
                .map_err(|e| TransportError::Connect(format!("reading the reply: {e}")))?
                .to_bytes();
            Ok((status, body.to_vec()))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(TransportError::Timeout))
    }
}

impl Transport for HttpTransport {
    fn post(
        &self,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, TransportError>> + Send {
        let request = if url.starts_with("https://") {
            Err(TransportError::Connect(
                "https is not supported yet: use an http:// URL (or a local TLS proxy)".into(),
            ))
        } else {
            hyper::Request::post(url)
                .header(hyper::header::CONTENT_TYPE, content_type)
                .header(
                    hyper::header::USER_AGENT,
                    concat!("syncmld/", env!("CARGO_PKG_VERSION")),
                )
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| TransportError::Connect(format!("bad URL {url}: {e}")))
        };
        let client = self.client.clone();
        let timeout = self.timeout;
        async move {
            let request = request?;
            let exchange = async {
                let resp = client
                    .request(request)
                    .await
                    .map_err(|e| TransportError::Connect(e.to_string()))?;
                let status = resp.status().as_u16();
                let body = Limited::new(resp.into_body(), MAX_REPLY)
                    .collect()
                    .await
                    .map_err(|e| TransportError::Connect(format!("reading the reply: {e}")))?
                    .to_bytes();
                if status != 200 {
                    let message = String::from_utf8_lossy(&body)
                        .trim()
                        .chars()
                        .take(200)
                        .collect();
                    return Err(TransportError::Http { status, message });
                }
                Ok(body.to_vec())
            };
            match tokio::time::timeout(timeout, exchange).await {
                Ok(r) => r,
                Err(_) => Err(TransportError::Timeout),
            }
        }
    }
}
