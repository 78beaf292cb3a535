//! Block holds producers back; DropOldest is lapped and told how many it lost; Evict is
//! removed after holding producers back for too long.

use std::time::Duration;

use ringbus::{Bus, Error, SlowConsumerPolicy, Start, SubscribeOptions, TopicConfig, TryPublishError};

fn topic() -> ringbus::Topic {
    Bus::new().create_topic("t", TopicConfig::new().capacity(4096).max_payload(64).max_key(16)).unwrap()
}

#[test]
fn block_reader_makes_try_publish_hand_the_event_back() {
    let t = topic();
    let mut sub = t.subscribe(SubscribeOptions::new()).unwrap();
    let mut p = t.publisher().unwrap();
    let mut n = 0u64;
    loop {
        let bytes = n.to_le_bytes();
        match p.try_publish(&bytes) {
            Ok(_) => n += 1,
            Err(TryPublishError::Full(record)) => {
                assert_eq!(record.payload, bytes);
                break;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(matches!(p.publish_timeout(b"x", Duration::from_millis(20)), Err(Error::Timeout)));
    let before = t.stats();
    assert_eq!(before.readers[0].lag, n, "the blocked reader lags by every event published");
    assert_eq!(before.readers[0].lag_bytes, n * 32, "8-byte events take 32 bytes");
    for i in 0..n {
        assert_eq!(sub.try_poll().unwrap().unwrap().payload, i.to_le_bytes());
    }
    p.publish(b"fits again").unwrap();
    let stats = t.stats();
    assert_eq!((stats.readers[0].lag, stats.readers[0].delivered), (1, n));
    assert!(stats.full_waits >= 2);
    assert_eq!(stats.published, n + 1);
}

#[test]
fn drop_oldest_reader_is_lapped_and_counts_its_loss() {
    let t = topic();
    let mut slow = t.subscribe(SubscribeOptions::new().policy(SlowConsumerPolicy::DropOldest)).unwrap();
    let mut p = t.publisher().unwrap();
    let total = 1000u64;
    for i in 0..total {
        p.publish(&i.to_le_bytes()).unwrap(); // never blocks: nobody gates
    }
    let mut delivered = 0u64;
    let mut lost = 0u64;
    let mut last = None;
    loop {
        match slow.try_poll() {
            Ok(Some(e)) => {
                let i = u64::from_le_bytes(e.payload.try_into().unwrap());
                if let Some(prev) = last {
                    assert!(i > prev);
                }
                last = Some(i);
                delivered += 1;
            }
            Ok(None) => break,
            Err(Error::Lagged { lost: n, partition: 0 }) => lost += n,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(lost > 0);
    assert_eq!(delivered + lost, total, "every event is delivered or counted as lost");
    assert_eq!(last, Some(total - 1));
    let stats = t.stats();
    assert_eq!(stats.readers[0].dropped, lost);
}

#[test]
fn evict_reader_is_removed_after_its_window() {
    let t = topic();
    let mut stuck = t
        .subscribe(
            SubscribeOptions::new()
                .start(Start::Latest)
                .policy(SlowConsumerPolicy::Evict { after: Duration::from_millis(50) }),
        )
        .unwrap();
    let mut p = t.publisher().unwrap();
    // The ring fills, then publish waits until the reader is evicted and goes on.
    for i in 0..2000u64 {
        p.publish_timeout(&i.to_le_bytes(), Duration::from_secs(10)).unwrap();
    }
    let mut result = Ok(None);
    for _ in 0..1000 {
        result = stuck.try_poll().map(|e| e.map(|e| e.offset));
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(Error::Evicted));
    assert_eq!(t.stats().partitions[0].gates, 0);
}
