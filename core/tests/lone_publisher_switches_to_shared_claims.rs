//! On a default (`Producers::Multi`) topic, a lone publisher claims with plain stores; a
//! second publisher arriving while it publishes switches both to shared claims, and dropping
//! back to one switches back. Across the switches no event is lost, duplicated or reordered
//! within its publisher, and close still stops every publisher cleanly.

mod common;

use std::thread;
use std::time::Duration;

use ringbus::{Bus, Record, Start, SubscribeOptions, Topic, TopicConfig};

fn topic(capacity: usize) -> Topic {
    Bus::new().create_topic("t", TopicConfig::new().capacity(capacity).max_payload(16).max_key(0)).unwrap()
}

fn payload(publisher: u64, seq: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&publisher.to_le_bytes());
    b[8..].copy_from_slice(&seq.to_le_bytes());
    b
}

/// Reads until `total` events arrived; checks each publisher's sequence numbers run 0, 1, 2...
fn read_all(topic: &Topic, total: u64, publishers: usize) -> Vec<u64> {
    let mut sub = topic.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
    let mut next = vec![0u64; publishers];
    let mut got = 0;
    while got < total {
        let e = sub.poll(Some(Duration::from_secs(20))).unwrap().expect("an event within 20 s");
        let id = u64::from_le_bytes(e.payload[..8].try_into().unwrap()) as usize;
        let seq = u64::from_le_bytes(e.payload[8..].try_into().unwrap());
        assert_eq!(seq, next[id], "publisher {id}: event {seq} out of order, expected {}", next[id]);
        next[id] += 1;
        got += 1;
    }
    next
}

#[test]
fn publishers_coming_and_going_lose_no_event() {
    // A small ring (the reader gates it) so that claims also wait for space and wrap.
    let t = topic(1 << 12);
    let per = 20_000u64;
    let rounds = 6u64;
    let reader = {
        let t = t.clone();
        // The first publisher publishes `rounds * per` events; each round's visitor `per`.
        thread::spawn(move || read_all(&t, rounds * per * 2, rounds as usize + 1))
    };
    thread::sleep(Duration::from_millis(20)); // let the reader join at the start
    let first = {
        let t = t.clone();
        thread::spawn(move || {
            let mut p = t.publisher().unwrap();
            for seq in 0..rounds * per {
                p.publish(&payload(0, seq)).unwrap();
            }
        })
    };
    // Visitors come and go while the first publishes: each arrival takes exclusivity away
    // mid-stream, each departure gives it back. Half publish one by one, half in batches.
    for v in 1..=rounds {
        let mut p = t.publisher().unwrap();
        let mut seq = 0;
        while seq < per {
            if v % 2 == 0 {
                p.publish(&payload(v, seq)).unwrap();
                seq += 1;
            } else {
                let bufs: Vec<[u8; 16]> = (seq..(seq + 8).min(per)).map(|s| payload(v, s)).collect();
                let records: Vec<Record<'_>> = bufs.iter().map(|b| Record::new(b)).collect();
                p.publish_batch(&records).unwrap();
                seq += records.len() as u64;
            }
        }
        drop(p);
    }
    first.join().unwrap();
    let counts = reader.join().unwrap();
    assert_eq!(counts[0], rounds * per);
    assert!(counts[1..].iter().all(|&c| c == per), "{counts:?}");
    let stats = t.stats();
    assert_eq!(stats.partitions[0].published, rounds * per * 2);
}

#[test]
fn close_stops_a_lone_publisher_and_a_shared_one() {
    for shared in [false, true] {
        for round in 0..20u64 {
            let t = topic(1 << 14);
            let p = t.publisher().unwrap();
            // A second publisher that never publishes still makes the claims shared.
            let other = shared.then(|| t.publisher().unwrap());
            let label = format!("round {round}, {}", if shared { "shared claims" } else { "lone publisher" });
            common::close_while_publishing(&label, &t, p, None, Duration::from_micros(100 + round * 53));
            drop(other);
        }
    }
}
