//! A `Producers::Single` topic allows one publisher at a time, and closing it while the
//! publisher runs loses nothing that was acknowledged.

use std::thread;
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
        let mut sub = t.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
        let mut p = t.publisher().unwrap();
        let producer = thread::spawn(move || {
            let mut acked = 0u64;
            loop {
                match p.publish_timeout(&acked.to_le_bytes(), Duration::from_secs(10)) {
                    Ok(_) => acked += 1,
                    Err(Error::Closed) => return acked,
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let closer = {
            let t = t.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_micros(200 + round * 37));
                t.close();
            })
        };
        let mut got = 0u64;
        loop {
            match sub.poll(Some(Duration::from_secs(10))) {
                Ok(Some(e)) => {
                    assert_eq!(e.payload, got.to_le_bytes());
                    got += 1;
                }
                Ok(None) => panic!("stalled"),
                Err(Error::Closed) => break,
                Err(e) => panic!("{e}"),
            }
        }
        closer.join().unwrap();
        let acked = producer.join().unwrap();
        assert_eq!(got, acked, "round {round}: the reader got exactly the acknowledged events");
    }
}
