//! `Ticket`: a durability ticket (`Topic.publish_ticket`, `Topic.publish_many_ticket`).
#![deny(unsafe_code)]

use pyo3::prelude::*;
use ringbus_core as rb;

use crate::convert::{deadline, next_slice};
use crate::errors::Result;
use crate::waiter::{Source, Waiter};

/// Complete once the fsync covering what its publish appended has completed (at once on
/// memory and async topics). Dropping it loses nothing.
#[pyclass(frozen, module = "ringbus")]
pub(crate) struct Ticket {
    /// One per chunk the publish call appended (each covers its partitions).
    tickets: Vec<rb::Ticket>,
}

impl Ticket {
    pub(crate) fn new(tickets: Vec<rb::Ticket>) -> Self {
        Self { tickets }
    }
}

#[pymethods]
impl Ticket {
    /// Waits up to `timeout` seconds (None: no limit) until durable: True, or False if the
    /// time passed first. Raises PoisonedError if the log failed before covering it.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> Result<bool> {
        let deadline = deadline(timeout)?;
        for t in &self.tickets {
            loop {
                let Some(slice) = next_slice(deadline) else { return Ok(t.is_durable()?) };
                match py.detach(|| t.wait(Some(slice))) {
                    Ok(()) => break,
                    Err(rb::Error::FlushTimeout) => py.check_signals()?,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(true)
    }

    /// Whether everything the ticket covers is durable now; raises PoisonedError if it never
    /// will be.
    #[getter]
    fn durable(&self) -> Result<bool> {
        for t in &self.tickets {
            if !t.is_durable()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The event's offset (a ticket of one event), else None.
    #[getter]
    fn offset(&self) -> Option<u64> {
        self.receipt().map(|r| r.offset)
    }

    /// The event's partition (a ticket of one event), else None.
    #[getter]
    fn partition(&self) -> Option<u32> {
        self.receipt().map(|r| r.partition)
    }

    /// `await ticket`: completes once durable, without a helper thread.
    fn __await__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let coroutine = slf.py().import("ringbus._aio")?.getattr("ticket")?.call1((slf,))?;
        coroutine.call_method0("__await__")
    }

    /// A waiter for `await` (see `_aio.py`).
    fn _waiter(&self) -> Result<Waiter> {
        Waiter::new(Source::Tickets(self.tickets.clone()))
    }

    fn __repr__(&self) -> String {
        match self.receipt() {
            Some(r) => format!("Ticket(partition={}, offset={})", r.partition, r.offset),
            None => format!(
                "Ticket(covers={:?})",
                self.tickets.iter().flat_map(|t| t.covers().to_vec()).collect::<Vec<_>>()
            ),
        }
    }
}

impl Ticket {
    fn receipt(&self) -> Option<rb::Receipt> {
        match &self.tickets[..] {
            [one] => one.receipt(),
            _ => None,
        }
    }
}
