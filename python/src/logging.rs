//! ringbus's diagnostics (the `log` facade: a blocked publisher, a poisoned partition, a torn
//! tail cut off, retention deletions, the I/O backend) forwarded to Python's `logging`, under
//! the logger `ringbus` and its children (`ringbus.log.persister`, ...). Configure them as any
//! Python logger; nothing shows until the application sets up logging.
#![deny(unsafe_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use log::{Log, Metadata, Record};
use pyo3::prelude::*;

/// Forwards to [`pyo3_log::Logger`], but never from a thread that cannot attach to the
/// interpreter (it is shutting down), and never lets a failure in Python's logging unwind
/// into ringbus's background threads (a persister must finish its writes).
struct ToLogging(pyo3_log::Logger);

impl Log for ToLogging {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        if Python::try_attach(|_| ()).is_some() {
            let _ = catch_unwind(AssertUnwindSafe(|| self.0.log(record)));
        }
    }

    fn flush(&self) {}
}

/// Installs the forwarding logger, unless the process has a Rust logger already (another
/// extension's): then ringbus's messages go there.
pub(crate) fn forward_to_python(py: Python<'_>) {
    // Logger objects are cached; levels are not, so logging configured after the import holds.
    let Ok(logger) = pyo3_log::Logger::new(py, pyo3_log::Caching::Loggers) else { return };
    if log::set_boxed_logger(Box::new(ToLogging(logger))).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}
