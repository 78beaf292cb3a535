//! Idempotent publish: records carrying a producer id and sequence number are dropped (and
//! counted) when they repeat an accepted one, in memory and across a restart; readers see each
//! event once, with its producer and sequence.

use ringbus::{Bus, Durability, Error, ProducerSequence, Record, TopicConfig};

mod common;

/// (payload, producer fields, offset, next offset) of every event.
fn read_all(t: &ringbus::Topic) -> Vec<(Vec<u8>, Option<ProducerSequence>, u64, u64)> {
    common::read_all(t).into_iter().map(|e| (e.payload.clone(), e.producer, e.offset, e.next_offset())).collect()
}

#[test]
fn retries_in_memory_are_dropped_and_counted() {
    let bus = Bus::new();
    let t = bus.create_topic("t", TopicConfig::new().capacity(1 << 20).max_payload(1024)).unwrap();
    let mut p = t.publisher().unwrap();
    let mut offsets = Vec::new();
    for seq in 0..100u64 {
        let r = p.publish(Record::new(format!("reading {seq}").as_bytes()).producer(7, seq)).unwrap();
        assert!(!r.duplicate);
        offsets.push(r.offset);
    }
    // A retry of the last 50, then new ones.
    for seq in 50..150u64 {
        let r = p.publish(Record::new(format!("reading {seq}").as_bytes()).producer(7, seq)).unwrap();
        if seq < 100 {
            assert!(r.duplicate, "seq {seq}");
            assert_eq!(r.offset, offsets[99], "a duplicate reports the last accepted offset");
        } else {
            assert!(!r.duplicate, "seq {seq}");
        }
    }
    // Batches, mixed with plain records and another producer.
    let batch = [
        Record::new(b"reading 149").producer(7, 149), // duplicate
        Record::new(b"plain"),
        Record::new(b"other 0").producer(8, 0),
    ];
    assert_eq!(p.publish_batch(&batch).unwrap(), 3);
    assert_eq!(t.stats().partitions[0].duplicates, 51);
    let events = read_all(&t);
    assert_eq!(events.len(), 152);
    for (seq, (payload, producer, offset, next)) in events.iter().take(150).enumerate() {
        assert_eq!(payload, format!("reading {seq}").as_bytes());
        assert_eq!(*producer, Some(ProducerSequence { producer: 7, sequence: seq as u64 }));
        assert_eq!(*next, events[seq + 1].2, "next_offset accounts for the producer fields ({offset})");
    }
    assert_eq!(events[150].1, None);
    assert_eq!(events[151].1, Some(ProducerSequence { producer: 8, sequence: 0 }));
    // Claims cannot be idempotent: a clear error.
    assert!(matches!(
        t.publisher().unwrap().claim_record(Record::new(&[]).producer(1, 1), 4, None),
        Err(Error::InvalidConfig { field: "producer", .. }) | Err(Error::Closed)
    ));
}

#[test]
fn retries_after_a_restart_are_dropped() {
    let dir = common::temp_dir("idem");
    let config =
        TopicConfig::new().capacity(64 << 10).max_payload(1024).segment_bytes(128 << 10).durability(Durability::Sync);
    {
        let bus = Bus::open(&dir).unwrap();
        let t = bus.create_topic("t", config).unwrap();
        let mut p = t.publisher().unwrap();
        for seq in 0..1_000u64 {
            for producer in [1, 2] {
                p.publish(Record::new(&seq.to_le_bytes()).producer(producer, seq)).unwrap();
            }
        }
    }
    {
        // The producer restarts and resends from a checkpoint it kept: 900.
        let bus = Bus::open(&dir).unwrap();
        let t = bus.topic("t").unwrap();
        let mut p = t.publisher().unwrap();
        let mut dups = 0;
        for seq in 900..1_100u64 {
            dups += u64::from(p.publish(Record::new(&seq.to_le_bytes()).producer(1, seq)).unwrap().duplicate);
        }
        assert_eq!(dups, 100);
        assert_eq!(t.stats().partitions[0].duplicates, 100);
    }
    let bus = Bus::open(&dir).unwrap();
    let events = read_all(&bus.topic("t").unwrap());
    assert_eq!(events.len(), 2_100);
    let of_1: Vec<u64> =
        events.iter().filter_map(|e| e.1).filter(|ps| ps.producer == 1).map(|ps| ps.sequence).collect();
    assert_eq!(of_1, (0..1_100).collect::<Vec<_>>(), "producer 1: each sequence once, in order");
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}
