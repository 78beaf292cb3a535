//! Bad arguments give clear errors, never panics.

use ringbus::{Bus, Error, Record, Start, SubscribeOptions, TopicConfig};

#[test]
fn config_and_names() {
    let bus = Bus::new();
    let err = bus.create_topic("t", TopicConfig::new().capacity(3000)).unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { field: "capacity", .. }));
    assert!(err.to_string().contains("power of two"), "{err}");
    assert!(matches!(
        bus.create_topic("t", TopicConfig::new().partitions(0)),
        Err(Error::InvalidConfig { field: "partitions", .. })
    ));
    assert!(matches!(bus.create_topic("", TopicConfig::new()), Err(Error::InvalidName { .. })));
    assert!(matches!(bus.create_topic("../etc", TopicConfig::new()), Err(Error::InvalidName { .. })));
    let t = bus.create_topic("t", TopicConfig::new().capacity(1 << 16).max_payload(1000).max_key(10)).unwrap();
    assert_eq!(bus.create_topic("t", TopicConfig::new()).unwrap_err(), Error::TopicExists("t".into()));
    assert!(matches!(t.group("", Start::Latest), Err(Error::InvalidName { .. })));
    assert!(bus.topic("t").is_some() && bus.topic("nope").is_none());
}

#[test]
fn records_and_readers() {
    let bus = Bus::new();
    let t = bus
        .create_topic("t", TopicConfig::new().partitions(2).capacity(1 << 16).max_payload(1000).max_key(10))
        .unwrap();
    let mut p = t.publisher().unwrap();
    let big = vec![0u8; 1001];
    let err = p.publish(&big[..]).unwrap_err();
    assert_eq!(err, Error::PayloadTooLarge { len: 1001, max: 1000 });
    assert_eq!(err.to_string(), "payload of 1001 bytes exceeds the topic's maximum of 1000 bytes");
    assert!(matches!(p.publish(Record::new(b"x").key(&[0; 11])), Err(Error::KeyTooLarge { len: 11, max: 10 })));
    assert!(matches!(
        p.publish(Record::new(b"x").partition(2)),
        Err(Error::NoSuchPartition { partition: 2, partitions: 2 })
    ));
    assert!(matches!(p.claim(1001), Err(Error::PayloadTooLarge { .. })));
    assert!(matches!(p.publish_batch(&[Record::new(b"ok"), Record::new(&big)]), Err(Error::PayloadTooLarge { .. })));
    assert_eq!(t.stats().published, 0, "a batch with a bad record publishes nothing");
    p.publish(&[0u8; 1000][..]).unwrap();
    assert!(matches!(
        t.subscribe(SubscribeOptions::new().start(Start::Offset(0))),
        Err(Error::InvalidConfig { field: "start", .. })
    ));
    assert!(matches!(t.subscribe(SubscribeOptions::new().partitions(vec![5])), Err(Error::NoSuchPartition { .. })));
    assert!(matches!(t.subscribe(SubscribeOptions::new().partitions(vec![0, 0])), Err(Error::InvalidConfig { .. })));
    assert!(matches!(t.subscribe(SubscribeOptions::new().partitions(Vec::new())), Err(Error::InvalidConfig { .. })));
}
