//! Byte surgery on segment files: truncations at every position of the last frames, flipped
//! bytes in headers and payloads, zeroed tails, a damaged segment header, a crash left-over
//! from segment creation. Each must open as FORMAT.md promises: a torn tail past the durable
//! mark is cut off (and nothing half-written is delivered); damage before the durable mark, or
//! followed by valid frames, refuses to open with an error naming the segment and offset.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ringbus::{Bus, Durability, Error, Record, Start, SubscribeOptions, TopicConfig};

const EVENTS: usize = 120;

fn payload(i: usize) -> Vec<u8> {
    let mut v = format!("event-{i}:").into_bytes();
    v.extend((0..(i * 7) % 90).map(|j| (i + j) as u8));
    v
}

fn config() -> TopicConfig {
    TopicConfig::new().capacity(64 << 10).max_payload(1024).segment_bytes(1 << 20).durability(Durability::Sync)
}

/// A directory with one topic of `EVENTS` events, closed cleanly: (dir, segment path, each
/// event's (offset, frame span)).
fn setup(name: &str) -> (PathBuf, PathBuf, Vec<(u64, u64)>) {
    let dir = std::env::temp_dir().join(format!("ringbus-damage-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bus = Bus::open(&dir).unwrap();
    let t = bus.create_topic("t", config()).unwrap();
    let mut p = t.publisher().unwrap();
    let mut frames = Vec::new();
    for i in 0..EVENTS {
        let r = p.publish(Record::new(&payload(i))).unwrap();
        let span = ((24 + payload(i).len() + 7) & !7) as u64;
        frames.push((r.offset, span));
    }
    drop(p);
    bus.close();
    drop(bus);
    let segment = dir.join("t/0/00000000000000000000.seg");
    assert!(segment.is_file());
    (dir, segment, frames)
}

fn set_durable_mark(segment: &Path, mark: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(segment).unwrap();
    f.write_all_at(&mark.to_le_bytes(), 40).unwrap();
}

fn durable_mark(segment: &Path) -> u64 {
    let b = std::fs::read(segment).unwrap();
    u64::from_le_bytes(b[40..48].try_into().unwrap())
}

/// Reopens and reads every event; returns how many there were (each checked byte for byte).
fn reopen_and_count(dir: &Path) -> Result<usize, Error> {
    let bus = Bus::open(dir)?;
    let events = common::try_read_all(&bus.topic("t").expect("topic"))?;
    for (n, e) in events.iter().enumerate() {
        assert_eq!(e.payload, payload(n), "event {n} differs");
    }
    Ok(events.len())
}

fn expect_corrupt(result: Result<usize, Error>, segment: &Path, position: u64, what: &str) {
    match result {
        Err(Error::CorruptLog { segment: s, position: p, .. }) => {
            assert_eq!(Path::new(&s), segment, "{what}: wrong segment named");
            assert_eq!(p, position, "{what}: wrong position named");
        }
        other => panic!("{what}: expected CorruptLog at {position}, got {other:?}"),
    }
}

#[test]
fn a_clean_close_marks_everything_durable() {
    let (dir, segment, frames) = setup("clean");
    let (last, span) = *frames.last().unwrap();
    assert_eq!(durable_mark(&segment), last + span);
    assert_eq!(reopen_and_count(&dir).unwrap(), EVENTS);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncation_at_every_position_of_the_last_frames() {
    let (dir, segment, frames) = setup("truncate");
    let pristine = std::fs::read(&segment).unwrap();
    let first_cut = frames[EVENTS - 4].0;
    let (last, span) = frames[EVENTS - 1];
    let end = last + span;
    for cut in first_cut..=end {
        // Torn tail: the last frames were not known durable.
        std::fs::write(&segment, &pristine).unwrap();
        set_durable_mark(&segment, first_cut);
        std::fs::OpenOptions::new().write(true).open(&segment).unwrap().set_len(64 + cut).unwrap();
        let whole = frames.iter().filter(|(o, s)| o + s <= cut).count();
        assert_eq!(reopen_and_count(&dir).unwrap(), whole, "cut at {cut}: the whole frames before it");
        // The same cut below the durable mark is lost acknowledged data: refuse.
        if cut < end {
            std::fs::write(&segment, &pristine).unwrap();
            std::fs::OpenOptions::new().write(true).open(&segment).unwrap().set_len(64 + cut).unwrap();
            let at = frames.iter().map(|(o, s)| o + s).filter(|&e| e <= cut).max().unwrap();
            expect_corrupt(reopen_and_count(&dir), &segment, at, &format!("cut at {cut} under the mark"));
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn flipped_bytes_in_headers_and_payloads() {
    let (dir, segment, frames) = setup("flip");
    let pristine = std::fs::read(&segment).unwrap();
    for k in EVENTS - 3..EVENTS {
        let (offset, _) = frames[k];
        let len = 24 + payload(k).len() as u64;
        for at in [0, 3, 4, 8, 16, 20, 24, len - 1] {
            let position = offset + at;
            let mut damaged = pristine.clone();
            damaged[(64 + position) as usize] ^= 0x40;
            // Past the durable mark it is a torn tail, cut from the damaged frame on, the whole
            // frames after it included: a power cut persists unsynced writes out of order, so
            // they may follow a lost page, and none of them was acknowledged.
            std::fs::write(&segment, &damaged).unwrap();
            set_durable_mark(&segment, frames[EVENTS - 3].0);
            assert_eq!(reopen_and_count(&dir).unwrap(), k, "event {k} byte {at}, mark below");
            // Before the durable mark: always refused.
            std::fs::write(&segment, &damaged).unwrap();
            expect_corrupt(reopen_and_count(&dir), &segment, offset, &format!("event {k} byte {at}, mark above"));
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_zeroed_tail_is_cut_and_new_events_follow() {
    let (dir, segment, frames) = setup("zero");
    let mut bytes = std::fs::read(&segment).unwrap();
    let from = frames[EVENTS - 5].0;
    for b in &mut bytes[(64 + from) as usize..] {
        *b = 0;
    }
    std::fs::write(&segment, &bytes).unwrap();
    set_durable_mark(&segment, from);
    assert_eq!(reopen_and_count(&dir).unwrap(), EVENTS - 5);
    // Appending continues where the log now ends.
    {
        let bus = Bus::open(&dir).unwrap();
        let t = bus.topic("t").unwrap();
        let r = t.publisher().unwrap().publish(Record::new(&payload(EVENTS - 5))).unwrap();
        assert_eq!(r.offset, from);
        assert_eq!(t.stats().partitions[0].log.as_ref().unwrap().truncated_on_open, 0);
    }
    assert_eq!(reopen_and_count(&dir).unwrap(), EVENTS - 4);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damaged_segment_header_and_creation_leftovers() {
    let (dir, segment, _) = setup("header");
    let pristine = std::fs::read(&segment).unwrap();
    for at in [0usize, 9, 17, 33] {
        let mut damaged = pristine.clone();
        damaged[at] ^= 1;
        std::fs::write(&segment, &damaged).unwrap();
        expect_corrupt(reopen_and_count(&dir), &segment, 0, &format!("header byte {at}"));
    }
    std::fs::write(&segment, &pristine).unwrap();
    // A crash while creating the next segment leaves a temporary file: it is removed.
    let leftover = segment.with_file_name("00000000000000099999.seg.tmp");
    std::fs::write(&leftover, b"half made").unwrap();
    assert_eq!(reopen_and_count(&dir).unwrap(), EVENTS);
    assert!(!leftover.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_crash_in_the_middle_of_retention_leaves_a_directory_that_opens() {
    // Three segments; retention had deleted the oldest segment file but not its index when the
    // process died.
    let dir = common::temp_dir("damage-retention");
    let config =
        TopicConfig::new().capacity(64 << 10).max_payload(1024).segment_bytes(128 << 10).durability(Durability::Sync);
    {
        let bus = Bus::open(&dir).unwrap();
        let t = bus.create_topic("t", config).unwrap();
        let mut p = t.publisher().unwrap();
        for i in 0..6_000 {
            p.publish(Record::new(&payload(i % EVENTS)).timestamp(i as u64)).unwrap();
        }
        assert!(t.stats().partitions[0].log.as_ref().unwrap().segments >= 3);
    }
    let part = dir.join("t/0");
    let mut segs: Vec<_> = std::fs::read_dir(&part)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".seg"))
        .collect();
    segs.sort();
    std::fs::remove_file(part.join(&segs[0])).unwrap();
    let second: u64 = segs[1].trim_end_matches(".seg").parse().unwrap();
    let bus = Bus::open(&dir).expect("opens");
    let t = bus.topic("t").unwrap();
    let log = t.stats().partitions[0].log.clone().unwrap();
    assert_eq!(log.earliest_offset, second);
    assert!(!part.join(segs[0].replace(".seg", ".tix")).exists(), "the orphaned index is gone");
    t.close();
    let mut sub = t.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
    let first = sub.poll(Some(Duration::from_secs(5))).unwrap().unwrap();
    assert_eq!(first.offset, second);
    drop(sub);
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}
