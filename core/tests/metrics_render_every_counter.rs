//! `Bus::metrics` and `Topic::metrics`: OpenMetrics text with the documented families and
//! labels, whose values are the counters of what happened. (The Python tests parse the same
//! text with Prometheus's own parser.)

mod common;

use std::time::Duration;

use ringbus::{Bus, Durability, Record, SlowConsumerPolicy, Start, SubscribeOptions, TopicConfig};

/// The value of the sample written exactly as `series` (name and labels), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn every_family_counts_what_happened() {
    let dir = common::temp_dir("metrics");
    let bus = Bus::open(&dir).unwrap();
    let config = TopicConfig::new().partitions(2).capacity(1 << 16).max_payload(64).durability(Durability::Sync);
    let topic = bus.create_topic("orders", config).unwrap();
    let memory = bus.create_topic("alerts", TopicConfig::new().capacity(4096).max_payload(64).max_key(0)).unwrap();
    let mut sub = topic.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
    let mut lossy = memory.subscribe(SubscribeOptions::new().policy(SlowConsumerPolicy::DropOldest)).unwrap();
    let group = topic.group("billing", Start::Earliest).unwrap();
    let _members = (group.join(), group.join());
    let mut p = topic.publisher().unwrap();
    for i in 0..20u64 {
        p.publish(Record::new(&i.to_le_bytes()).key(&i.to_le_bytes())).unwrap();
    }
    p.publish(Record::new(b"again").producer(9, 1)).unwrap();
    assert!(p.publish(Record::new(b"again").producer(9, 1)).unwrap().duplicate);
    assert_eq!(sub.poll_batch(5, Some(Duration::from_secs(1)), |_| {}).unwrap(), 5);
    // Lap the lossy reader of the small memory ring.
    let mut m = memory.publisher().unwrap();
    for _ in 0..500 {
        m.publish(&[0u8; 32][..]).unwrap();
    }
    let _ = lossy.poll(Some(Duration::ZERO));

    let text = bus.metrics();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert_eq!(value(&text, "ringbus_topics"), Some(2.0));
    let per_partition = |name: &str| -> f64 {
        (0..2).map(|p| value(&text, &format!("{name}{{topic=\"orders\",partition=\"{p}\"}}")).unwrap()).sum()
    };
    assert_eq!(per_partition("ringbus_published_total"), 21.0);
    assert_eq!(per_partition("ringbus_duplicates_total"), 1.0);
    assert_eq!(per_partition("ringbus_poisoned"), 0.0);
    assert_eq!(per_partition("ringbus_persister_backlog_bytes"), 0.0, "Sync: everything acknowledged was written");
    assert_eq!(per_partition("ringbus_durable_offset"), per_partition("ringbus_next_offset"));
    assert_eq!(per_partition("ringbus_disk_bytes"), per_partition("ringbus_next_offset"));
    assert_eq!(per_partition("ringbus_segments"), 2.0);
    let fsyncs = per_partition("ringbus_fsyncs_total");
    assert!(fsyncs >= 2.0);
    assert_eq!(per_partition("ringbus_fsync_seconds_count"), fsyncs, "one latency sample per fsync");
    assert!(text.contains("# TYPE ringbus_fsync_seconds histogram"));
    assert!(text.contains("ringbus_fsync_seconds_bucket{le=\"+Inf\",topic=\"orders\",partition=\"0\"}"));
    assert_eq!(per_partition("ringbus_gates"), 2.0 * 3.0, "the subscription, the group and the persister");
    let reader = "{topic=\"orders\",reader=\"subscription #1\"}";
    assert_eq!(value(&text, &format!("ringbus_reader_delivered_total{reader}")), Some(5.0));
    assert_eq!(value(&text, &format!("ringbus_reader_lag_events{reader}")), Some(16.0));
    assert!(value(&text, &format!("ringbus_reader_lag_bytes{reader}")).unwrap() > 0.0);
    let group = "{topic=\"orders\",group=\"billing\"}";
    assert_eq!(value(&text, &format!("ringbus_reader_lag_events{group}")), Some(21.0));
    assert_eq!(value(&text, &format!("ringbus_group_members{group}")), Some(2.0));
    let lossy_dropped = value(&text, "ringbus_reader_dropped_total{topic=\"alerts\",reader=\"subscription #1\"}");
    assert!(lossy_dropped.unwrap() > 0.0, "the lapped reader's loss: {text}");
    assert_eq!(value(&text, "ringbus_full_waits_total{topic=\"alerts\",partition=\"0\"}"), Some(0.0));
    assert!(
        value(&text, "ringbus_fsyncs_total{topic=\"alerts\",partition=\"0\"}").is_none(),
        "memory topics have no files"
    );
    assert_eq!(value(&text, "ringbus_late_wakeups_total{topic=\"orders\"}"), Some(0.0));

    // One topic alone: the same samples, without the bus gauge.
    let one = topic.metrics();
    assert!(!one.contains("ringbus_topics") && !one.contains("alerts"));
    assert_eq!(
        value(&one, "ringbus_published_total{topic=\"orders\",partition=\"0\"}"),
        value(&text, "ringbus_published_total{topic=\"orders\",partition=\"0\"}")
    );
    // Every sample line is `name{labels} value` or `name value`, every family has HELP and TYPE.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, v) = line.rsplit_once(' ').unwrap();
        assert!(v.parse::<f64>().is_ok() && series.starts_with("ringbus_"), "{line}");
    }
    assert_eq!(text.matches("# HELP ").count(), text.matches("# TYPE ").count());
    drop(bus);
    std::fs::remove_dir_all(&dir).unwrap();
}
