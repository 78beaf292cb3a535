//! ringbus says, through the `log` facade, what goes wrong in the background: the I/O backend
//! it chose, a publisher blocked by a full ring (naming the reader that holds it), a torn tail
//! cut off by recovery, a segment deleted by retention, a partition poisoned by a failed
//! write. One test function: the logger is process-wide.

use std::sync::Mutex;
use std::time::Duration;

use log::{Level, Log, Metadata, Record as LogRecord};
use ringbus::{Bus, Durability, Error, Record, SlowConsumerPolicy, Start, SubscribeOptions, TopicConfig};

/// Every message logged, with its level and target.
struct Capture(Mutex<Vec<(Level, String, String)>>);

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &LogRecord<'_>) {
        let entry = (record.level(), record.target().to_owned(), record.args().to_string());
        self.0.lock().unwrap().push(entry);
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

/// Messages logged so far at `level` whose text contains every one of `words`.
fn logged(level: Level, words: &[&str]) -> Vec<String> {
    let all = CAPTURE.0.lock().unwrap();
    all.iter()
        .filter(|(l, target, m)| *l == level && target.starts_with("ringbus") && words.iter().all(|w| m.contains(w)))
        .map(|(_, _, m)| m.clone())
        .collect()
}

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ringbus-diag-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn background_trouble_is_logged_with_names() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    // A publisher blocked by a Block subscription that its own thread would poll: the warning
    // names the subscription and where it holds the ring.
    let bus = Bus::new();
    let t = bus.create_topic("sensors", TopicConfig::new().capacity(4096).max_payload(64).max_key(16)).unwrap();
    let _drop_oldest = t.subscribe(SubscribeOptions::new().policy(SlowConsumerPolicy::DropOldest)).unwrap();
    let mut held = t.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
    let mut p = t.publisher().unwrap();
    let full = loop {
        match p.publish_timeout(Record::new(&[7u8; 40]), Duration::from_millis(1500)) {
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(full, Error::Full);
    let blocked = logged(Level::Warn, &["\"sensors\"", "partition 0", "subscription #2 (Block)", "at offset 0"]);
    assert_eq!(blocked.len(), 1, "one warning for a publisher blocked 1.5 s: {blocked:?}");
    assert!(blocked[0].contains("waited 1."), "{}", blocked[0]);
    // Rate-limited: a second blocked publish within 10 s says nothing more.
    assert_eq!(p.publish_timeout(Record::new(&[7u8; 40]), Duration::from_millis(1200)), Err(Error::Full));
    assert_eq!(logged(Level::Warn, &["\"sensors\"", "waited"]).len(), 1);
    assert!(held.try_poll().unwrap().is_some(), "the holder reads on");

    // A caller that waits in slices (as the Python binding does, to check for signals) is
    // blocked all along: after a second of 100 ms slices it is reported too, once.
    let sliced = bus.create_topic("sliced", TopicConfig::new().capacity(4096).max_payload(64).max_key(16)).unwrap();
    let _held = sliced.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
    let mut p = sliced.publisher().unwrap();
    while p.try_publish(Record::new(&[7u8; 40])).is_ok() {}
    for _ in 0..15 {
        assert_eq!(p.publish_timeout(Record::new(&[7u8; 40]), Duration::from_millis(100)), Err(Error::Full));
    }
    let reports = logged(Level::Warn, &["\"sliced\"", "waited 1.", "subscription #1 (Block)"]);
    assert_eq!(reports.len(), 1, "{reports:?}");

    // The backend a bus chose; a torn tail cut off on reopen.
    let d = dir("torn");
    {
        let bus = Bus::open(&d).unwrap();
        let t = bus
            .create_topic("t", TopicConfig::new().capacity(64 << 10).max_payload(1024).durability(Durability::Sync))
            .unwrap();
        t.publisher().unwrap().publish(Record::new(b"acknowledged")).unwrap();
    }
    assert!(
        !logged(Level::Info, &[&d.display().to_string(), "persisters write with"]).is_empty()
            || !logged(Level::Warn, &[&d.display().to_string(), "not io_uring"]).is_empty()
    );
    let segment = d.join("t/0/00000000000000000000.seg");
    let bytes = std::fs::read(&segment).unwrap();
    let end = 64 + 40; // header, then one 40-byte frame (24 + 12 bytes, aligned)
    assert!(bytes[end..end + 64].iter().all(|&b| b == 0));
    let mut torn = bytes;
    torn[end..end + 12].copy_from_slice(b"half a frame");
    std::fs::write(&segment, torn).unwrap();
    let bus = Bus::open(&d).unwrap();
    let cut = logged(Level::Warn, &["torn tail of 12 bytes", "offset 40", "00000000000000000000.seg"]);
    assert_eq!(cut.len(), 1, "{cut:?}");
    drop(bus);

    // Retention deleting a segment.
    let d = dir("retention");
    let bus = Bus::open(&d).unwrap();
    let config = TopicConfig::new()
        .capacity(64 << 10)
        .max_payload(1024)
        .segment_bytes(128 << 10)
        .retention_bytes(256 << 10)
        .durability(Durability::Async { max_delay: Duration::from_millis(2) });
    let t = bus.create_topic("r", config).unwrap();
    let mut p = t.publisher().unwrap();
    for _ in 0..2000 {
        p.publish(Record::new(&[1u8; 500])).unwrap();
    }
    t.flush(Some(Duration::from_secs(10))).unwrap();
    let deleted = logged(Level::Info, &["retention deleted", "00000000000000000000.seg", "by size"]);
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    drop(bus);

    poisoning_is_logged();
}

/// A failed fsync poisons the partition, and says so (the injecting backend exists with the
/// `fault-injection` feature, which the test command turns on).
#[cfg(feature = "fault-injection")]
fn poisoning_is_logged() {
    let d = dir("poison");
    let bus = Bus::open(&d).unwrap();
    std::env::set_var("RINGBUS_IO_FAULT", "fsync:2");
    let t = bus.create_topic("p", TopicConfig::new().capacity(64 << 10).max_payload(1024).durability(Durability::Sync));
    std::env::remove_var("RINGBUS_IO_FAULT");
    let mut p = t.unwrap().publisher().unwrap();
    let error = loop {
        if let Err(e) = p.publish(Record::new(b"x")) {
            break e;
        }
    };
    assert!(matches!(error, Error::Poisoned { partition: 0, .. }), "{error:?}");
    let poisoned = logged(Level::Error, &["partition 0", "poisoned", "Input/output error"]);
    assert_eq!(poisoned.len(), 1, "{poisoned:?}");
}

#[cfg(not(feature = "fault-injection"))]
fn poisoning_is_logged() {
    eprintln!("poisoning's message is checked with the fault-injection feature (the test command's); skipped here");
}
