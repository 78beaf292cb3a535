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
    assert!(matches!(p.publish_timeout(b"x", Duration::from_millis(20)), Err(Error::Full)));
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
fn held_batch_keeps_producers_back_until_the_next_call() {
    let t = topic();
    let mut sub = t.subscribe(SubscribeOptions::new()).unwrap();
    let mut copying = t.subscribe(SubscribeOptions::new().policy(SlowConsumerPolicy::DropOldest)).unwrap();
    let mut p = t.publisher().unwrap();
    let mut n = 0u64;
    while p.try_publish(&n.to_le_bytes()).is_ok() {
        n += 1;
    }
    // A DropOldest reader copies: its events are valid for the call only.
    let mut flags = Vec::new();
    copying.poll_batch_held(4, Some(Duration::ZERO), |_, in_place| flags.push(in_place)).unwrap();
    assert_eq!(flags, [false; 4]);
    // Read everything but hold it: the frames stay where they are, so the ring stays full.
    let mut views: Vec<(*const u8, usize, bool)> = Vec::new();
    let got = sub
        .poll_batch_held(usize::MAX, Some(Duration::ZERO), |e, in_place| {
            views.push((e.payload.as_ptr(), e.payload.len(), in_place))
        })
        .unwrap();
    assert_eq!(got as u64, n);
    assert!(views.iter().all(|v| v.2), "a Block reader's events are read in place");
    assert!(matches!(p.try_publish(b"no room"), Err(TryPublishError::Full(_))), "held frames are not released");
    for (i, &(ptr, len, _)) in views.iter().enumerate() {
        // SAFETY: in-place events stay valid until the next &mut call on `sub`, which has not
        // happened yet; this is the guarantee under test.
        let payload = unsafe { std::slice::from_raw_parts(ptr, len) };
        assert_eq!(payload, (i as u64).to_le_bytes());
    }
    // The next call releases them.
    assert_eq!(sub.poll_batch_held(1, Some(Duration::ZERO), |_, _| {}).unwrap(), 0);
    p.try_publish(b"fits again").unwrap();
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
