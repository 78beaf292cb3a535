//! Diagnostics: what ringbus has to say when something goes wrong in the background, through
//! the [`log`](https://docs.rs/log) facade (target `ringbus`). Nothing is printed unless the
//! application installs a logger (the `ringbus` CLI does with `-v`; the Python package
//! forwards to `logging`). Messages come from cold paths only, never from a publish or a poll
//! that succeeds:
//!
//! - `info`: the I/O backend a bus chose; a segment retention deleted;
//! - `warn`: io_uring unavailable (and why); a torn tail cut off by recovery; a publisher
//!   blocked more than a second by a full ring, naming the reader that holds it (at most once
//!   every 10 s per partition);
//! - `error`: a partition poisoned by a failed write or fsync.
#![deny(unsafe_code)]

pub(crate) use ::log::{error, info, warn};

use std::time::{Duration, Instant};

use crate::sync::{AtomicU64, Ordering};

/// Lets a message through at most once per `every`: a per-site rate limit that costs one
/// relaxed load while it holds the message back.
#[derive(Debug)]
pub(crate) struct RateLimit {
    /// When the last message went out, in ns since `origin` (0: never).
    last: AtomicU64,
    origin: Instant,
    every: Duration,
}

impl RateLimit {
    /// A limit of one message per `every`.
    pub(crate) fn new(every: Duration) -> Self {
        Self { last: AtomicU64::new(0), origin: Instant::now(), every }
    }

    /// Whether a message may go out now (then it counts as sent).
    pub(crate) fn allow(&self) -> bool {
        let now = self.origin.elapsed().as_nanos() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        if last != 0 && now - last < self.every.as_nanos() as u64 {
            return false;
        }
        self.last.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_lets_one_message_through_per_period() {
        let limit = RateLimit::new(Duration::from_millis(50));
        assert!(limit.allow());
        assert!(!limit.allow(), "a second message within the period");
        crate::sync::thread::sleep(Duration::from_millis(60));
        assert!(limit.allow(), "the next period");
    }
}
