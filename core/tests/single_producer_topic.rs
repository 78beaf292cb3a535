//! A `Producers::Single` topic allows one publisher at a time, and closing it while the
//! publisher runs loses nothing that was acknowledged.

mod common;

use std::time::Duration;

use ringbus::{Bus, Error, Producers, Start, SubscribeOptions, TopicConfig};

fn topic() -> ringbus::Topic {
    Bus::new()
        .create_topic("t", TopicConfig::new().capacity(1 << 14).max_payload(64).max_key(0).producers(Producers::Single))
        .unwrap()
}

#[test]
fn one_publisher_at_a_time() {
    let t = topic();
    let mut first = t.publisher().unwrap();
    let err = t.publisher().unwrap_err();
    assert_eq!(err, Error::PublisherExists("t".into()));
    assert!(err.to_string().contains("one publisher at a time"), "{err}");
    first.publish(b"a").unwrap();
    drop(first);
    let mut second = t.publisher().expect("free again once the first is dropped");
    second.publish(b"b").unwrap();
    let mut sub = t.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
    assert_eq!(sub.try_poll().unwrap().unwrap().payload, b"a");
    assert_eq!(sub.try_poll().unwrap().unwrap().payload, b"b");
}

#[test]
fn close_during_publishing_loses_no_acknowledged_event() {
    for round in 0..50u64 {
        let t = topic();
        let p = t.publisher().unwrap();
        common::close_while_publishing(
            &format!("round {round}"),
            &t,
            p,
            Some(Duration::from_secs(10)),
            Duration::from_micros(200 + round * 37),
        );
    }
}
