//! Retention by bytes and by age deletes whole sealed segments, never the one being written or
//! one a reader is in; readers asking for deleted offsets get an error naming the earliest
//! offset kept.

use std::time::Duration;

use ringbus::{Bus, Durability, Error, Record, Start, SubscribeOptions, TopicConfig};

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ringbus-retention-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn config() -> TopicConfig {
    TopicConfig::new()
        .capacity(64 << 10)
        .max_payload(1024)
        .segment_bytes(128 << 10)
        .durability(Durability::Async { max_delay: Duration::from_millis(2) })
}

fn segment_files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("t/0"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".seg"))
        .collect();
    v.sort();
    v
}

fn publish(p: &mut ringbus::Publisher, from: u64, n: u64) {
    for i in from..from + n {
        p.publish(Record::new(&[(i % 251) as u8; 500]).timestamp(i)).unwrap();
    }
}

#[test]
fn size_retention_keeps_about_the_limit_and_reports_the_earliest() {
    let d = dir("bytes");
    let bus = Bus::open(&d).unwrap();
    let t = bus.create_topic("t", config().retention_bytes(300 << 10)).unwrap();
    let mut p = t.publisher().unwrap();
    publish(&mut p, 0, 6_000); // about 3 MB
    t.flush(None).unwrap();
    // Retention runs after each rotation; give the last one a moment.
    std::thread::sleep(Duration::from_millis(100));
    let log = t.stats().partitions[0].log.clone().unwrap();
    let held = log.written_offset - log.earliest_offset;
    assert!(log.earliest_offset > 0, "nothing was deleted: {log:?}");
    assert!(held <= (300 << 10) + (128 << 10), "holds {held} bytes: {log:?}");
    assert_eq!(segment_files(&d).len(), log.segments, "files and the list agree");
    // Reading from 0 is a clear error naming what is kept.
    match t.subscribe(SubscribeOptions::new().start(Start::Offset(0))) {
        Err(Error::OffsetTrimmed { earliest, .. }) => assert_eq!(earliest, log.earliest_offset),
        other => panic!("{other:?}"),
    }
    // Earliest starts at the oldest kept event and reads to the end.
    t.close();
    let mut sub = t.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
    let first = sub.poll(Some(Duration::from_secs(5))).unwrap().unwrap();
    assert_eq!(first.offset, log.earliest_offset);
    let mut last = first.timestamp;
    loop {
        match sub.poll(Some(Duration::from_secs(5))) {
            Ok(Some(e)) => {
                assert_eq!(e.timestamp, last + 1, "no gap");
                last = e.timestamp;
            }
            Err(Error::Closed) => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(last, 5_999);
    drop(sub);
    drop(bus);
    // Reopening keeps what retention kept.
    let bus = Bus::open(&d).unwrap();
    let log2 = bus.topic("t").unwrap().stats().partitions[0].log.clone().unwrap();
    assert_eq!(log2.earliest_offset, log.earliest_offset);
    drop(bus);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_reader_in_a_segment_keeps_it_and_age_retention_deletes_old_ones() {
    let d = dir("age");
    let bus = Bus::open(&d).unwrap();
    let t = bus.create_topic("t", config().retention_age(Duration::from_millis(300))).unwrap();
    let mut p = t.publisher().unwrap();
    publish(&mut p, 0, 1_500);
    t.flush(None).unwrap();
    // A reader on disk, in the first segment.
    let mut sub = t.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
    assert_eq!(sub.poll(Some(Duration::from_secs(1))).unwrap().unwrap().timestamp, 0);
    std::thread::sleep(Duration::from_millis(1_300));
    publish(&mut p, 1_500, 300); // rotates: retention runs
    std::thread::sleep(Duration::from_millis(100));
    let files = segment_files(&d);
    assert_eq!(files[0], "00000000000000000000.seg", "the segment being read is kept");
    // The reader still reads on, without a gap.
    for i in 1..100 {
        assert_eq!(sub.poll(Some(Duration::from_secs(1))).unwrap().unwrap().timestamp, i);
    }
    drop(sub);
    std::thread::sleep(Duration::from_millis(1_100));
    publish(&mut p, 1_800, 300);
    std::thread::sleep(Duration::from_millis(100));
    let log = t.stats().partitions[0].log.clone().unwrap();
    assert!(log.earliest_offset > 0, "old segments go once nobody reads them: {log:?}");
    assert_eq!(segment_files(&d).len(), log.segments);
    assert_eq!(log.retention_error, None);
    drop(bus);
    std::fs::remove_dir_all(&d).unwrap();
}
