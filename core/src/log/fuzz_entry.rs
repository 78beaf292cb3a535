//! What the fuzz targets call (re-exported as `ringbus::fuzzing`).
#![deny(unsafe_code)]

use std::path::Path;

use super::conf::write_topic_conf;
use super::format::{decode_frame, segment_name, Frame, SegmentHeader, SEGMENT_HEADER_LEN};
use super::recovery::{walk, MAX_OFFSET};

/// Decodes `bytes` as a segment file: the header, then frames from its first offset (or from
/// offset 0 when the header is invalid) until one does not decode. Returns the events found.
pub fn decode_segment_bytes(bytes: &[u8]) -> usize {
    let (first, body) = match SegmentHeader::decode(bytes) {
        Ok(h) if h.first_offset < MAX_OFFSET => (h.first_offset & !7, &bytes[SEGMENT_HEADER_LEN as usize..]),
        Ok(_) => (0, &bytes[SEGMENT_HEADER_LEN as usize..]),
        Err(_) => (0, bytes),
    };
    let max_frame = 1 << 20;
    let end = walk(body, first, max_frame).end;
    let mut events = 0;
    let mut at = 0usize;
    while (at as u64) < end - first {
        match decode_frame(&body[at..], first + at as u64, max_frame) {
            Ok(f @ Frame::Event { .. }) => {
                events += 1;
                at += f.span();
            }
            Ok(f) => at += f.span(),
            Err(_) => break,
        }
    }
    let _ = super::timeindex::build(body, first, end, max_frame);
    events
}

/// Writes `bytes` as the only segment of a one-partition persisted topic in `dir` (which must
/// not exist), opens it, and reads every event it holds. Returns the events read, or the
/// error opening or reading gave. It panics only on a bug: a panic inside ringbus, or a reader
/// of the closed topic that waits instead of reaching the end.
pub fn recover_segment_file(dir: &Path, bytes: &[u8]) -> Result<usize, crate::Error> {
    use crate::{Bus, Durability, Start, SubscribeOptions, TopicConfig};
    let partition = dir.join("t").join("0");
    std::fs::create_dir_all(&partition).map_err(|e| crate::Error::io("fuzz set-up", &e))?;
    let config = TopicConfig::new().capacity(64 << 10).max_payload(4096).durability(Durability::Sync);
    write_topic_conf(&dir.join("t"), &config)?;
    std::fs::write(partition.join(segment_name(0)), bytes).map_err(|e| crate::Error::io("fuzz set-up", &e))?;
    let bus = Bus::open(dir)?;
    let topic = bus.topic("t").expect("restored");
    topic.close();
    let mut sub = topic.subscribe(SubscribeOptions::new().start(Start::Earliest))?;
    let mut n = 0;
    loop {
        match sub.poll(Some(std::time::Duration::from_secs(10))) {
            Ok(Some(_)) => n += 1,
            // The topic is closed: its reader must reach the end, never wait. A hang is a bug.
            Ok(None) => panic!("a subscription of a closed topic waited 10 s without an event or the end"),
            Err(crate::Error::Closed) => return Ok(n),
            Err(e) => return Err(e),
        }
    }
}

/// Runs the operations `bytes` encodes against a persisted one-partition topic in `dir` (which
/// must not exist) and against a simple model (the list of published payloads, a subscription's
/// and a durable group's read and committed positions), panicking on any difference. Each byte
/// is an operation: publish (a payload whose length and content come from the byte), poll the
/// subscription, poll the group member, commit the group, close and reopen the directory.
pub fn run_ops(dir: &Path, bytes: &[u8]) {
    use crate::{Bus, Durability, Record, Start, SubscribeOptions, TopicConfig};
    use std::time::Duration;
    // Precise timestamps: a `Coarse` topic's publisher starts the clock's ticker thread, which
    // exits on its own a moment after the last publisher is dropped; a leak check that runs
    // while it exits (libFuzzer's, after an input) takes its thread-local bookkeeping for a
    // leak. Every other thread here is joined before the input ends.
    let config = TopicConfig::new()
        .capacity(4096)
        .max_payload(512)
        .max_key(0)
        .segment_bytes(8192)
        .timestamps(crate::TimestampSource::Precise)
        .durability(Durability::Async { max_delay: Duration::from_secs(1) });
    let payload = |i: usize, b: u8| -> Vec<u8> {
        let mut v = (i as u32).to_le_bytes().to_vec();
        v.extend(std::iter::repeat(b).take((b as usize * 7) % 300));
        v
    };
    let mut published: Vec<Vec<u8>> = Vec::new();
    let mut offsets: Vec<u64> = Vec::new();
    let (mut sub_read, mut group_read, mut group_committed) = (0usize, 0usize, 0usize);
    let mut bus = Some(Bus::open(dir).expect("open"));
    let mut topic = Some(bus.as_ref().unwrap().create_topic("t", config.clone()).expect("create"));
    let mut sub = Some(topic.as_ref().unwrap().subscribe(SubscribeOptions::new().start(Start::Earliest)).expect("sub"));
    let mut member = Some(topic.as_ref().unwrap().group("g", Start::Committed).expect("group").join());
    let mut publisher = Some(topic.as_ref().unwrap().publisher().expect("publisher"));
    for &op in bytes.iter().take(400) {
        match op % 8 {
            0..=3 => {
                let p = payload(published.len(), op);
                let r = publisher.as_mut().unwrap().try_publish(Record::new(&p));
                match r {
                    Ok(receipt) => {
                        offsets.push(receipt.offset);
                        published.push(p);
                    }
                    // A full ring (the subscription and the group hold it) is an ordinary outcome.
                    Err(crate::TryPublishError::Full(_)) => {}
                    Err(e) => panic!("publish: {e}"),
                }
            }
            4 => match sub.as_mut().unwrap().try_poll().expect("poll") {
                Some(e) => {
                    assert_eq!(e.payload, &published[sub_read][..], "subscription event {sub_read}");
                    assert_eq!(e.offset, offsets[sub_read]);
                    sub_read += 1;
                }
                None => assert_eq!(sub_read, published.len(), "the subscription missed an event"),
            },
            5 => match member.as_mut().unwrap().try_poll().expect("member poll") {
                Some(e) => {
                    assert_eq!(e.payload, &published[group_read][..], "group event {group_read}");
                    group_read += 1;
                }
                None => assert_eq!(group_read, published.len(), "the group missed an event"),
            },
            6 => {
                member.as_mut().unwrap().commit().expect("commit");
                group_committed = group_read;
            }
            _ => {
                drop(publisher.take());
                drop(member.take());
                drop(sub.take());
                drop(topic.take());
                drop(bus.take());
                let b = Bus::open(dir).expect("reopen");
                let t = b.topic("t").expect("restored");
                let start = offsets.get(sub_read).map_or(Start::Latest, |&o| Start::Offset(o));
                sub = Some(t.subscribe(SubscribeOptions::new().start(start)).expect("resubscribe"));
                member = Some(t.group("g", Start::Committed).expect("group").join());
                group_read = group_committed;
                publisher = Some(t.publisher().expect("publisher"));
                topic = Some(t);
                bus = Some(b);
            }
        }
    }
}
