//! Persisted topics: what is published survives closing and reopening the data directory,
//! readers start from disk and switch to the ring without a gap or a duplicate, and a second
//! bus cannot open a directory in use. Runs on the backend `RINGBUS_IO` selects (the test
//! command runs this file once per backend).

use std::time::Duration;

use ringbus::{Bus, Durability, Error, Record, SlowConsumerPolicy, Start, SubscribeOptions, TopicConfig};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ringbus-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn payload(i: u64) -> Vec<u8> {
    let len = (i % 50) as usize;
    let mut v = i.to_le_bytes().to_vec();
    v.extend((0..len).map(|j| (i as usize + j) as u8));
    v
}

fn config(durability: Durability) -> TopicConfig {
    // A small ring and small segments, so the log rotates and the ring laps many times.
    TopicConfig::new()
        .partitions(2)
        .capacity(64 << 10)
        .max_payload(4096)
        .segment_bytes(256 << 10)
        .durability(durability)
}

/// Reads every event of `partition` from the start, until `expect` events came.
fn read_all(bus: &Bus, topic: &str, partition: u32, expect: usize) -> Vec<(u64, Vec<u8>, Option<Vec<u8>>)> {
    let t = bus.topic(topic).expect("topic restored");
    let mut sub =
        t.subscribe(SubscribeOptions::new().start(Start::Earliest).partitions([partition])).expect("subscribe");
    let mut got = Vec::new();
    while got.len() < expect {
        match sub.poll(Some(Duration::from_secs(5))) {
            Ok(Some(e)) => got.push((e.offset, e.payload.to_vec(), e.key.map(<[u8]>::to_vec))),
            Ok(None) => panic!("timed out after {} of {expect} events", got.len()),
            Err(e) => panic!("after {} events: {e}", got.len()),
        }
    }
    got
}

#[test]
fn sync_topic_survives_reopen_with_every_event_in_order() {
    let dir = temp_dir("reopen");
    let n = 12_000u64;
    let mut offsets = [Vec::new(), Vec::new()];
    {
        let bus = Bus::open(&dir).unwrap();
        let choice = bus.io_backend().unwrap();
        eprintln!("I/O backend: {} ({:?})", choice.backend, choice.reason);
        let t = bus.create_topic("readings", config(Durability::Sync)).unwrap();
        assert_eq!(t.stats().io_backend, Some(choice.backend));
        let mut p = t.publisher().unwrap();
        for i in 0..n {
            let key = format!("sensor-{}", i % 7);
            let r = p.publish(Record::new(&payload(i)).key(key.as_bytes()).partition((i % 2) as u32)).unwrap();
            offsets[r.partition as usize].push(r.offset);
        }
        let stats = t.stats();
        for part in &stats.partitions {
            let log = part.log.as_ref().unwrap();
            assert_eq!(log.durable_offset, part.next_offset, "Sync: everything acknowledged is durable");
            assert!(log.segments > 1, "256 KiB segments must have rotated: {log:?}");
        }
        bus.close();
    }
    let bus = Bus::open(&dir).unwrap();
    assert_eq!(bus.topic_names(), vec!["readings".to_owned()]);
    let t = bus.topic("readings").unwrap();
    assert_eq!(t.config().durability, Durability::Sync);
    for p in 0..2u32 {
        let got = read_all(&bus, "readings", p, (n / 2) as usize);
        for (k, (offset, body, key)) in got.iter().enumerate() {
            let i = k as u64 * 2 + u64::from(p);
            assert_eq!(*offset, offsets[p as usize][k], "partition {p} event {k}: offset");
            assert_eq!(body, &payload(i), "partition {p} event {k}: payload");
            assert_eq!(key.as_deref(), Some(format!("sensor-{}", i % 7).as_bytes()));
        }
        // New events continue the log after the restored ones.
        let next = t.stats().partitions[p as usize].next_offset;
        assert!(next > *offsets[p as usize].last().unwrap());
    }
    let mut pub2 = t.publisher().unwrap();
    let r = pub2.publish(Record::new(b"after restart").partition(0)).unwrap();
    assert!(r.offset > *offsets[0].last().unwrap());
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_setting_survives_reopen() {
    let dir = temp_dir("settings");
    let config = TopicConfig::new()
        .partitions(3)
        .capacity(1 << 20)
        .max_payload(1000)
        .max_key(16)
        .durability(Durability::Async { max_delay: Duration::from_micros(2500) })
        .segment_bytes(4 << 20)
        .retention_bytes(64 << 20)
        .retention_age(Duration::from_secs(7200))
        .dedup_window(Duration::from_secs(42))
        .producers(ringbus::Producers::Single)
        .timestamps(ringbus::TimestampSource::Precise)
        .wait(ringbus::WaitStrategy::Yield);
    {
        let bus = Bus::open(&dir).unwrap();
        bus.create_topic("settings", config.clone()).unwrap();
        bus.close();
    }
    let bus = Bus::open(&dir).unwrap();
    assert_eq!(bus.topic("settings").unwrap().config(), &config, "every setting, dedup_window included");
    bus.close();
    drop(bus);
    // A topic.conf written before the configuration table (durability=async:<microseconds>,
    // no dedup_window) still opens, with the default window.
    let conf = dir.join("settings").join("topic.conf");
    let old = "partitions=3\ncapacity=1048576\nmax_payload=1000\nmax_key=16\nsegment_bytes=4194304\n\
               durability=async:2500\nproducers=single\ntimestamps=precise\nwait=yield\n\
               retention_bytes=67108864\nretention_ms=7200000\n";
    std::fs::write(&conf, old).unwrap();
    let bus = Bus::open(&dir).unwrap();
    let expected = config.clone().dedup_window(TopicConfig::new().dedup_window);
    assert_eq!(bus.topic("settings").unwrap().config(), &expected);
    drop(bus);
    // A value of the wrong form is reported with the file, not taken as a default.
    std::fs::write(&conf, old.replace("capacity=1048576", "capacity=1M")).unwrap();
    match Bus::open(&dir) {
        Err(Error::CorruptLog { segment, reason, .. }) => {
            assert!(segment.ends_with("topic.conf"), "{segment}");
            assert!(reason.contains("capacity"), "{reason}");
        }
        other => panic!("a bad topic.conf must not open: {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_reader_behind_the_ring_reads_disk_then_switches_without_gap_or_duplicate() {
    let dir = temp_dir("catchup");
    let bus = Bus::open(&dir).unwrap();
    let t = bus.create_topic("t", config(Durability::Async { max_delay: Duration::from_millis(5) })).unwrap();
    let mut p = t.publisher().unwrap();
    // Far more than the 64 KiB ring holds, with nobody reading.
    let before = 20_000u64;
    for i in 0..before {
        p.publish(Record::new(&payload(i)).partition(0)).unwrap();
    }
    let mut sub = t.subscribe(SubscribeOptions::new().start(Start::Earliest).partitions([0])).unwrap();
    let producer = std::thread::spawn(move || {
        for i in before..before * 2 {
            p.publish(Record::new(&payload(i)).partition(0)).unwrap();
        }
    });
    let mut expect = 0u64;
    let mut last_offset = None;
    while expect < before * 2 {
        match sub.poll(Some(Duration::from_secs(5))).unwrap() {
            Some(e) => {
                assert_eq!(e.payload, &payload(expect)[..], "event {expect}");
                assert!(last_offset < Some(e.offset));
                last_offset = Some(e.offset);
                expect += 1;
            }
            None => panic!("stalled at event {expect}"),
        }
    }
    producer.join().unwrap();
    drop(sub);
    bus.close();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_lapped_drop_oldest_reader_continues_from_disk_without_loss() {
    let dir = temp_dir("lapped");
    let bus = Bus::open(&dir).unwrap();
    let t = bus.create_topic("t", config(Durability::Async { max_delay: Duration::from_millis(5) })).unwrap();
    let mut sub = t
        .subscribe(
            SubscribeOptions::new().start(Start::Earliest).partitions([1]).policy(SlowConsumerPolicy::DropOldest),
        )
        .unwrap();
    let mut p = t.publisher().unwrap();
    let n = 20_000u64;
    for i in 0..n {
        p.publish(Record::new(&payload(i)).partition(1)).unwrap();
    }
    for i in 0..n {
        let e = sub.poll(Some(Duration::from_secs(5))).unwrap().expect("an event");
        assert_eq!(e.payload, &payload(i)[..], "event {i}");
    }
    assert_eq!(t.stats().readers[0].dropped, 0);
    drop(sub);
    bus.close();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn start_offset_reads_from_disk_and_bad_offsets_are_errors() {
    let dir = temp_dir("offset");
    let bus = Bus::open(&dir).unwrap();
    let t = bus.create_topic("t", config(Durability::Sync)).unwrap();
    let mut p = t.publisher().unwrap();
    let receipts: Vec<_> = (0..10_000u64).map(|i| p.publish(Record::new(&payload(i)).partition(0)).unwrap()).collect();
    let at = 1234;
    let mut sub =
        t.subscribe(SubscribeOptions::new().start(Start::Offset(receipts[at].offset)).partitions([0])).unwrap();
    for (i, receipt) in receipts.iter().enumerate().skip(at).take(100) {
        let e = sub.poll(Some(Duration::from_secs(5))).unwrap().unwrap();
        assert_eq!((e.offset, e.payload), (receipt.offset, &payload(i as u64)[..]));
    }
    let inside = receipts[at].offset + 8;
    match t.subscribe(SubscribeOptions::new().start(Start::Offset(inside)).partitions([0])) {
        Err(Error::NotAnEventOffset { offset, .. }) => assert_eq!(offset, inside),
        other => panic!("{other:?}"),
    }
    drop(sub);
    bus.close();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_bus_cannot_open_a_directory_in_use() {
    let dir = temp_dir("lock");
    let bus = Bus::open(&dir).unwrap();
    match Bus::open(&dir) {
        Err(e @ Error::Locked { .. }) => assert!(e.to_string().contains("in use")),
        other => panic!("{other:?}"),
    }
    drop(bus);
    let again = Bus::open(&dir).expect("the lock is released with the bus");
    drop(again);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn persisted_topics_need_an_opened_bus_and_valid_settings() {
    match Bus::new().create_topic("t", config(Durability::Sync)) {
        Err(Error::NotPersisted(_)) => {}
        other => panic!("{other:?}"),
    }
    let dir = temp_dir("settings");
    let bus = Bus::open(&dir).unwrap();
    let small = config(Durability::Sync).segment_bytes(1000);
    assert!(matches!(bus.create_topic("t", small), Err(Error::InvalidConfig { field: "segment_bytes", .. })));
    let zero = config(Durability::Async { max_delay: Duration::ZERO });
    assert!(matches!(bus.create_topic("t", zero), Err(Error::InvalidConfig { field: "durability", .. })));
    for bad in ["..", "a/b", "a\0b", &"x".repeat(201)] {
        assert!(matches!(bus.create_topic(bad, config(Durability::Sync)), Err(Error::InvalidName { .. })), "{bad:?}");
    }
    bus.create_topic("t", config(Durability::Sync)).unwrap();
    assert!(matches!(bus.create_topic("t", config(Durability::Sync)), Err(Error::TopicExists(_))));
    // Files are private to the owner and group.
    use std::os::unix::fs::PermissionsExt;
    for entry in walk(&dir) {
        let mode = std::fs::metadata(&entry).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o027, 0, "{} has mode {mode:o}", entry.display());
    }
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

#[test]
fn a_consumer_absent_for_a_million_events_catches_up_completely() {
    let dir = temp_dir("million");
    let n = 1_000_000u64;
    let config = TopicConfig::new()
        .capacity(1 << 20)
        .max_payload(64)
        .max_key(0)
        .segment_bytes(16 << 20)
        .durability(Durability::Async { max_delay: Duration::from_millis(10) });
    {
        let bus = Bus::open(&dir).unwrap();
        let t = bus.create_topic("t", config).unwrap();
        // The consumer group exists and has committed at the start, then goes away.
        let group = t.group("archive", Start::Earliest).unwrap();
        group.commit().unwrap();
        drop(group);
        let mut p = t.publisher().unwrap();
        let mut bufs = vec![[0u8; 16]; 250];
        for chunk in 0..n / 250 {
            for (i, b) in bufs.iter_mut().enumerate() {
                *b = (chunk * 250 + i as u64).to_le_bytes().repeat(2).try_into().unwrap();
            }
            let batch: Vec<Record<'_>> = bufs.iter().map(|b| Record::new(b)).collect();
            p.publish_batch(&batch).unwrap();
        }
    }
    // It comes back after a restart and resumes where it committed.
    let bus = Bus::open(&dir).unwrap();
    let t = bus.topic("t").unwrap();
    t.close();
    let mut m = t.group("archive", Start::Committed).unwrap().join();
    let (mut count, mut sum, mut expect) = (0u64, 0u64, 0u64);
    loop {
        match m.poll_batch(4096, Some(Duration::from_secs(10)), |e| {
            let v = u64::from_le_bytes(e.payload[..8].try_into().unwrap());
            assert_eq!(v, expect, "in order, none missing");
            expect += 1;
            count += 1;
            sum = sum.wrapping_add(v);
        }) {
            Ok(_) => {}
            Err(Error::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((count, sum), (n, n * (n - 1) / 2));
    drop(m);
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}

const HOLDER_ENV: &str = "RINGBUS_TEST_HOLD_DIR";

#[test]
fn holder_child_entry() {
    // Only a child started by the test below does anything here: it opens the directory and
    // holds it until its stdin closes.
    if let Ok(dir) = std::env::var(HOLDER_ENV) {
        let _bus = Bus::open(&dir).expect("the child opens the directory");
        println!("holding");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        std::process::exit(0);
    }
}

#[test]
fn a_second_process_cannot_open_a_directory_in_use() {
    use std::io::{BufRead, Write};
    let dir = temp_dir("process-lock");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["holder_child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(HOLDER_ENV, &dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("holding") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the child did not open the directory");
    }
    match Bus::open(&dir) {
        Err(e @ Error::Locked { .. }) => eprintln!("as expected: {e}"),
        other => panic!("{other:?}"),
    }
    child.stdin.take().unwrap().write_all(b"done\n").unwrap();
    child.wait().unwrap();
    drop(Bus::open(&dir).expect("free once the child exited"));
    std::fs::remove_dir_all(&dir).unwrap();
}
