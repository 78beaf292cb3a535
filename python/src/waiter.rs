//! `_Waiter`: what lets asyncio await a core future without a helper thread. The future's
//! waker writes a byte to a socket pair; the event loop watches the other end
//! (`loop.add_reader`) and polls the future again on the loop's thread (`ringbus/_aio.py`).
#![deny(unsafe_code)]

use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use parking_lot::Mutex;
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use ringbus_core as rb;

use crate::errors::Result;

/// A waker that makes a socket readable. Called on whatever thread completes the future (a
/// producer, the persister): one non-blocking write, no interpreter lock.
struct SocketWaker(UnixStream);

impl Wake for SocketWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // WouldBlock: the socket is full, so it is readable already.
        let _ = (&self.0).write(&[1]);
    }
}

/// What a waiter awaits, again and again.
pub(crate) enum Source {
    /// A bus reader's readiness: each await completes once the reader may have events.
    Readiness(rb::Readiness),
    /// Durability tickets: completes once all are durable (or one reports its failure).
    Tickets(Vec<rb::Ticket>),
}

type Pending = Pin<Box<dyn Future<Output = std::result::Result<(), rb::Error>> + Send>>;

/// A core future asyncio can await (see the module docs).
#[pyclass(frozen, name = "_Waiter", module = "ringbus")]
pub(crate) struct Waiter {
    source: Source,
    /// The loop watches this end.
    readable: UnixStream,
    waker: Waker,
    /// The future being awaited, made from `source` when an await starts.
    current: Mutex<Option<Pending>>,
    /// Held by one await at a time (a reader keeps one waiter for its awaits; a second
    /// concurrent await of the same reader gets a waiter of its own).
    claimed: AtomicBool,
}

impl Waiter {
    pub(crate) fn new(source: Source) -> Result<Self> {
        let (readable, writable) = UnixStream::pair().map_err(|e| PyOSError::new_err(e.to_string()))?;
        readable.set_nonblocking(true).map_err(|e| PyOSError::new_err(e.to_string()))?;
        writable.set_nonblocking(true).map_err(|e| PyOSError::new_err(e.to_string()))?;
        let waker = Waker::from(Arc::new(SocketWaker(writable)));
        Ok(Self { source, readable, waker, current: Mutex::new(None), claimed: AtomicBool::new(false) })
    }

    /// Takes the waiter for one await: false if another await holds it.
    pub(crate) fn claim(&self) -> bool {
        !self.claimed.swap(true, Ordering::AcqRel)
    }

    fn future(&self) -> Pending {
        match &self.source {
            Source::Readiness(r) => {
                let ready = r.ready();
                Box::pin(async move {
                    ready.await;
                    Ok(())
                })
            }
            Source::Tickets(tickets) => {
                let tickets = tickets.clone();
                Box::pin(async move {
                    for t in tickets {
                        t.await?;
                    }
                    Ok(())
                })
            }
        }
    }
}

#[pymethods]
impl Waiter {
    /// The descriptor to watch for readability.
    #[getter]
    fn fd(&self) -> i32 {
        self.readable.as_raw_fd()
    }

    /// Empties the socket, then polls the awaited future (starting one if none is under
    /// way): True once it completed (then the next call starts a new one), False while it
    /// is pending (the socket becomes readable when it is worth polling again). Raises the
    /// future's error (a poisoned log, for tickets).
    fn poll(&self) -> Result<bool> {
        let mut sink = [0u8; 64];
        loop {
            match (&self.readable).read(&mut sink) {
                Ok(n) if n > 0 => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                _ => break,
            }
        }
        let mut current = self.current.lock();
        let future = current.get_or_insert_with(|| self.future());
        match future.as_mut().poll(&mut Context::from_waker(&self.waker)) {
            Poll::Pending => Ok(false),
            Poll::Ready(result) => {
                *current = None;
                result?;
                Ok(true)
            }
        }
    }

    /// Drops the future under way (an await that was cancelled): its waker is taken back.
    fn cancel(&self) {
        self.current.lock().take();
    }

    /// Gives the waiter back after an await (see `claim`).
    fn release(&self) {
        self.claimed.store(false, Ordering::Release);
    }
}
