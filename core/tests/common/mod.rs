//! Helpers shared by the persisted-topic tests.
#![allow(dead_code)] // each test file uses some of them

use std::path::PathBuf;
use std::time::Duration;

use ringbus::{Error, Event, Start, SubscribeOptions, Topic};

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
