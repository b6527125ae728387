//! The runner's view of the transport: every message of a scenario is
//! recorded (bytes as sent and received), so a failure can be shown as the
//! exchange that led to it and checks can look at what the server said.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::protocol::{SyncMl, mime};
use crate::sync_client::{Transport, TransportError};
use crate::wire::xml;

/// A boxed reply future (the [`Transport`] trait returns `impl Future`,
/// which cannot be a trait object).
pub type PostFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<u8>, TransportError>> + Send + 'a>>;

/// Object-safe form of [`Transport`], so the runner is not generic.
pub trait Wire: Send + Sync {
    fn post_boxed<'a>(&'a self, url: &'a str, body: Vec<u8>) -> PostFuture<'a>;
}

impl<T: Transport> Wire for T {
    fn post_boxed<'a>(&'a self, url: &'a str, body: Vec<u8>) -> PostFuture<'a> {
        Box::pin(self.post(url, mime::SYNCML_XML, body))
    }
}

/// One request and what came back.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub url: String,
    pub request: Vec<u8>,
    pub reply: Result<Vec<u8>, TransportError>,
    pub elapsed: Duration,
}

impl Exchange {
    /// The request as SyncML, if it is.
    pub fn request_msg(&self) -> Option<SyncMl> {
        xml::decode(&self.request).ok()
    }

    /// The reply as SyncML, if there was one and it decodes.
    pub fn reply_msg(&self) -> Option<SyncMl> {
        self.reply.as_ref().ok().and_then(|b| xml::decode(b).ok())
    }
}

/// A transport that records every exchange. Cloning shares the log.
#[derive(Clone)]
pub struct Recorder {
    wire: Arc<dyn Wire>,
    log: Arc<Mutex<Vec<Exchange>>>,
}

impl Recorder {
    pub fn new(wire: Arc<dyn Wire>) -> Self {
        Recorder {
            wire,
            log: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Vec<Exchange>> {
        // Only pushes and clones happen under this lock; a poisoned log is
        // still a usable log.
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Position in the log, to look at what happened after it.
    pub fn mark(&self) -> usize {
        self.log().len()
    }

    /// The exchanges after `mark`.
    pub fn since(&self, mark: usize) -> Vec<Exchange> {
        self.log()
            .get(mark..)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    /// Everything recorded, emptying the log.
    pub fn take(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.log())
    }

    /// Post and record.
    pub async fn post_bytes(&self, url: &str, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let started = Instant::now();
        let reply = self.wire.post_boxed(url, body.clone()).await;
        self.log().push(Exchange {
            url: url.to_owned(),
            request: body,
            reply: reply.clone(),
            elapsed: started.elapsed(),
        });
        reply
    }
}

impl Transport for Recorder {
    fn post(
        &self,
        url: &str,
        _content_type: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, TransportError>> + Send {
        let this = self.clone();
        let url = url.to_owned();
        async move { this.post_bytes(&url, body).await }
    }
}
