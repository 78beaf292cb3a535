//! Writes `core/tests/fixtures/v1/`, the version-1 data directory that `format_v1_fixture.rs`
//! reads back: `cargo run -p ringbus --example write_v1_fixture -- <dir>`. Run it only when the
//! format version changes (then commit a `v2/` beside `v1/`, never over it).

#[path = "../tests/fixtures/v1_contents.rs"]
mod v1_contents;

use std::time::Duration;

use ringbus::{Bus, Record, Start};
use v1_contents::{fixture_config, fixture_events, FixtureEvent, COMMITTED_AFTER};

fn main() {
    let dir = std::env::args().nth(1).expect("usage: write_v1_fixture <new directory>");
    assert!(!std::path::Path::new(&dir).exists(), "{dir} exists: give a new directory");
    let bus = Bus::open(&dir).expect("open the new directory");
    let topic = bus.create_topic("readings", fixture_config()).expect("create the topic");
    let mut publisher = topic.publisher().expect("a publisher");
    for FixtureEvent { partition, timestamp, key, payload, producer } in fixture_events() {
        let mut record = Record::new(&payload).partition(partition).timestamp(timestamp);
        if let Some(key) = &key {
            record = record.key(key);
        }
        if let Some(p) = producer {
            record = record.producer(p.producer, p.sequence);
        }
        publisher.publish(record).expect("publish");
    }
    // Joined after publishing (a group gates the small ring): it reads from the segments.
    let group = topic.group("counter", Start::Earliest).expect("the group");
    let mut member = group.join();
    for _ in 0..COMMITTED_AFTER {
        member.poll(Some(Duration::from_secs(5))).expect("poll").expect("an event");
    }
    member.commit().expect("commit");
    drop(member);
    drop(publisher);
    bus.close();
    println!("wrote {dir}");
}
