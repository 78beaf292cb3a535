//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test file uses some of them

use std::path::PathBuf;
use std::time::Duration;

use ringbus::{Error, Event, Publisher, Start, SubscribeOptions, Topic};

/// A fresh, empty path under the temporary directory for test `name` (not created).
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringbus-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Closes `topic` and reads every event it holds, from the earliest (on disk or in the ring),
/// until the subscription reports `Closed`. Panics on a stall or another error.
pub fn read_all(topic: &Topic) -> Vec<Event> {
    try_read_all(topic).unwrap_or_else(|e| panic!("reading back: {e}"))
}

/// Like [`read_all`], returning the first error instead of panicking on it.
pub fn try_read_all(topic: &Topic) -> Result<Vec<Event>, Error> {
    topic.close();
    let mut sub = topic.subscribe(SubscribeOptions::new().start(Start::Earliest))?;
    let mut out = Vec::new();
    loop {
        match sub.poll(Some(Duration::from_secs(10))) {
            Ok(Some(e)) => out.push(e.to_owned()),
            Ok(None) => panic!("reading stalled after {} events", out.len()),
            Err(Error::Closed) => return Ok(out),
            Err(e) => return Err(e),
        }
    }
}

/// Publishes sequence numbers with `publisher` on a thread (with `publish_timeout(timeout)`,
/// or `publish` when `timeout` is `None`) until `topic` is closed, which another thread does
/// after `close_after`, while a subscription that joined first reads them. Checks that the
/// reader got exactly the acknowledged events, in order, then `Closed`. `label` names the
/// case in failure messages.
pub fn close_while_publishing(
    label: &str,
    topic: &Topic,
    mut publisher: Publisher,
    timeout: Option<Duration>,
    close_after: Duration,
) {
    let mut sub = topic.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
    let producer = std::thread::spawn(move || {
        let mut acked = 0u64;
        loop {
            let bytes = acked.to_le_bytes();
            let published = match timeout {
                Some(t) => publisher.publish_timeout(&bytes, t),
                None => publisher.publish(&bytes),
            };
            match published {
                Ok(_) => acked += 1,
                Err(Error::Closed) => return acked,
                Err(e) => panic!("{e}"),
            }
        }
    });
    let closer = {
        let t = topic.clone();
        std::thread::spawn(move || {
            std::thread::sleep(close_after);
            t.close();
        })
    };
    let mut got = 0u64;
    loop {
        match sub.poll(Some(Duration::from_secs(20))) {
            Ok(Some(e)) => {
                assert_eq!(e.payload, got.to_le_bytes(), "{label}: event {got} out of order");
                got += 1;
            }
            Ok(None) => panic!("{label}: no event and no close within 20 s"),
            Err(Error::Closed) => break,
            Err(e) => panic!("{label}: {e}"),
        }
    }
    closer.join().unwrap();
    let acked = producer.join().unwrap();
    assert_eq!(got, acked, "{label}: the reader got exactly the acknowledged events");
}

/// A small xorshift generator for seeded, replayable tests.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Ends the test process with a message if it is still alive after `limit` (for tests whose
/// failure mode is a hang, such as a task that blocks the one thread others need). Dropping
/// the watchdog disarms it.
pub struct Watchdog {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Watchdog {
    /// Arms a watchdog for `name`.
    pub fn new(name: &'static str, limit: Duration) -> Self {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = done.clone();
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            while !seen.load(std::sync::atomic::Ordering::Acquire) {
                if start.elapsed() > limit {
                    eprintln!("{name}: still running after {limit:?}: hung");
                    std::process::exit(1);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::Release);
    }
}
