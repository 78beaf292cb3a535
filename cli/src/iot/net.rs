//! Connecting to the networked peers over loopback.

use std::net::TcpStream;
use std::time::Duration;

use crate::Failure;

pub(crate) fn io(what: &str) -> impl Fn(std::io::Error) -> Failure + '_ {
    move |e| Failure::new(format!("{what}: {e}"))
}

pub(crate) fn connect(addr: &str, what: &str) -> Result<TcpStream, Failure> {
    let s = TcpStream::connect(addr).map_err(io(what))?;
    s.set_nodelay(true).map_err(io(what))?;
    Ok(s)
}

/// Whether something listens at `addr`.
pub(crate) fn reachable(addr: &str) -> bool {
    match addr.parse() {
        Ok(a) => TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok(),
        Err(_) => TcpStream::connect(addr).is_ok(),
    }
}
