//! `Start::Timestamp(t)`: the first event in log order whose timestamp is at or after `t`,
//! found through the sparse time index, which is only a hint: deleted or damaged index files
//! give the same answers (they are rebuilt).

use std::time::Duration;

use ringbus::{Bus, Durability, Error, Record, Start, SubscribeOptions, TopicConfig};

fn config() -> TopicConfig {
    TopicConfig::new()
        .capacity(64 << 10)
        .max_payload(1024)
        .segment_bytes(512 << 10)
        .durability(Durability::Async { max_delay: Duration::from_millis(2) })
}

/// Timestamps that mostly rise, with a dip every 1000 events (clocks are not monotonic).
fn ts(i: u64) -> u64 {
    1_000_000 + i * 1_000 - if i % 1_000 == 999 { 500_000 } else { 0 }
}

const N: u64 = 30_000;

fn first_at_or_after(t: u64) -> Option<u64> {
    (0..N).find(|&i| ts(i) >= t)
}

fn first_event(topic: &ringbus::Topic, t: u64) -> Option<u64> {
    let mut sub = topic.subscribe(SubscribeOptions::new().start(Start::Timestamp(t))).unwrap();
    match sub.poll(Some(Duration::from_secs(5))) {
        Ok(Some(e)) => {
            assert!(e.timestamp >= t);
            Some(u64::from_le_bytes(e.payload[..8].try_into().unwrap()))
        }
        Err(Error::Closed) => None,
        other => panic!("{other:?}"),
    }
}

fn probes() -> Vec<u64> {
    vec![
        0,
        1_000_000,
        1_000_001,
        5_555_555,
        ts(12_345),
        ts(12_345) + 1,
        ts(N - 1),
        ts(N - 1) + 1,
        20_000_000,
        29_999_999,
    ]
}

#[test]
fn seeks_find_the_first_event_at_or_after_and_survive_lost_indexes() {
    let dir = std::env::temp_dir().join(format!("ringbus-ts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        let bus = Bus::open(&dir).unwrap();
        let t = bus.create_topic("t", config()).unwrap();
        let mut p = t.publisher().unwrap();
        for i in 0..N {
            let mut payload = i.to_le_bytes().to_vec();
            payload.extend_from_slice(&[7u8; 100]);
            p.publish(Record::new(&payload).timestamp(ts(i))).unwrap();
        }
        // While the bus runs (reading the ring and the index being written).
        t.flush(None).unwrap();
        for probe in probes() {
            assert_eq!(first_event(&t, probe).map(|i| ts(i) >= probe), first_at_or_after(probe).map(|_| true));
        }
    }
    let index_files = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir.join("t/0"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "tix"))
            .collect()
    };
    assert!(index_files(&dir).len() >= 3, "several segments, each with an index");
    for damage in ["none", "flipped", "deleted", "garbage"] {
        match damage {
            "flipped" => index_files(&dir).iter().for_each(|p| {
                // A wrong max_ts that still looks like an index entry: the CRC catches it.
                let mut b = std::fs::read(p).unwrap();
                b[16] ^= 0xff;
                std::fs::write(p, &b).unwrap();
            }),
            "deleted" => index_files(&dir).iter().for_each(|p| std::fs::remove_file(p).unwrap()),
            "garbage" => index_files(&dir)
                .iter()
                .for_each(|p| std::fs::write(p, b"not an index at all, 37 bytes long..").unwrap()),
            _ => {}
        }
        let bus = Bus::open(&dir).unwrap();
        let t = bus.topic("t").unwrap();
        t.close();
        for probe in probes() {
            assert_eq!(first_event(&t, probe), first_at_or_after(probe), "probe {probe}, index {damage}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn memory_topics_seek_by_scanning_and_groups_refuse() {
    let bus = Bus::new();
    let t = bus.create_topic("m", TopicConfig::new().capacity(1 << 20).max_payload(1024)).unwrap();
    let mut p = t.publisher().unwrap();
    for i in 0..5_000u64 {
        p.publish(Record::new(&i.to_le_bytes()).timestamp(ts(i))).unwrap();
    }
    t.close();
    for probe in probes() {
        let expect = first_at_or_after(probe).filter(|&i| i < 5_000);
        assert_eq!(first_event(&t, probe), expect, "probe {probe}");
    }
    assert!(matches!(t.group("g", Start::Timestamp(0)), Err(Error::InvalidConfig { field: "start", .. })));
}
