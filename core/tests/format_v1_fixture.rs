//! A data directory written by a version-1 build (`core/tests/fixtures/v1/`, made by
//! `cargo run -p ringbus --example write_v1_fixture`) still opens and reads back exactly: every
//! event with its offset, timestamp, key and producer sequence, the topic's configuration from
//! topic.conf, and the durable group's commit. A change that moves a byte of FORMAT.md's layout
//! fails here. The fixture is copied first, since opening a directory takes its lock and may
//! recover it.

mod common;
#[path = "fixtures/v1_contents.rs"]
mod v1_contents;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ringbus::{Bus, Start};
use v1_contents::{fixture_config, fixture_events, FixtureEvent, COMMITTED_AFTER};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_v1_data_directory_opens_and_reads_back_exactly() {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1");
    let files: Vec<String> = std::fs::read_dir(fixture.join("readings/0"))
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let count = |ext: &str| files.iter().filter(|f| f.ends_with(ext)).count();
    assert!(
        count(".seg") > 1 && count(".tix") > 1,
        "the fixture must hold several segments and time indexes: {files:?}"
    );
    let dir = std::env::temp_dir().join(format!("ringbus-fixture-v1-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&fixture, &dir);
    let bus = Bus::open(&dir).unwrap();
    let topic = bus.topic("readings").expect("the fixture's topic");
    assert_eq!(topic.config(), &fixture_config());
    let committed = topic.committed_groups().unwrap();
    assert_eq!(committed.len(), 1, "{committed:?}");
    assert_eq!(committed[0].0, "counter");
    let events = common::read_all(&topic);
    let expected = fixture_events();
    assert_eq!(events.len(), expected.len());
    let mut by_partition: [Vec<_>; 2] = [Vec::new(), Vec::new()];
    for e in &events {
        by_partition[e.partition as usize].push(e);
    }
    let mut next = [0usize; 2];
    for FixtureEvent { partition, timestamp, key, payload, producer } in expected {
        let e = by_partition[partition as usize][next[partition as usize]];
        next[partition as usize] += 1;
        assert_eq!((e.timestamp, &e.key, &e.payload, e.producer), (timestamp, &key, &payload, producer));
    }
    // Offsets are byte positions: each partition's frames follow each other from 0, and the group
    // committed at an event boundary of each partition.
    for (p, events) in by_partition.iter().enumerate() {
        assert_eq!(events[0].offset, 0);
        for pair in events.windows(2) {
            // Padding (where the ring's buffer ended) may lie between two events.
            let gap = pair[1].offset.checked_sub(pair[0].next_offset());
            assert!(gap.is_some_and(|g| g < 4096), "partition {p}: {} then {}", pair[0].offset, pair[1].offset);
        }
        let commit = committed[0].1[p];
        assert!(
            events.iter().any(|e| e.offset == commit || e.next_offset() == commit),
            "partition {p}: commit {commit} is an event boundary"
        );
    }
    let handed_out: usize =
        (0..2).map(|p| by_partition[p].iter().filter(|e| e.offset < committed[0].1[p]).count()).sum();
    assert_eq!(handed_out, COMMITTED_AFTER, "the commit covers what the generator's member handled");
    // A timestamp seek finds the same event through the time index.
    let mut sub = topic
        .subscribe(
            ringbus::SubscribeOptions::new()
                .start(Start::Timestamp(1_700_000_000_000_000_000 + 100 * 1_000_000))
                .partitions([0]),
        )
        .unwrap();
    let first = sub.poll(Some(Duration::from_secs(5))).unwrap().expect("an event at or after the timestamp");
    assert_eq!(first.payload, &fixture_events()[100].payload[..]);
    drop(sub);
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}
