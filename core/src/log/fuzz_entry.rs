//! What the fuzz targets call (re-exported as `ringbus::fuzzing`).
#![deny(unsafe_code)]

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// Paths of recovery and the log the recovery target reached: torn tails cut, time indexes
/// rebuilt from their segment, segments deleted by retention (counted in every build: the
/// paths are rare, and a relaxed add on them costs nothing measurable).
pub static TORN_TAILS_CUT: AtomicU64 = AtomicU64::new(0);
/// See [`TORN_TAILS_CUT`].
pub static INDEXES_REBUILT: AtomicU64 = AtomicU64::new(0);
/// See [`TORN_TAILS_CUT`].
pub static SEGMENTS_RETIRED: AtomicU64 = AtomicU64::new(0);

/// See [`TORN_TAILS_CUT`]: segments made from a spare the fsync thread prepared.
pub static SPARES_USED: AtomicU64 = AtomicU64::new(0);

/// Counts one pass over a rare path (see [`TORN_TAILS_CUT`]).
pub(crate) fn reached(path: &AtomicU64) {
    path.fetch_add(1, Ordering::Relaxed);
}

/// Writes `bytes` as the segment files of a one-partition persisted topic in `dir` (which must
/// not exist), opens it, and reads every event it holds. The first byte says how many
/// segments the rest is split into (1 to 4, evenly; each is named after the first offset its
/// header claims, or a multiple of 8 KiB when the header does not decode) and whether the
/// topic keeps only 4 KiB (retention by bytes). Returns the events read, or the error opening
/// or reading gave. It panics only on a bug: a panic inside ringbus, or a reader of the closed
/// topic that waits instead of reaching the end.
pub fn recover_segment_file(dir: &Path, bytes: &[u8]) -> Result<usize, crate::Error> {
    use crate::{Bus, Start, SubscribeOptions};
    write_fuzz_topic(dir, bytes)?;
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

/// Writes topic `t` with one partition into `dir` from fuzz input `bytes` (see
/// [`recover_segment_file`]): `topic.conf`, and the segments the input's first byte asks for.
pub(crate) fn write_fuzz_topic(dir: &Path, bytes: &[u8]) -> Result<(), crate::Error> {
    use crate::{Durability, TopicConfig};
    let partition = dir.join("t").join("0");
    std::fs::create_dir_all(&partition).map_err(|e| crate::Error::io("fuzz set-up", &e))?;
    let flags = bytes.first().copied().unwrap_or(0);
    let mut config = TopicConfig::new().capacity(64 << 10).max_payload(4096).durability(Durability::Sync);
    if flags & 4 != 0 {
        config = config.retention_bytes(4096);
    }
    write_topic_conf(&dir.join("t"), &config)?;
    let rest = bytes.get(1..).unwrap_or(&[]);
    let n = 1 + usize::from(flags & 3);
    let chunk = rest.len().div_ceil(n).max(1);
    for (i, segment) in rest.chunks(chunk).enumerate().chain(rest.is_empty().then_some((0, rest))) {
        let first = match SegmentHeader::decode(segment) {
            Ok(h) if h.first_offset < MAX_OFFSET && h.first_offset % 8 == 0 => h.first_offset,
            _ => i as u64 * 8192,
        };
        std::fs::write(partition.join(segment_name(first)), segment)
            .map_err(|e| crate::Error::io("fuzz set-up", &e))?;
    }
    Ok(())
}

/// Runs the operations `bytes` encodes against a persisted one-partition topic in `dir` (which
/// must not exist) and against a simple model (the list of published payloads, a subscription's
/// and a durable group's read and committed positions), panicking on any difference. Each byte
/// is an operation: publish (a payload whose length and content come from the byte), poll the
/// subscription, poll the group member, commit the group, close and reopen the directory.
/// At most 200 operations and 3 reopens count (a reopen costs as much as a hundred other
/// operations; more of them found nothing new and slowed the fuzzer tenfold).
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
    let mut reopens = 0;
    for &op in bytes.iter().take(200) {
        let op = if op % 8 == 7 && reopens == 3 { 6 } else { op };
        reopens += usize::from(op % 8 == 7);
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

/// Drives the power-loss simulator with an input: its first 8 bytes seed the cut's choices,
/// the next 2 pick the change the power fails at, the rest are operations on an `Async` topic
/// with small rotating segments and retention: publish an event whose size comes from the
/// byte, flush (which acknowledges what was published before it as durable), or commit a
/// durable group. After the cut, what survived is written out and opened
/// by a plain bus: it must open, every acknowledged event that retention kept must be there
/// byte-identical, every event must be one that was published (whole), and the group's
/// offsets must lie between its last acknowledged commit and the end of the log. Any
/// difference panics.
#[cfg(feature = "power-loss")]
pub fn power_cut(dir: &Path, bytes: &[u8]) {
    use crate::powerloss::Simulator;
    use crate::{Bus, Durability, Error, Record, Start, SubscribeOptions, TopicConfig};
    let byte = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let seed = u64::from_le_bytes(std::array::from_fn(byte));
    let cut_at = 1 + u64::from(u16::from_le_bytes([byte(8), byte(9)])) % 160;
    let ops = bytes.get(10..).unwrap_or(&[]);
    let payload = |i: usize, b: u8| -> Vec<u8> {
        let mut v = (i as u32).to_le_bytes().to_vec();
        v.extend((0..(b as usize * 3) % 500).map(|k| (k as u8) ^ (i as u8)));
        let sum = crc32c::crc32c(&v);
        v.extend_from_slice(&sum.to_le_bytes());
        v
    };
    let whole = |p: &[u8]| p.len() >= 8 && crc32c::crc32c(&p[..p.len() - 4]).to_le_bytes() == p[p.len() - 4..];
    let _ = std::fs::remove_dir_all(dir);
    let sim = Simulator::attach(dir, seed).expect("attach the simulator");
    sim.cut_at_operation(cut_at);
    let (mut created, mut acked, mut committed) = (false, Vec::new(), 0u64);
    let result = (|| -> Result<(), Error> {
        let bus = Bus::open(dir)?;
        let config = TopicConfig::new()
            .capacity(4096)
            .max_payload(600)
            .max_key(0)
            .segment_bytes(8192)
            .retention_bytes(16384)
            .timestamps(crate::TimestampSource::Precise)
            .durability(Durability::Async { max_delay: std::time::Duration::from_secs(1) });
        let topic = bus.create_topic("t", config)?;
        created = true;
        let group = topic.group("g", Start::Earliest)?;
        let mut member = group.join();
        let mut publisher = topic.publisher()?;
        let mut pending = Vec::new();
        for (i, &op) in ops.iter().take(64).enumerate() {
            // The group holds the ring back: it takes what is there first.
            while member.try_poll()?.is_some() {}
            match op % 8 {
                0..=4 => {
                    let p = payload(i, op);
                    let r = publisher.publish(Record::new(&p))?;
                    pending.push((r.offset, p));
                }
                // A flush acknowledges everything published before it as durable.
                5 | 6 => {
                    topic.flush(None)?;
                    acked.append(&mut pending);
                }
                _ => committed = member.commit()?[0],
            }
        }
        Ok(())
    })();
    if let Err(e) = &result {
        assert!(sim.is_cut(), "failed with the power on: {e}");
    }
    sim.cut();
    assert_eq!(sim.unseen_changes(), Vec::<String>::new(), "changes the simulator did not see");
    let image = dir.with_extension("image");
    let _ = std::fs::remove_dir_all(&image);
    sim.write_image(&image).expect("write the image");
    drop(sim);
    let _ = std::fs::remove_dir_all(dir);
    {
        let bus = Bus::open(&image).unwrap_or_else(|e| panic!("the directory does not open after the cut: {e}"));
        match bus.topic("t") {
            None => assert!(!created, "the topic was created, and is gone after the cut"),
            Some(topic) => {
                let end = topic.stats().partitions[0].next_offset;
                for (name, offsets) in topic.committed_groups().expect("group offsets") {
                    assert!(offsets[0] <= end, "group {name} committed {} past the end {end}", offsets[0]);
                    assert!(
                        offsets[0] >= committed,
                        "commit of {committed} acknowledged, {} after the cut",
                        offsets[0]
                    );
                }
                let mut sub = topic.subscribe(SubscribeOptions::new().start(Start::Earliest)).expect("subscribe");
                topic.close();
                let mut log = std::collections::BTreeMap::new();
                loop {
                    match sub.poll(Some(std::time::Duration::from_secs(10))) {
                        Ok(Some(e)) => {
                            assert!(whole(e.payload), "a torn event was delivered at {}", e.offset);
                            log.insert(e.offset, e.payload.to_vec());
                        }
                        Ok(None) => panic!("reading a closed topic stalled"),
                        Err(Error::Closed) => break,
                        Err(e) => panic!("reading back: {e}"),
                    }
                }
                let earliest = topic.stats().partitions[0].log.as_ref().expect("persisted").earliest_offset;
                for (offset, p) in acked.iter().filter(|(o, _)| *o >= earliest) {
                    assert_eq!(log.get(offset), Some(p), "acknowledged event at {offset} lost");
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&image);
}
