//! `--metrics-addr`: serves a bus's `Bus::metrics` over HTTP while a run lasts, for a
//! Prometheus scrape. One request at a time on one thread; `GET /metrics` (or `/`) answers
//! the OpenMetrics text, anything else 404. Loopback unless an address says otherwise.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ringbus::Bus;

use crate::Failure;

/// The content type of the OpenMetrics text format.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Parses `--metrics-addr`: `PORT` (on 127.0.0.1) or `HOST:PORT`.
pub fn parse_addr(s: &str) -> Result<SocketAddr, Failure> {
    let with_host = if s.parse::<u16>().is_ok() { format!("127.0.0.1:{s}") } else { s.to_owned() };
    with_host
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| Failure::new(format!("--metrics-addr {s:?}: expected PORT (served on 127.0.0.1) or HOST:PORT")))
}

/// A running metrics endpoint; dropping it stops the server.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` and serves `bus`'s metrics until dropped. Says where on stderr.
    pub fn start(bus: Bus, addr: SocketAddr) -> Result<Self, Failure> {
        let listener =
            TcpListener::bind(addr).map_err(|e| Failure::new(format!("--metrics-addr {addr}: cannot listen: {e}")))?;
        let addr = listener.local_addr()?;
        eprintln!("serving metrics on http://{addr}/metrics");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new().name("ringbus-metrics".into()).spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::Acquire) {
                    break;
                }
                if let Ok(conn) = conn {
                    // A client that misbehaves costs its own request only.
                    let _ = answer(&bus, conn);
                }
            }
        })?;
        Ok(Self { addr, stop, thread: Some(thread) })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request's head and answers it.
fn answer(bus: &Bus, mut conn: TcpStream) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    conn.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r' || b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let (status, content_type, body) = match (method, path) {
        (b"GET", b"/metrics" | b"/") => ("200 OK", CONTENT_TYPE, bus.metrics()),
        (b"GET", _) => ("404 Not Found", "text/plain", "not found: the metrics are at /metrics\n".to_owned()),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".to_owned()),
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}
