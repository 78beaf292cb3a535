//! The extension module `ringbus._ringbus`: frozen classes over the Rust core, re-exported by
//! the Python package `ringbus` (see `ringbus/_ringbus.pyi` for the documented API).
//!
//! Conventions:
//! - Blocking waits detach from the interpreter in slices of at most 100 ms and check for
//!   signals between slices, so Ctrl-C ends them and other Python threads run meanwhile.
//! - Calls that do not wait keep the interpreter attached: detaching costs more than they do.
//! - A reader is used by one thread at a time: a second thread gets `RuntimeError` instead of
//!   waiting (waiting for a lock while attached could deadlock with the reader's own wait).
//! - Every core error becomes an exception of `ringbus._errors` in one place (`errors.rs`):
//!   binding calls return `errors::Result`, so `?` works on core and Python errors alike.
//! - ringbus's diagnostics (the `log` facade) go to Python's `logging`, loggers `ringbus.*`.
//!
//! One file per class or concern: `bus.rs`, `topic.rs`, `reader.rs`, `event.rs`, `arrow.rs`,
//! `options.rs`, `convert.rs`, `errors.rs`, `logging.rs`, `ticket.rs` (durability tickets),
//! `waiter.rs` (asyncio awaits core futures through a socket the waker writes); `bench.rs` (the `bench` feature).

mod arrow;
#[cfg(feature = "bench")]
mod bench;
mod bus;
mod convert;
mod errors;
mod event;
mod follower;
mod logging;
mod options;
mod reader;
mod ticket;
mod topic;
mod waiter;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _ringbus(m: &Bound<'_, PyModule>) -> PyResult<()> {
    logging::forward_to_python(m.py());
    m.add_class::<bus::Bus>()?;
    m.add_class::<topic::Topic>()?;
    m.add_class::<reader::Reader>()?;
    m.add_class::<reader::Subscription>()?;
    m.add_class::<reader::Member>()?;
    m.add_class::<follower::Follower>()?;
    m.add_class::<follower::FollowerSubscription>()?;
    m.add_class::<follower::FollowerMember>()?;
    m.add_class::<event::Event>()?;
    m.add_class::<event::EventBatch>()?;
    m.add_class::<ticket::Ticket>()?;
    m.add_class::<waiter::Waiter>()?;
    #[cfg(feature = "bench")]
    bench::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
