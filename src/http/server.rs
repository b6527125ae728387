//! The hyper 1.x HTTP/1.1 server: accept loop, routing, limits, graceful drain.
//!
//! Routes:
//! * `POST {sync_path}[?query]` with `application/vnd.syncml+xml` → [`SyncHandler::handle`]
//! * `GET /healthz` → `200 ok`
//! * `GET /metrics` → [`SyncHandler::metrics`] (404 when it has none)
//! * anything else → 404 (unknown path) or 405 (wrong method)
//!
//! HTTP status codes are only used for transport problems (protocol brief §9):
//! wrong media type 415, body too large 413, unreadable body 400, request
//! deadline 503. Everything the SyncML layer has to say travels inside a 200.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::{SyncHandler, SyncReply, SyncRequest};

/// The media type of SyncML 1.2 in XML, the only encoding served so far.
pub const SYNCML_XML: &str = "application/vnd.syncml+xml";
/// The media type of SyncML in WBXML; recognised only to give a helpful 415.
pub const SYNCML_WBXML: &str = "application/vnd.syncml+wbxml";

const HEALTHZ_PATH: &str = "/healthz";
const METRICS_PATH: &str = "/metrics";
/// The media type of the Prometheus text exposition format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long to pause accepting after a resource error such as EMFILE, so a
/// full fd table does not turn the accept loop into a busy spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Tunables of the HTTP endpoint.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Path of the SyncML endpoint, e.g. `/sync`. Query strings are allowed on it.
    pub sync_path: String,
    /// Largest accepted request body; larger ones get 413. Should match the
    /// `MaxMsgSize` the server advertises in SyncML Meta.
    pub max_body_bytes: usize,
    /// Time a client has to send the complete request head (slowloris guard).
    pub header_read_timeout: Duration,
    /// Deadline for reading the body plus handling one request; 503 on expiry.
    pub request_timeout: Duration,
    /// How long in-flight connections may run after shutdown was requested.
    pub shutdown_grace: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            sync_path: "/sync".to_owned(),
            max_body_bytes: 1024 * 1024,
            header_read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serve HTTP/1.1 on `listener` until `shutdown` resolves, then stop
/// accepting, give open connections `shutdown_grace` to finish and return.
///
/// Accept errors never end the loop: they are logged and, for resource
/// exhaustion (EMFILE, ENFILE, ENOMEM, ...), accepting pauses briefly.
///
/// The handler future is dropped when the request deadline expires or the
/// client disconnects, so [`SyncHandler::handle`] must be cancel-safe at its
/// await points (commit store changes atomically, not half-way across awaits).
pub async fn serve<H: SyncHandler>(
    listener: TcpListener,
    handler: Arc<H>,
    opts: HttpOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let opts = Arc::new(opts);
    let mut builder = http1::Builder::new();
    // Without a timer hyper silently disables header_read_timeout (and panics
    // if one is configured), see crates.md §3.1.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout)
        .keep_alive(true);

    let graceful = GracefulShutdown::new();
    // Connection tasks live in a JoinSet so the ones still running after the
    // grace period can be aborted instead of outliving `serve`.
    let mut conns: JoinSet<()> = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);

    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, path = %opts.sync_path, "http server listening");
    }

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            // Reap finished connection tasks so the set does not grow forever.
            Some(joined) = conns.join_next(), if !conns.is_empty() => {
                if let Err(err) = joined
                    && err.is_panic()
                {
                    tracing::error!(%err, "http connection task panicked");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    // SyncML is strict request/response; Nagle only adds latency.
                    if let Err(err) = stream.set_nodelay(true) {
                        tracing::debug!(%remote, %err, "set_nodelay failed");
                    }
                    let handler = Arc::clone(&handler);
                    let opts = Arc::clone(&opts);
                    let service = service_fn(move |req| {
                        let handler = Arc::clone(&handler);
                        let opts = Arc::clone(&opts);
                        async move { Ok::<_, Infallible>(respond(req, &*handler, &opts, remote).await) }
                    });
                    let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                    conns.spawn(async move {
                        if let Err(err) = conn.await {
                            tracing::debug!(%remote, %err, "http connection ended with error");
                        }
                    });
                }
                Err(err) => {
                    if is_per_connection_error(&err) {
                        // The peer went away between SYN and accept: nothing to do.
                        tracing::debug!(%err, "accept failed for one connection");
                    } else {
                        tracing::warn!(%err, backoff_ms = ACCEPT_BACKOFF.as_millis() as u64, "accept failed; pausing");
                        tokio::select! {
                            () = &mut shutdown => break,
                            () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                        }
                    }
                }
            },
        }
    }

    // Stop accepting before draining, so new clients get "connection refused"
    // rather than hanging until the process exits.
    drop(listener);
    let open = graceful.count();
    tracing::info!(open_connections = open, "http server shutting down");
    if tokio::time::timeout(opts.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = opts.shutdown_grace.as_millis() as u64,
            "connections still open after the shutdown grace period; aborting them"
        );
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
    Ok(())
}

/// Errors that concern only the connection being accepted, not the listener.
fn is_per_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// Route one request and log it (never the body).
async fn respond<H: SyncHandler>(
    req: Request<Incoming>,
    handler: &H,
    opts: &HttpOptions,
    remote: SocketAddr,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();

    let response = route(req, handler, opts, remote).await;

    tracing::debug!(
        %remote,
        %method,
        %path,
        status = response.status().as_u16(),
        bytes = hyper::body::Body::size_hint(response.body()).exact().unwrap_or(0),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "http request"
    );
    response
}

async fn route<H: SyncHandler>(
    req: Request<Incoming>,
    handler: &H,
    opts: &HttpOptions,
    remote: SocketAddr,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path == opts.sync_path {
        if req.method() != Method::POST {
            return with_allow(
                text(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "only POST is allowed here\n",
                ),
                "POST",
            );
        }
        match tokio::time::timeout(
            opts.request_timeout,
            handle_sync(req, handler, opts, remote),
        )
        .await
        {
            Ok(response) => response,
            Err(_) => {
                tracing::warn!(%remote, timeout_ms = opts.request_timeout.as_millis() as u64, "request deadline expired");
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "request timed out, try again later\n",
                )
            }
        }
    } else if path == HEALTHZ_PATH {
        if req.method() == Method::GET || req.method() == Method::HEAD {
            text(StatusCode::OK, "ok\n")
        } else {
            with_allow(
                text(StatusCode::METHOD_NOT_ALLOWED, "only GET is allowed here\n"),
                "GET, HEAD",
            )
        }
    } else if path == METRICS_PATH {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return with_allow(
                text(StatusCode::METHOD_NOT_ALLOWED, "only GET is allowed here\n"),
                "GET, HEAD",
            );
        }
        match handler.metrics().await {
            Some(body) => {
                let mut response = text(StatusCode::OK, body);
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(METRICS_CONTENT_TYPE),
                );
                response
            }
            None => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    } else {
        other(req, handler, opts, remote).await
    }
}

/// Anything else goes to [`SyncHandler::other`], body read under the same limit.
async fn other<H: SyncHandler>(
    req: Request<Incoming>,
    handler: &H,
    opts: &HttpOptions,
    remote: SocketAddr,
) -> Response<Full<Bytes>> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(n, v)| {
            v.to_str()
                .ok()
                .map(|v| (n.as_str().to_ascii_lowercase(), v.to_owned()))
        })
        .collect();
    let body = match Limited::new(req.into_body(), opts.max_body_bytes)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => return too_large(opts),
        Err(_) => return text(StatusCode::BAD_REQUEST, "could not read the request body\n"),
    };
    let request = crate::http::HttpRequest {
        method,
        path,
        query,
        headers,
        body,
        remote,
    };
    let Some(reply) = tokio::time::timeout(opts.request_timeout, handler.other(request))
        .await
        .ok()
        .flatten()
    else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&reply.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            h.insert(n, v);
        }
    }
    response
}

/// What the Content-Type header says about the body's encoding.
#[derive(Debug, PartialEq, Eq)]
enum Encoding {
    Xml,
    Wbxml,
    Other,
}

/// Classify a Content-Type value by its media type alone; parameters such as
/// `charset=UTF-8` are allowed and ignored, case does not matter (RFC 9110 §8.3.1).
fn classify_content_type(value: &str) -> Encoding {
    let media_type = value.split(';').next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case(SYNCML_XML) {
        Encoding::Xml
    } else if media_type.eq_ignore_ascii_case(SYNCML_WBXML) {
        Encoding::Wbxml
    } else {
        Encoding::Other
    }
}

async fn handle_sync<H: SyncHandler>(
    req: Request<Incoming>,
    handler: &H,
    opts: &HttpOptions,
    remote: SocketAddr,
) -> Response<Full<Bytes>> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match content_type.as_deref().map(classify_content_type) {
        Some(Encoding::Xml) => {}
        Some(Encoding::Wbxml) => {
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "WBXML (application/vnd.syncml+wbxml) is not supported yet; \
                 configure the client to send XML (application/vnd.syncml+xml)\n",
            );
        }
        Some(Encoding::Other) | None => {
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected Content-Type: application/vnd.syncml+xml\n",
            );
        }
    }

    // Refuse an announced oversize body before reading any of it; Limited
    // below still catches chunked bodies and lying Content-Length headers.
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|len| len > opts.max_body_bytes as u64) {
        return too_large(opts);
    }

    let query = req.uri().query().map(str::to_owned);
    let body = match Limited::new(req.into_body(), opts.max_body_bytes)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => return too_large(opts),
        Err(err) => {
            tracing::debug!(%remote, %err, "reading request body failed");
            return text(StatusCode::BAD_REQUEST, "could not read the request body\n");
        }
    };

    let reply = handler
        .handle(SyncRequest {
            query,
            content_type,
            body,
            remote,
        })
        .await;

    match reply {
        SyncReply::Message { content_type, body } => {
            let len = body.len();
            let mut response = Response::new(Full::new(Bytes::from(body)));
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, header_value(content_type));
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            response
        }
        SyncReply::HttpError { status, message } => {
            let status = StatusCode::from_u16(status).unwrap_or_else(|_| {
                tracing::error!(
                    status,
                    "handler returned an invalid HTTP status; sending 500"
                );
                StatusCode::INTERNAL_SERVER_ERROR
            });
            let mut message = message;
            if !message.ends_with('\n') {
                message.push('\n');
            }
            text(status, message)
        }
    }
}

fn too_large(opts: &HttpOptions) -> Response<Full<Bytes>> {
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body larger than {} bytes\n", opts.max_body_bytes),
    )
}

/// A Content-Type from the handler is a `&'static str` we control; fall back
/// to the generic XML type rather than panic if one is ever malformed.
fn header_value(content_type: &'static str) -> HeaderValue {
    HeaderValue::from_str(content_type).unwrap_or_else(|_| {
        tracing::error!(content_type, "handler returned an invalid Content-Type");
        HeaderValue::from_static(SYNCML_XML)
    })
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    let body: String = body.into();
    let len = body.len();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

fn with_allow(mut response: Response<Full<Bytes>>, allow: &'static str) -> Response<Full<Bytes>> {
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    /// Records every request and echoes query and body back; the body
    /// `fail` makes it answer with an HTTP error instead.
    #[derive(Default)]
    struct Echo {
        seen: Mutex<Vec<SyncRequest>>,
        delay: Duration,
    }

    impl SyncHandler for Echo {
        fn handle(&self, req: SyncRequest) -> impl Future<Output = SyncReply> + Send {
            self.seen.lock().unwrap().push(req.clone());
            let delay = self.delay;
            async move {
                tokio::time::sleep(delay).await;
                if &req.body[..] == b"fail" {
                    return SyncReply::HttpError {
                        status: 500,
                        message: "boom".into(),
                    };
                }
                let mut body = format!("query={:?};", req.query).into_bytes();
                body.extend_from_slice(&req.body);
                SyncReply::Message {
                    content_type: SYNCML_XML,
                    body,
                }
            }
        }
    }

    struct TestServer {
        addr: SocketAddr,
        handler: Arc<Echo>,
        stop: Option<oneshot::Sender<()>>,
        task: JoinHandle<io::Result<()>>,
    }

    impl TestServer {
        async fn start(handler: Echo, opts: HttpOptions) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let handler = Arc::new(handler);
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(serve(listener, Arc::clone(&handler), opts, async {
                let _ = stopped.await;
            }));
            Self {
                addr,
                handler,
                stop: Some(stop),
                task,
            }
        }

        fn shutdown(&mut self) {
            let _ = self.stop.take().unwrap().send(());
        }
    }

    fn opts() -> HttpOptions {
        HttpOptions {
            sync_path: "/sync".into(),
            max_body_bytes: 100,
            header_read_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(5),
        }
    }

    #[derive(Debug)]
    struct RawResponse {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl RawResponse {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    /// Send hand-written HTTP (which should say `Connection: close`) and read
    /// the whole answer.
    async fn raw(addr: SocketAddr, request: &str) -> RawResponse {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
            .await
            .expect("server did not close the connection")
            .unwrap();
        parse_response(&buf)
    }

    fn parse_response(buf: &[u8]) -> RawResponse {
        let text = String::from_utf8_lossy(buf);
        let (head, body) = text.split_once("\r\n\r\n").expect("no end of head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
        let status = status_line[9..12].parse().unwrap();
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_owned(), v.trim().to_owned())
            })
            .collect();
        RawResponse {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    fn post(path: &str, content_type: Option<&str>, body: &str) -> String {
        let ct = content_type
            .map(|c| format!("Content-Type: {c}\r\n"))
            .unwrap_or_default();
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{ct}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    #[tokio::test]
    async fn post_passes_body_and_query_through() {
        let srv = TestServer::start(Echo::default(), opts()).await;
        let r = raw(
            srv.addr,
            &post(
                "/sync?sessionid=42",
                Some("Application/VND.SyncML+XML; charset=UTF-8"),
                "<SyncML/>",
            ),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "query=Some(\"sessionid=42\");<SyncML/>");
        assert_eq!(r.header("content-type"), Some(SYNCML_XML));
        assert_eq!(
            r.header("content-length"),
            Some(r.body.len().to_string().as_str())
        );
        assert_eq!(r.header("set-cookie"), None);

        let seen = srv.handler.seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].query.as_deref(), Some("sessionid=42"));
        assert_eq!(
            seen[0].content_type.as_deref(),
            Some("Application/VND.SyncML+XML; charset=UTF-8")
        );
        assert_eq!(&seen[0].body[..], b"<SyncML/>");
        assert!(seen[0].remote.ip().is_loopback());
    }

    #[tokio::test]
    async fn post_without_query_has_none() {
        let srv = TestServer::start(Echo::default(), opts()).await;
        let r = raw(srv.addr, &post("/sync", Some(SYNCML_XML), "x")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "query=None;x");
    }

    #[tokio::test]
    async fn keep_alive_serves_several_requests_on_one_connection() {
        let srv = TestServer::start(Echo::default(), opts()).await;
        let mut stream = TcpStream::connect(srv.addr).await.unwrap();
        for i in 0..3 {
            let body = format!("m{i}");
            let req = format!(
                "POST /sync HTTP/1.1\r\nHost: x\r\nContent-Type: {SYNCML_XML}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(req.as_bytes()).await.unwrap();
            let expected = format!("query=None;{body}");
            let mut buf = Vec::new();
            while !buf.ends_with(expected.as_bytes()) {
                let mut chunk = [0u8; 1024];
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed early");
                buf.extend_from_slice(&chunk[..n]);
            }
            assert_eq!(parse_response(&buf).status, 200);
        }
    }

    #[tokio::test]
    async fn handler_http_error_becomes_that_status() {
        let srv = TestServer::start(Echo::default(), opts()).await;
        let r = raw(srv.addr, &post("/sync", Some(SYNCML_XML), "fail")).await;
        assert_eq!(r.status, 500);
        assert_eq!(r.body, "boom\n");
        assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    }

    #[tokio::test]
    async fn wrong_or_missing_content_type_is_415() {
        let srv = TestServer::start(Echo::default(), opts()).await;
        for ct in [Some("text/xml"), Some("application/vnd.syncml+xmlx"), None] {
            let r = raw(srv.addr, &post("/sync", ct, "<SyncML/>")).await;
            assert_eq!(r.status, 415, "{ct:?}");
        }
        assert!(srv.handler.seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn wbxml_is_415_with_a_hint() {
        let srv = TestServer::start(Echo::default(), opts()).await;
        let r = raw(
            srv.addr,
            &post("/sync", Some("application/vnd.syncml+wbxml"), "\u{2}"),
        )
        .await;
        assert_eq!(r.status, 415);
        assert!(r.body.contains("WBXML"), "{}", r.body);
        assert!(r.body.contains("application/vnd.syncml+xml"), "{}", r.body);
    }

    #[tokio::test]
    async fn body_over_the_limit_is_413() {
        let srv = TestServer::start(Echo::default(), opts()).await;
        // Announced by Content-Length.
        let r = raw(srv.addr, &post("/sync", Some(SYNCML_XML), &"a".repeat(101))).await;
        assert_eq!(r.status, 413);
        // Exactly at the limit is fine.
        let r = raw(srv.addr, &post("/sync", Some(SYNCML_XML), &"a".repeat(100))).await;
        assert_eq!(r.status, 200);
        // Chunked, so only Limited can notice.
        let chunk = "b".repeat(60);
        let req = format!(
            "POST /sync HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {SYNCML_XML}\r\n\
             Transfer-Encoding: chunked\r\n\r\n3c\r\n{chunk}\r\n3c\r\n{chunk}\r\n0\r\n\r\n"
        );
        let r = raw(srv.addr, &req).await;
        assert_eq!(r.status, 413);
        assert_eq!(srv.handler.seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn routes_404_405_and_healthz() {
        let srv = TestServer::start(Echo::default(), opts()).await;
        let r = raw(srv.addr, &post("/other", Some(SYNCML_XML), "x")).await;
        assert_eq!(r.status, 404);
        let r = raw(srv.addr, &post("/sync/deeper", Some(SYNCML_XML), "x")).await;
        assert_eq!(r.status, 404);

        let r = raw(
            srv.addr,
            "GET /sync HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("POST"));
        let r = raw(
            srv.addr,
            "PUT /sync?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        assert_eq!(r.status, 405);

        let r = raw(
            srv.addr,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "ok\n");
        let r = raw(srv.addr, &post("/healthz", Some(SYNCML_XML), "x")).await;
        assert_eq!(r.status, 405);
        assert!(srv.handler.seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn slow_handler_gets_503() {
        let handler = Echo {
            delay: Duration::from_secs(5),
            ..Echo::default()
        };
        let srv = TestServer::start(
            handler,
            HttpOptions {
                request_timeout: Duration::from_millis(100),
                ..opts()
            },
        )
        .await;
        let started = Instant::now();
        let r = raw(srv.addr, &post("/sync", Some(SYNCML_XML), "x")).await;
        assert_eq!(r.status, 503);
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn incomplete_head_is_cut_off() {
        let srv = TestServer::start(
            Echo::default(),
            HttpOptions {
                header_read_timeout: Duration::from_millis(200),
                ..opts()
            },
        )
        .await;
        let mut stream = TcpStream::connect(srv.addr).await.unwrap();
        stream
            .write_all(b"POST /sync HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        // hyper may answer 408 or just close; either way the connection ends.
        tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut buf))
            .await
            .expect("slow client was not disconnected")
            .ok();
    }

    #[tokio::test]
    async fn graceful_shutdown_lets_in_flight_requests_finish() {
        let handler = Echo {
            delay: Duration::from_millis(300),
            ..Echo::default()
        };
        let mut srv = TestServer::start(handler, opts()).await;
        let addr = srv.addr;
        let in_flight =
            tokio::spawn(async move { raw(addr, &post("/sync", Some(SYNCML_XML), "slow")).await });
        // Let the request reach the handler before asking to stop.
        while srv.handler.seen.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        srv.shutdown();
        let r = in_flight.await.unwrap();
        assert_eq!(r.status, 200);
        tokio::time::timeout(Duration::from_secs(3), srv.task)
            .await
            .expect("serve did not return")
            .unwrap()
            .unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "still accepting after shutdown"
        );
    }

    #[tokio::test]
    async fn graceful_shutdown_closes_idle_connections_and_returns() {
        let mut srv = TestServer::start(Echo::default(), opts()).await;
        // An idle keep-alive connection must not hold shutdown up.
        let _idle = TcpStream::connect(srv.addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        srv.shutdown();
        tokio::time::timeout(Duration::from_secs(3), srv.task)
            .await
            .expect("serve did not return")
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn shutdown_grace_bounds_the_wait_for_stuck_requests() {
        let handler = Echo {
            delay: Duration::from_secs(30),
            ..Echo::default()
        };
        let mut srv = TestServer::start(
            handler,
            HttpOptions {
                request_timeout: Duration::from_secs(60),
                shutdown_grace: Duration::from_millis(200),
                ..opts()
            },
        )
        .await;
        let addr = srv.addr;
        let stuck = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(post("/sync", Some(SYNCML_XML), "x").as_bytes())
                .await
                .unwrap();
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf).await;
            buf
        });
        while srv.handler.seen.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let started = Instant::now();
        srv.shutdown();
        tokio::time::timeout(Duration::from_secs(3), srv.task)
            .await
            .expect("serve did not return")
            .unwrap()
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        // The aborted connection is closed without a response.
        let buf = tokio::time::timeout(Duration::from_secs(3), stuck)
            .await
            .unwrap()
            .unwrap();
        assert!(buf.is_empty());
    }

    #[test]
    fn content_type_classification() {
        assert_eq!(
            classify_content_type("application/vnd.syncml+xml"),
            Encoding::Xml
        );
        assert_eq!(
            classify_content_type(" APPLICATION/VND.SYNCML+XML ;charset=utf-8"),
            Encoding::Xml
        );
        assert_eq!(
            classify_content_type("application/vnd.syncml+wbxml"),
            Encoding::Wbxml
        );
        assert_eq!(classify_content_type("application/xml"), Encoding::Other);
        assert_eq!(classify_content_type(""), Encoding::Other);
    }
}
