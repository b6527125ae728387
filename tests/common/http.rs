//! A tiny HTTP/1.1 client on `std::net::TcpStream` for sending raw (and
//! deliberately wrong) requests to the daemon: any Content-Type or none,
//! any body, any query. One request per connection (`Connection: close`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a test waits for an answer before failing.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How the body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    ContentLength,
    /// `Transfer-Encoding: chunked`, no Content-Length, so the server can
    /// only find the size by reading.
    Chunked,
}

/// POST `body` to `url` (`http://127.0.0.1:PORT/path?query`) with the given
/// Content-Type (none if `None`).
pub fn post(url: &str, content_type: Option<&str>, body: &[u8]) -> HttpReply {
    post_framed(url, content_type, body, Framing::ContentLength)
}

pub fn post_framed(
    url: &str,
    content_type: Option<&str>,
    body: &[u8],
    framing: Framing,
) -> HttpReply {
    let (addr, _) = split_url(url);
    exchange(addr, &request_bytes(url, content_type, body, framing))
}

/// The bytes of a POST request (with `Connection: close`).
pub fn request_bytes(
    url: &str,
    content_type: Option<&str>,
    body: &[u8],
    framing: Framing,
) -> Vec<u8> {
    let (addr, target) = split_url(url);
    let mut head = format!("POST {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    let mut request = Vec::new();
    match framing {
        Framing::ContentLength => {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            request.extend_from_slice(head.as_bytes());
            request.extend_from_slice(body);
        }
        Framing::Chunked => {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
            request.extend_from_slice(head.as_bytes());
            for chunk in body.chunks(16 * 1024) {
                request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                request.extend_from_slice(chunk);
                request.extend_from_slice(b"\r\n");
            }
            request.extend_from_slice(b"0\r\n\r\n");
        }
    }
    request
}

/// Send `request` and read the response until the server closes.
///
/// The request is written from a second thread while this one reads: a
/// server that refuses a large body answers before reading it all (and may
/// close the connection), which must not turn into a write error here.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> HttpReply {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let request = request.to_vec();
    let sender = std::thread::spawn(move || {
        // Errors (EPIPE, ECONNRESET) just mean the server stopped reading.
        let _ = writer.write_all(&request);
        let _ = writer.flush();
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if response_complete(&raw) {
                    break;
                }
            }
            // A reset after the response arrived (the server closed with
            // part of our body unread) is fine; before it, it is not.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !raw.is_empty() => break,
            Err(e) => panic!(
                "reading the response from {addr} failed after {} bytes: {e}",
                raw.len()
            ),
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sender.join();
    parse(&raw).unwrap_or_else(|| {
        panic!(
            "unparsable HTTP response from {addr}:\n{}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// `http://host:port/path?q` → (address, "/path?q").
pub fn split_url(url: &str) -> (SocketAddr, String) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not an http URL: {url}"));
    let (authority, target) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let addr: SocketAddr = authority
        .parse()
        .unwrap_or_else(|e| panic!("not a loopback ip:port in {url}: {e}"));
    assert!(
        addr.ip().is_loopback(),
        "tests talk to loopback only: {url}"
    );
    (addr, target)
}

fn head_end(raw: &[u8]) -> Option<usize> {
    raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// True when the head and a Content-Length body are all in.
fn response_complete(raw: &[u8]) -> bool {
    let Some(end) = head_end(raw) else {
        return false;
    };
    match parse_head(&raw[..end]).and_then(|(_, h)| content_length(&h)) {
        Some(len) => raw.len() >= end + len,
        None => false,
    }
}

fn content_length(headers: &[(String, String)]) -> Option<usize> {
    headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.trim().parse().ok())
}

fn parse_head(head: &[u8]) -> Option<(u16, Vec<(String, String)>)> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            Some((n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    Some((status, headers))
}

fn parse(raw: &[u8]) -> Option<HttpReply> {
    let end = head_end(raw)?;
    let (status, headers) = parse_head(&raw[..end])?;
    let mut body = raw[end..].to_vec();
    if let Some(len) = content_length(&headers) {
        if body.len() < len {
            return None;
        }
        body.truncate(len);
    }
    Some(HttpReply {
        status,
        headers,
        body,
    })
}

/// Send `request` on a new connection, wait until the server has read all
/// of it, then close the connection without reading the answer: a client
/// that gave up waiting (SyncEvolution does after its RetryInterval, then
/// resends). Returns whether the server was seen to read everything.
///
/// "Read everything" is the server-side socket's receive queue in
/// `/proc/net/tcp` being empty (Linux; loopback IPv4 only). Without that
/// file it waits `fallback` instead.
pub fn send_and_hang_up(url: &str, request: &[u8], fallback: Duration) -> bool {
    let (addr, _) = split_url(url);
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    stream.write_all(request).unwrap();
    let client_port = stream.local_addr().unwrap().port();
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    let mut seen = false;
    while std::time::Instant::now() < deadline {
        match server_rx_queue(addr.port(), client_port) {
            Some(0) => {
                seen = true;
                break;
            }
            Some(_) => std::thread::sleep(Duration::from_millis(1)),
            None => {
                std::thread::sleep(fallback);
                break;
            }
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    seen
}

/// Bytes the server side of the loopback connection (server port ← client
/// port) has received but not read yet, from `/proc/net/tcp`.
fn server_rx_queue(server_port: u16, client_port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{server_port:04X}");
    let remote = format!("0100007F:{client_port:04X}");
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 4 && f[1] == local && f[2] == remote {
            let rx = f[4].split(':').nth(1)?;
            u64::from_str_radix(rx, 16).ok()
        } else {
            None
        }
    })
}
