//! A failed write or fsync (EIO, ENOSPC), injected with `RINGBUS_IO_FAULT`, latches the
//! partition: the publish waiting for it and every later one get `Error::Poisoned`, nothing
//! after the failure is acknowledged, and what was acknowledged before is there after a reopen.
//! One test function: the fault is chosen through the process environment. The injecting
//! backend exists only with the `fault-injection` feature (the test command turns it on);
//! without it, this file checks that the variable is ignored, and says so.

mod common;

use ringbus::{Bus, Durability, Record, TopicConfig};

fn payload(i: u64) -> Vec<u8> {
    format!("reading {i} {}", "x".repeat((i % 40) as usize)).into_bytes()
}

/// Reads every event after a reopen without faults: they must be a prefix of what was
/// published, byte-identical.
fn reopen_and_read(dir: &std::path::Path) -> u64 {
    let bus = Bus::open(dir).unwrap();
    let events = common::read_all(&bus.topic("t").unwrap());
    for (n, e) in events.iter().enumerate() {
        assert_eq!(e.payload, payload(n as u64), "event {n}");
    }
    events.len() as u64
}

#[cfg(feature = "fault-injection")]
#[test]
fn injected_write_and_fsync_failures_poison_and_lose_nothing_acknowledged() {
    use ringbus::Error;
    use std::time::Duration;
    let cases = [
        ("fsync:4", Durability::Sync, "Input/output error"),
        ("nospace:3", Durability::Sync, "No space left"),
        ("short:5", Durability::Sync, "short write"),
        ("write:3", Durability::Async { max_delay: Duration::from_millis(2) }, "Input/output error"),
    ];
    for (fault, durability, message) in cases {
        let dir =
            std::env::temp_dir().join(format!("ringbus-fault-{}-{}", fault.replace(':', "-"), std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let bus = Bus::open(&dir).unwrap();
        std::env::set_var("RINGBUS_IO_FAULT", fault);
        let t = bus.create_topic("t", TopicConfig::new().capacity(64 << 10).max_payload(1024).durability(durability));
        std::env::remove_var("RINGBUS_IO_FAULT");
        let t = t.unwrap();
        let mut p = t.publisher().unwrap();
        let mut acked = 0u64;
        let error = loop {
            match p.publish(Record::new(&payload(acked))) {
                Ok(_) => acked += 1,
                Err(e) => break e,
            }
            if durability != Durability::Sync {
                // Give the write-behind persister time to meet its fault.
                std::thread::sleep(Duration::from_millis(1));
            }
            assert!(acked < 100_000, "{fault}: the fault never struck");
        };
        match &error {
            Error::Poisoned { partition: 0, reason } => assert!(reason.contains(message), "{fault}: {reason}"),
            other => panic!("{fault}: expected Poisoned, got {other:?}"),
        }
        // Latched: later publishes and flushes fail the same way; stats say why.
        assert!(matches!(p.publish(Record::new(b"late")), Err(Error::Poisoned { .. })), "{fault}");
        assert!(matches!(t.flush(Some(Duration::from_secs(1))), Err(Error::Poisoned { .. })), "{fault}");
        let poisoned = t.stats().partitions[0].log.as_ref().unwrap().poisoned.clone();
        assert!(poisoned.is_some_and(|r| r.contains(message)), "{fault}");
        eprintln!("{fault}: {acked} acknowledged before: {error}");
        drop(p);
        drop(t);
        drop(bus);
        let held = reopen_and_read(&dir);
        if durability == Durability::Sync {
            assert!(held >= acked, "{fault}: {acked} acknowledged, only {held} held after reopen");
        }
        assert!(acked > 0, "{fault}: the fault struck before anything was acknowledged");
        std::fs::remove_dir_all(&dir).unwrap();
    }
    // A malformed fault spec is refused when the persister starts.
    let dir = std::env::temp_dir().join(format!("ringbus-fault-bad-{}", std::process::id()));
    let bus = Bus::open(&dir).unwrap();
    std::env::set_var("RINGBUS_IO_FAULT", "sometimes");
    let r = bus.create_topic("t", TopicConfig::new().capacity(64 << 10).max_payload(1024).durability(Durability::Sync));
    std::env::remove_var("RINGBUS_IO_FAULT");
    assert!(matches!(r, Err(Error::Io { .. })), "{r:?}");
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
    a_failed_fsync_reaches_every_waiting_ticket();
}

/// Tickets in flight when an fsync fails: those it would have covered report the poisoning
/// (by `wait`, `is_durable` and as futures), those covered before it are durable.
#[cfg(feature = "fault-injection")]
fn a_failed_fsync_reaches_every_waiting_ticket() {
    use ringbus::Error;
    use std::time::Duration;
    let dir = std::env::temp_dir().join(format!("ringbus-fault-tickets-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bus = Bus::open(&dir).unwrap();
    std::env::set_var("RINGBUS_IO_FAULT", "fsync:3");
    let topic =
        bus.create_topic("t", TopicConfig::new().capacity(1 << 20).max_payload(1024).durability(Durability::Sync));
    std::env::remove_var("RINGBUS_IO_FAULT");
    let topic = topic.unwrap();
    let mut p = topic.publisher().unwrap();
    let mut tickets = Vec::new();
    let mut i = 0u64;
    let error = loop {
        match p.publish_ticket(Record::new(&i.to_le_bytes())) {
            Ok(t) => tickets.push(t),
            Err(e) => break e,
        }
        i += 1;
        if i % 100 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(i < 1_000_000, "the fault never struck");
    };
    assert!(matches!(error, Error::Poisoned { .. }), "{error:?}");
    let (mut durable, mut poisoned) = (0, 0);
    for t in tickets {
        let waited = t.wait(Some(Duration::from_secs(10)));
        match (&waited, t.is_durable()) {
            (Ok(()), Ok(true)) => durable += 1,
            (Err(Error::Poisoned { reason, .. }), Err(Error::Poisoned { .. })) => {
                assert!(reason.contains("Input/output error"), "{reason}");
                assert!(matches!(futures_executor::block_on(t), Err(Error::Poisoned { .. })));
                poisoned += 1;
            }
            other => panic!("a ticket ended as {other:?}"),
        }
    }
    assert!(poisoned > 0, "the tickets after the failed fsync report it ({durable} durable)");
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Without the feature (release builds of the library, the CLI and the bindings), the variable
/// cannot make a process fail its writes.
#[cfg(not(feature = "fault-injection"))]
#[test]
fn without_the_feature_ringbus_io_fault_is_ignored() {
    eprintln!(
        "fault injection is not compiled in (cargo feature ringbus/fault-injection, which the test \
         command enables): checking only that RINGBUS_IO_FAULT is ignored"
    );
    let dir = std::env::temp_dir().join(format!("ringbus-fault-ignored-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bus = Bus::open(&dir).unwrap();
    std::env::set_var("RINGBUS_IO_FAULT", "write:1");
    let t = bus.create_topic("t", TopicConfig::new().capacity(64 << 10).max_payload(1024).durability(Durability::Sync));
    let t = t.expect("the variable is ignored");
    let mut p = t.publisher().unwrap();
    for i in 0..100 {
        p.publish(Record::new(&payload(i))).expect("every write succeeds");
    }
    std::env::remove_var("RINGBUS_IO_FAULT");
    drop(p);
    bus.close();
    drop(bus);
    assert_eq!(reopen_and_read(&dir), 100);
    std::fs::remove_dir_all(&dir).unwrap();
}
