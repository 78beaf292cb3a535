//! A follower reads a data directory another bus has open: every start, rotation, retention,
//! the durable-only view, named resumption, topics that appear later, memory-only topics.
//! (The owner is a bus in this process here; `follower_processes.rs` uses real processes.)

mod common;

use std::time::Duration;

use common::temp_dir;
use ringbus::{
    Bus, Durability, Error, FollowOptions, Follower, Record, Start, SubscribeOptions, TopicConfig, Visibility,
};

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

fn config(durability: Durability) -> TopicConfig {
    TopicConfig::new().partitions(2).capacity(1 << 16).max_payload(1024).durability(durability)
}

fn payload(i: u64) -> Vec<u8> {
    format!("event-{i:06}-{}", "x".repeat((i % 50) as usize)).into_bytes()
}

/// Reads `n` events with `poll`, checking each partition's order and the payloads.
fn read(sub: &mut ringbus::FollowerSubscription, n: usize) -> Vec<(u32, u64, Vec<u8>)> {
    let mut got = Vec::new();
    while got.len() < n {
        let e = sub.poll(WAIT).expect("poll").unwrap_or_else(|| panic!("stalled after {} of {n}", got.len()));
        got.push((e.partition, e.offset, e.payload.to_vec()));
    }
    got
}

#[test]
fn follower_sees_every_event_in_order_across_rotation() {
    let dir = temp_dir("follow-live");
    let bus = Bus::open(&dir).unwrap();
    let topic = bus
        .create_topic(
            "readings",
            config(Durability::Async { max_delay: Duration::from_millis(5) }).segment_bytes(80_000),
        )
        .unwrap();
    let follower = Follower::open(&dir).unwrap();
    assert_eq!(follower.topic_names().unwrap(), ["readings"]);
    assert_eq!(follower.owner().map(|o| o.pid), Some(std::process::id()));
    let mut from_start = follower.subscribe("readings", FollowOptions::new().start(Start::Earliest)).unwrap();
    let mut p = topic.publisher().unwrap();
    for i in 0..3000u64 {
        p.publish(Record::new(&payload(i)).partition((i % 2) as u32)).unwrap();
    }
    let got = read(&mut from_start, 3000);
    for part in 0..2u32 {
        let mine: Vec<_> = got.iter().filter(|g| g.0 == part).collect();
        assert_eq!(mine.len(), 1500);
        assert!(mine.windows(2).all(|w| w[0].1 < w[1].1), "partition {part} in order");
        for (k, g) in mine.iter().enumerate() {
            assert_eq!(g.2, payload(2 * k as u64 + u64::from(part)));
        }
    }
    assert!(topic.stats().partitions[0].log.as_ref().unwrap().segments > 1, "the test rotated segments");
    // Latest: only what comes after.
    let mut latest = follower.subscribe("readings", FollowOptions::new()).unwrap();
    assert!(latest.try_poll().unwrap().is_none());
    p.publish(Record::new(b"after").partition(1)).unwrap();
    assert_eq!(read(&mut latest, 1)[0].2, b"after");
    assert_eq!(read(&mut from_start, 1)[0].2, b"after");
    // Offset: from an event's offset, and refusals like a bus's.
    let (part, offset, ref body) = got[1000];
    let mut at =
        follower.subscribe("readings", FollowOptions::new().start(Start::Offset(offset)).partitions([part])).unwrap();
    assert_eq!(&read(&mut at, 1)[0].2, body);
    let inside =
        follower.subscribe("readings", FollowOptions::new().start(Start::Offset(offset + 8)).partitions([part]));
    assert!(matches!(inside, Err(Error::NotAnEventOffset { .. })), "{inside:?}");
    let beyond = follower.subscribe("readings", FollowOptions::new().start(Start::Offset(1 << 40)).partitions([part]));
    assert!(matches!(beyond, Err(Error::OffsetBeyondEnd { .. })), "{beyond:?}");
    let two = follower.subscribe("readings", FollowOptions::new().start(Start::Offset(0)));
    assert!(matches!(two, Err(Error::InvalidConfig { .. })), "{two:?}");
    let empty = follower.subscribe("readings", FollowOptions::new().partitions(Vec::<u32>::new()));
    assert!(matches!(empty, Err(Error::InvalidConfig { field: "partitions", .. })), "{empty:?}");
    // A partition named twice is read once.
    let mut twice =
        follower.subscribe("readings", FollowOptions::new().start(Start::Earliest).partitions([1, 1])).unwrap();
    assert_eq!(twice.positions().len(), 1);
    assert_eq!(read(&mut twice, 1501).iter().filter(|g| g.0 == 1).count(), 1501);
    assert!(twice.try_poll().unwrap().is_none(), "no event came twice");
    let bad = follower.subscribe("readings", FollowOptions::new().partitions([7]));
    assert!(matches!(bad, Err(Error::NoSuchPartition { partition: 7, .. })), "{bad:?}");
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn timestamp_start_matches_the_owners_own_seek() {
    let dir = temp_dir("follow-ts");
    let bus = Bus::open(&dir).unwrap();
    let topic = bus.create_topic("t", config(Durability::Sync).partitions(1).segment_bytes(1 << 17)).unwrap();
    let mut p = topic.publisher().unwrap();
    for i in 0..4000u64 {
        p.publish(Record::new(&payload(i)).timestamp(1_000_000 + i * 10)).unwrap();
    }
    let follower = Follower::open(&dir).unwrap();
    for t in [0, 1_000_000, 1_012_345, 1_039_990, 2_000_000] {
        let mut owner_sub = topic.subscribe(SubscribeOptions::new().start(Start::Timestamp(t))).unwrap();
        let expect = owner_sub.try_poll().unwrap().map(|e| e.offset);
        let mut sub = follower.subscribe("t", FollowOptions::new().start(Start::Timestamp(t))).unwrap();
        let got = sub.try_poll().unwrap().map(|e| e.offset);
        assert_eq!(got, expect, "seek to {t}");
    }
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn retention_reports_offset_trimmed_with_the_earliest_kept() {
    let dir = temp_dir("follow-trim");
    let bus = Bus::open(&dir).unwrap();
    let cfg = config(Durability::Sync).partitions(1).segment_bytes(1 << 17).retention_bytes(1 << 18);
    let topic = bus.create_topic("t", cfg).unwrap();
    let follower = Follower::open(&dir).unwrap();
    let mut slow = follower.subscribe("t", FollowOptions::new().start(Start::Earliest)).unwrap();
    assert!(slow.try_poll().unwrap().is_none());
    let mut p = topic.publisher().unwrap();
    for i in 0..20_000u64 {
        p.publish(Record::new(&payload(i))).unwrap();
    }
    let earliest = topic.stats().partitions[0].log.as_ref().unwrap().earliest_offset;
    assert!(earliest > 0, "retention deleted segments");
    // The segment it has open stays readable (deleting an open file keeps its bytes); past
    // it, what retention deleted is reported, with the earliest offset kept.
    let mut expected = 0;
    loop {
        match slow.poll(WAIT) {
            Ok(Some(e)) => {
                // Padding (where the ring wrapped) may lie between events.
                assert!(e.offset >= expected && e.offset < expected + 1024, "no gap before retention's");
                expected = e.next_offset();
            }
            Err(Error::OffsetTrimmed { earliest: e, offset, .. }) => {
                assert_eq!(e, earliest);
                assert!(offset >= expected && offset < earliest, "{offset} reported, {expected} read to");
                break;
            }
            other => panic!("expected OffsetTrimmed, got {other:?}"),
        }
    }
    let next = slow.poll(WAIT).unwrap().expect("goes on from the earliest kept");
    assert_eq!(next.offset, earliest);
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn durable_visibility_shows_only_fsynced_events() {
    let dir = temp_dir("follow-durable");
    let bus = Bus::open(&dir).unwrap();
    let delay = Duration::from_millis(400);
    let topic = bus.create_topic("t", config(Durability::Async { max_delay: delay }).partitions(1)).unwrap();
    let follower = Follower::open(&dir).unwrap();
    let mut written = follower.subscribe("t", FollowOptions::new().start(Start::Earliest)).unwrap();
    let mut durable =
        follower.subscribe("t", FollowOptions::new().start(Start::Earliest).visibility(Visibility::Durable)).unwrap();
    let mut p = topic.publisher().unwrap();
    let t0 = std::time::Instant::now();
    p.publish(Record::new(b"one")).unwrap();
    assert_eq!(read(&mut written, 1)[0].2, b"one");
    let durable_log = topic.stats().partitions[0].log.as_ref().unwrap().durable_offset;
    if durable_log == 0 && t0.elapsed() < delay / 2 {
        // Not fsynced yet: the durable view must not show it.
        assert!(durable.try_poll().unwrap().is_none(), "a durable-only follower saw an unsynced event");
    }
    let e = durable.poll(WAIT).unwrap().expect("shown once fsynced");
    assert_eq!(e.payload, b"one");
    assert!(topic.stats().partitions[0].log.as_ref().unwrap().durable_offset >= 8, "it was fsynced");
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn named_followers_resume_where_they_committed() {
    let dir = temp_dir("follow-named");
    let bus = Bus::open(&dir).unwrap();
    let topic = bus.create_topic("t", config(Durability::Sync)).unwrap();
    let mut p = topic.publisher().unwrap();
    for i in 0..100u64 {
        p.publish(Record::new(&payload(i)).partition((i % 2) as u32)).unwrap();
    }
    let follower = Follower::open(&dir).unwrap();
    let named = || FollowOptions::new().start(Start::Committed).name("audit");
    let mut sub = follower.subscribe("t", named()).unwrap();
    let first = read(&mut sub, 60);
    let again = follower.subscribe("t", named());
    assert!(matches!(again, Err(Error::Locked { .. })), "one process per name: {again:?}");
    sub.commit().unwrap();
    drop(sub);
    let mut sub = follower.subscribe("t", named()).unwrap();
    let rest = read(&mut sub, 40);
    assert!(sub.try_poll().unwrap().is_none());
    let mut all: Vec<_> = first.iter().chain(&rest).map(|g| g.2.clone()).collect();
    all.sort();
    let mut expect: Vec<_> = (0..100).map(payload).collect();
    expect.sort();
    assert_eq!(all, expect, "every event once across the resume");
    // The owner's own groups are untouched, and it reopens with the follower files present.
    drop(sub);
    drop(bus);
    assert!(dir.join("t/followers/audit.offsets").is_file());
    let bus = Bus::open(&dir).unwrap();
    assert_eq!(bus.topic("t").unwrap().stats().partitions.len(), 2);
    let anonymous = Follower::open(&dir).unwrap().subscribe("t", FollowOptions::new().start(Start::Committed));
    assert!(matches!(anonymous, Err(Error::InvalidConfig { .. })), "{anonymous:?}");
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_follower_waits_for_a_directory_and_topic_that_do_not_exist_yet() {
    let dir = temp_dir("follow-early");
    let follower = Follower::open(&dir).unwrap();
    assert!(follower.topic_names().unwrap().is_empty());
    assert!(follower.owner().is_none());
    let mut sub = follower.subscribe("late", FollowOptions::new()).unwrap();
    assert!(sub.try_poll().unwrap().is_none());
    let owner = {
        let dir = dir.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            let bus = Bus::open(&dir).unwrap();
            let topic = bus.create_topic("late", config(Durability::Sync)).unwrap();
            let mut p = topic.publisher().unwrap();
            for i in 0..10u64 {
                p.publish(Record::new(&payload(i)).partition(0)).unwrap();
            }
            bus
        })
    };
    // Start::Latest on a topic that appeared later reads it from its first event.
    let got = read(&mut sub, 10);
    assert_eq!(got.iter().map(|g| g.2.clone()).collect::<Vec<_>>(), (0..10).map(payload).collect::<Vec<_>>());
    drop(owner.join().unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn memory_only_topics_are_refused_with_a_clear_error() {
    let dir = temp_dir("follow-memory");
    let bus = Bus::open(&dir).unwrap();
    bus.create_topic("scratch", TopicConfig::new().capacity(1 << 16).max_payload(1024)).unwrap();
    let follower = Follower::open(&dir).unwrap();
    assert_eq!(follower.owner().unwrap().memory_topics, ["scratch"]);
    match follower.subscribe("scratch", FollowOptions::new()) {
        Err(e @ Error::NotPersisted(_)) => assert!(e.to_string().contains("memory only"), "{e}"),
        other => panic!("expected NotPersisted, got {other:?}"),
    }
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_follower_follows_no_link_out_of_the_directory() {
    let dir = temp_dir("follow-links");
    let outside = temp_dir("follow-links-outside");
    {
        let bus = Bus::open(&outside).unwrap();
        let t = bus.create_topic("t", config(Durability::Sync).partitions(1)).unwrap();
        t.publisher().unwrap().publish(Record::new(b"secret")).unwrap();
    }
    {
        let bus = Bus::open(&dir).unwrap();
        bus.create_topic("t", config(Durability::Sync).partitions(1)).unwrap();
    }
    // Partition 0 replaced by a link to another directory's partition.
    std::fs::remove_dir_all(dir.join("t/0")).unwrap();
    std::os::unix::fs::symlink(outside.join("t/0"), dir.join("t/0")).unwrap();
    let follower = Follower::open(&dir).unwrap();
    let mut sub = follower.subscribe("t", FollowOptions::new().start(Start::Earliest)).unwrap();
    match sub.poll(Some(Duration::from_millis(200))) {
        Err(Error::Io { kind: std::io::ErrorKind::PermissionDenied, context, .. }) => {
            assert!(context.contains("t/0"), "{context}")
        }
        other => panic!("a link was followed: {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&outside).unwrap();
}
